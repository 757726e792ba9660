#!/usr/bin/env bash
# same-sim-results.sh OLD NEW: exits 0 if two sim results directories
# (runbench -out, or runbench merge -out) hold the same figures, apart
# from provenance and wall-clock fields (which measure the machine, not
# the simulation). Used to show that a refactor changed no simulated
# figure, and that shards merged equal the whole run:
#   go run ./cmd/runbench -out /tmp/before   (old commit)
#   go run ./cmd/runbench -out /tmp/after    (new commit)
#   scripts/same-sim-results.sh /tmp/before /tmp/after
# What is left out, exactly:
#   runs.json    the provenance object; every key containing "wall" or
#                "cpu_seconds" (wall_seconds, io_wall_seconds,
#                check_wall_seconds, cpu_user_seconds, cpu_sys_seconds);
#                each verdict's "seconds" (the checker's wall time)
#   runs.csv     nothing
#   bench.txt    the header lines from the provenance (goos, goarch, cpu,
#                pkg, "# commit")
#   summary.txt  its first line (the provenance); each verdict's time
#                ("2.31s") and so the column padding, compared with runs
#                of spaces as one
set -euo pipefail
old=$1 new=$2
strip='del(.provenance) | walk(if type == "object" then with_entries(select(.key | test("wall|cpu_seconds") | not)) else . end) | if .verdicts then .verdicts |= map(del(.seconds)) else . end'
diff <(jq -S "$strip" "$old/runs.json") <(jq -S "$strip" "$new/runs.json")
diff "$old/runs.csv" "$new/runs.csv"
header='^(goos|goarch|cpu|pkg): |^# commit '
diff <(grep -Ev "$header" "$old/bench.txt") <(grep -Ev "$header" "$new/bench.txt")
summary() { tail -n +2 "$1" | sed -E 's/[0-9]+\.[0-9]{2}s\b/Ts/g; s/ +/ /g'; }
diff <(summary "$old/summary.txt") <(summary "$new/summary.txt")
echo "same simulated figures: $old $new"
