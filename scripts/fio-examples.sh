#!/usr/bin/env bash
# fio-examples.sh DIR: counts the job files (*.fio) in DIR that
# `runbench -job FILE -list` accepts, printing one line per file (ok, or
# the first line of the refusal) and then "N of M parse". For fio's own
# examples (github.com/axboe/fio, examples/):
#   git clone --depth 1 https://github.com/axboe/fio /tmp/fio
#   scripts/fio-examples.sh /tmp/fio/examples
# Run it from the repository's root, with no FIO_* or other variables
# the examples name set unless you mean them to be.
set -euo pipefail
dir=${1:?usage: scripts/fio-examples.sh DIR}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/runbench" ./cmd/runbench
ok=0 all=0
for f in "$dir"/*.fio; do
	all=$((all + 1))
	if out=$("$bin/runbench" -job "$f" -list 2>&1 >/dev/null); then
		ok=$((ok + 1))
		echo "ok      $(basename "$f")"
	else
		echo "refused $(basename "$f"): $(printf '%s\n' "$out" | head -n 1 | sed "s|^runbench: -job: $dir/||")"
	fi
done
echo "$ok of $all parse"
