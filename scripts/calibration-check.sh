#!/usr/bin/env bash
# calibration-check.sh DIR OUT [ROUNDS] [REPEAT]: how well a sim device
# calibrated on the disk holding DIR predicts the file backend there.
# Each round: runbench calibrate on DIR (OUT/rN/preset.json), the file
# backend (OUT/rN/file: first-touch, first-touch-4k and rewrite, queue
# depths 1 and 32, every policy, REPEAT repetitions, default 5), then
# the sim on that round's preset (OUT/rN/sim, 3 repetitions). It prints
# per round and cell the median ops/s of each and the sim's error, then
# per cell the median error over the rounds, the number of cells within
# 30%, and whether both backends rank the policies alike (by median, a
# tie within 5% on the sim counting as either order).
# Run it from the repository's root on a quiet machine (the file
# figures move with whatever else runs). OUT must not exist yet.
#
# SIM_ONLY=1 scripts/calibration-check.sh - OUT [ROUNDS] re-runs only the
# sim side on the presets an earlier check left in OUT (into OUT/rN/sim,
# replacing it) and compares again with its file figures: a change to
# the sim's model is judged against the same measurements.
set -euo pipefail
usage="usage: scripts/calibration-check.sh DIR OUT [ROUNDS] [REPEAT], or SIM_ONLY=1 scripts/calibration-check.sh - OUT [ROUNDS]"
dir=${1:?$usage}
out=${2:?$usage}
rounds=${3:-3}
repeat=${4:-5}
sim_only=${SIM_ONLY:-0}
if [ "$sim_only" = 1 ]; then
	for r in $(seq 1 "$rounds"); do
		if [ ! -f "$out/r$r/preset.json" ] || [ ! -f "$out/r$r/file/runs.csv" ]; then
			echo "calibration-check: $out/r$r has no preset.json or file/runs.csv from an earlier check" >&2
			exit 2
		fi
	done
elif [ -e "$out" ]; then
	echo "calibration-check: $out exists; choose a new directory" >&2
	exit 2
fi
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/runbench" ./cmd/runbench
matrix=(-workloads first-touch,first-touch-4k,rewrite -qd 1,32 -policies all -baselines none -verdicts=false)
for r in $(seq 1 "$rounds"); do
	d="$out/r$r"
	mkdir -p "$d"
	if [ "$sim_only" = 1 ]; then
		# Only what an earlier sim run of this script wrote goes.
		if [ -f "$d/sim/runs.json" ]; then
			rm -r "$d/sim"
		fi
	else
		"$bin/runbench" calibrate -dir "$dir" -direct -out "$d/preset.json" >"$d/calibrate.txt"
		"$bin/runbench" -backend file -direct -dir "$dir" "${matrix[@]}" -repeat "$repeat" -linearizability none -out "$d/file" >/dev/null
	fi
	"$bin/runbench" -backend sim -device "$d/preset.json" "${matrix[@]}" -repeat 3 -linearizability none -out "$d/sim" >/dev/null
done
# One line per run of every round: round backend workload qd policy ops/s.
for r in $(seq 1 "$rounds"); do
	for b in file sim; do
		awk -F, -v r="$r" -v b="$b" 'NR > 1 && $24 == "" { print r, b, $2, $3, $1, $10 }' "$out/r$r/$b/runs.csv"
	done
done | sort -k1,1n -k3,3 -k4,4n -k5,5 -k2,2 | awk '
function median(s,   n, a, i, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ key = $1 SUBSEP $3 SUBSEP $4 SUBSEP $5; runs[key, $2] = runs[key, $2] " " $6; keys[key] = 1
  cell[$3 SUBSEP $4 SUBSEP $5] = 1
  if (!(key in seen)) { seen[key] = 1; group[$1 SUBSEP $3 SUBSEP $4] = group[$1 SUBSEP $3 SUBSEP $4] " " $5 } }
END {
	printf "%-5s %-15s %3s %-11s %10s %10s %7s\n", "round", "workload", "qd", "policy", "file", "sim", "error"
	nk = 0
	for (k in keys) sorted[++nk] = k
	for (i = 2; i <= nk; i++) { t = sorted[i]; for (j = i - 1; j >= 1 && sorted[j] > t; j--) sorted[j + 1] = sorted[j]; sorted[j + 1] = t }
	for (i = 1; i <= nk; i++) {
		k = sorted[i]; split(k, f, SUBSEP)
		fm = median(runs[k, "file"]); sm = median(runs[k, "sim"])
		med[k, "file"] = fm; med[k, "sim"] = sm
		e = fm > 0 ? sm / fm - 1 : 0
		errs[f[2] SUBSEP f[3] SUBSEP f[4]] = errs[f[2] SUBSEP f[3] SUBSEP f[4]] " " e
		printf "%-5s %-15s %3s %-11s %10.0f %10.0f %+6.0f%%\n", f[1], f[2], f[3], f[4], fm, sm, 100 * e
	}
	print ""
	printf "%-15s %3s %-11s %s\n", "workload", "qd", "policy", "median error over rounds"
	within = 0; cells = 0
	nc = 0
	for (c in cell) csorted[++nc] = c
	for (i = 2; i <= nc; i++) { t = csorted[i]; for (j = i - 1; j >= 1 && csorted[j] > t; j--) csorted[j + 1] = csorted[j]; csorted[j + 1] = t }
	for (i = 1; i <= nc; i++) {
		c = csorted[i]; split(c, f, SUBSEP)
		m = median(errs[c]); cells++
		if (m <= 0.30 && m >= -0.30) within++
		printf "%-15s %3s %-11s %+6.0f%%%s\n", f[1], f[2], f[3], 100 * m, (m > 0.30 || m < -0.30) ? "  MISS" : ""
	}
	printf "\n%d of %d cells within 30%% (median over rounds)\n", within, cells
	# Ranking: a pair of policies disagrees when the file orders them one
	# way and the sim the other by more than 5%.
	agree = 0; total = 0
	for (g in group) {
		split(g, f, SUBSEP); n = split(group[g], p, " ")
		ok = 1
		for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) {
			ka = f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP p[a]; kb = f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP p[b]
			if (med[ka, "sim"] > 1.05 * med[kb, "sim"] && med[ka, "file"] < med[kb, "file"]) ok = 0
			if (med[kb, "sim"] > 1.05 * med[ka, "sim"] && med[kb, "file"] < med[ka, "file"]) ok = 0
		}
		total++; agree += ok
	}
	printf "%d of %d (round, workload, qd) groups ranked alike\n", agree, total
}'
