#!/usr/bin/env bash
# compare-nbd.sh: the same fio job through our NBD export (qedimg serve,
# each policy) and through QEMU's own drivers (qemu-nbd -f qed, qemu-nbd
# -f qcow2), on the same file system, interleaved, several repetitions.
#
#   scripts/compare-nbd.sh [DIR] [COUNT] [REPEAT]
#
# The job: 4 KiB writes at queue depth 32 through fio's nbd engine over a
# Unix socket, each to a fresh 64 KiB cluster of a fresh image, in a random
# order (a fio iolog replayed: a shuffled list of the COUNT cluster starts,
# the same list for every run), then one flush, so metadata a server holds
# back is paid for inside the measured time, then 64 reads of one block:
# fio stops replaying a log without waiting for the I/Os still in flight,
# and those are then reads, not the writes measured. Both sides
# use O_DIRECT (qemu-nbd --cache=none, qedimg serve -direct) and the same
# aio mode (AIO=io_uring by default, or AIO=threads).
#
# DIR (default /var/tmp, a disk-backed file system) is where the images
# go, in a new directory the script makes there and removes at exit; no
# file already in DIR is touched. COUNT (default 16384) writes per run,
# REPEAT (default 3) rounds, each running every target once, in a rotated
# order. POLICIES (default "serial freeze-any per-table overlap", the safe
# ones) are our targets. OUT=FILE also writes every run and the summary as
# JSON. Prints one line per run, then the median IOPS per target, the
# ratios of our best policy to each QEMU driver, and each server's CPU time
# per request (utime+stime from /proc over the run, over COUNT+1
# requests). Needs fio (with the nbd engine), qemu-img, qemu-nbd and go.
set -euo pipefail
dir=$(mktemp -d "${1:-/var/tmp}/qednbd.XXXXXX")
count=${2:-16384}
repeat=${3:-3}
aio=${AIO:-io_uring}
policies=${POLICIES:-serial freeze-any per-table overlap}
seed=${SEED:-1}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$(dirname "$0")/.."
for tool in fio qemu-img qemu-nbd go; do
	command -v "$tool" >/dev/null || { echo "compare-nbd: $tool not installed (apt-get install fio qemu-utils)" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "compare-nbd: this fio has no nbd engine" >&2; exit 1; }
go build -o "$dir/qedimg" ./cmd/qedimg
size=$(( count * 65536 ))
tck=$(getconf CLK_TCK)

# The iolog: the cluster starts, shuffled with a fixed seed.
awk -v n="$count" -v seed="$seed" 'BEGIN {
	srand(seed)
	for (i = 0; i < n; i++) o[i] = i
	for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = o[i]; o[i] = o[j]; o[j] = t }
	print "fio version 2 iolog"; print "nbd add"; print "nbd open"
	for (i = 0; i < n; i++) printf "nbd write %d 4096\n", o[i] * 65536
	print "nbd sync 0 0"
	for (i = 0; i < 64; i++) print "nbd read 0 4096"
}' > "$dir/first-touch.log"

# cpu_seconds PID: the process's user+system time so far.
cpu_seconds() { awk -v t="$tck" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }

# run TARGET: one run on a fresh image; prints "TARGET IOPS CPU_US_PER_REQUEST".
run() {
	local target=$1 sock="$dir/nbd.sock" img pid
	rm -f "$sock" "$dir"/image.*
	case $target in
	qemu-qed | qemu-qcow2)
		local fmt=${target#qemu-}
		img="$dir/image.$fmt"
		qemu-img create -q -f "$fmt" "$img" "$size"
		qemu-nbd -f "$fmt" --cache=none --aio="$aio" -t -k "$sock" "$img" &
		;;
	*)
		img="$dir/image.qed"
		"$dir/qedimg" create -q "$img" "$size"
		"$dir/qedimg" serve -policy "$target" -direct -aio "$aio" -socket "$sock" "$img" > "$dir/serve.out" &
		;;
	esac
	pid=$!
	pids+=("$pid")
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	local before out iops after
	before=$(cpu_seconds "$pid")
	out=$(fio --name=first-touch --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --read_iolog="$dir/first-touch.log" \
		--iodepth=32 --output-format=terse --terse-version=3 2>/dev/null)
	after=$(cpu_seconds "$pid")
	iops=$(awk -F';' '{ print $49 }' <<<"$out")
	kill -TERM "$pid"
	wait "$pid" || true
	awk -v t="$target" -v i="$iops" -v b="$before" -v a="$after" -v n="$count" 'BEGIN { printf "%s %d %.2f\n", t, i, (a - b) * 1e6 / (n + 1) }'
}

echo "# $(df -T "$dir" | awk 'NR==2 {print $2}') at $dir; $count 4 KiB first-touch writes per run, random cluster order, qd 32, unix socket, O_DIRECT, aio=$aio; $(nproc) CPUs"
echo "# $(fio --version), $(qemu-nbd --version | head -1)"
targets=($policies qemu-qed qemu-qcow2)
: > "$dir/runs.txt"
for r in $(seq "$repeat"); do
	n=${#targets[@]}
	for k in $(seq 0 $((n - 1))); do
		t=${targets[$(( (k + r - 1) % n ))]}
		line=$(run "$t")
		echo "round $r: $line"
		echo "$r $line" >> "$dir/runs.txt"
	done
done
awk -v policies="$policies" -v out="${OUT:-}" -v count="$count" -v aio="$aio" '
function median(list,    a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ iops[$2] = iops[$2] " " $3; cpu[$2] = cpu[$2] " " $4; runs[++nr] = $0; round[$1 " " $2] = $3; rounds = $1 }
END {
	np = split(policies, pol, " ")
	printf "\n%-12s %10s %14s\n", "target", "IOPS", "CPU us/req"
	best = ""; bi = 0
	for (i = 1; i <= np; i++) {
		m = median(iops[pol[i]]); printf "%-12s %10.0f %14.1f\n", pol[i], m, median(cpu[pol[i]])
		if (m > bi) { bi = m; best = pol[i] }
	}
	q = median(iops["qemu-qed"]); c = median(iops["qemu-qcow2"])
	printf "%-12s %10.0f %14.1f\n", "qemu-qed", q, median(cpu["qemu-qed"])
	printf "%-12s %10.0f %14.1f\n", "qemu-qcow2", c, median(cpu["qemu-qcow2"])
	printf "\nbest policy %s: %.2fx qemu-nbd -f qed, %.2fx qemu-nbd -f qcow2 (median IOPS)\n", best, bi / q, bi / c
	rq = rc = ""
	for (r = 1; r <= rounds; r++) {
		x = round[r " " best] / round[r " qemu-qed"]; y = round[r " " best] / round[r " qemu-qcow2"]
		printf "round %d: %s %.2fx qemu-nbd -f qed, %.2fx qemu-nbd -f qcow2\n", r, best, x, y
		rq = rq " " x; rc = rc " " y
	}
	printf "median of the rounds'"'"' ratios: %.2fx qed, %.2fx qcow2\n", median(rq), median(rc)
	if (out != "") {
		printf "{\n  \"count\": %d, \"aio\": \"%s\", \"best_policy\": \"%s\",\n  \"ratio_qed\": %.3f, \"ratio_qcow2\": %.3f, \"round_ratio_qed\": %.3f, \"round_ratio_qcow2\": %.3f,\n  \"runs\": [\n", count, aio, best, bi / q, bi / c, median(rq), median(rc) > out
		for (i = 1; i <= nr; i++) {
			split(runs[i], f, " ")
			printf "    {\"round\": %d, \"target\": \"%s\", \"iops\": %d, \"cpu_us_per_request\": %s}%s\n", f[1], f[2], f[3], f[4], i < nr ? "," : "" > out
		}
		printf "  ]\n}\n" > out
	}
}' "$dir/runs.txt"
