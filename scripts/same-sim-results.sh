#!/usr/bin/env bash
# same-sim-results.sh OLD NEW: exits 0 if two sim results directories
# (runbench -out) hold the same figures, apart from provenance and
# wall-clock fields (which measure the machine, not the simulation).
# Used to show that a refactor changed no simulated figure:
#   go run ./cmd/runbench -out /tmp/before   (old commit)
#   go run ./cmd/runbench -out /tmp/after    (new commit)
#   scripts/same-sim-results.sh /tmp/before /tmp/after
set -euo pipefail
old=$1 new=$2
strip='del(.provenance) | walk(if type == "object" then with_entries(select(.key | test("wall|cpu_seconds") | not)) else . end)'
diff <(jq -S "$strip" "$old/runs.json") <(jq -S "$strip" "$new/runs.json")
diff "$old/runs.csv" "$new/runs.csv"
echo "same simulated figures: $old $new"
