#!/usr/bin/env bash
# compare-nbd.sh: runbench nbd with this script's arguments: the same fio
# job through our NBD export (each policy) and through QEMU's own drivers
# (qemu-nbd -f qed, qemu-nbd -f qcow2), side by side, on the same file
# system, interleaved, several rounds. runbench nbd -h says more.
#
#   scripts/compare-nbd.sh [DIR] [COUNT] [REPEAT]
#
# DIR (default /var/tmp, a disk-backed file system) is where the images
# go, in a new directory made there and removed at exit; no file already
# in DIR is touched. COUNT (default 16384) 4 KiB writes per run, REPEAT
# (default 3) rounds. AIO (default io_uring, or threads) is both servers'
# aio mode; POLICIES (default the safe ones) our targets, separated by
# spaces or commas; SEED (default 1) the write order's seed; OUT (default
# results/latest-nbd) the results directory: runs.json holds every run,
# report.md the comparison. Needs fio (with the nbd engine), qemu-img,
# qemu-nbd and go.
set -euo pipefail
cd "$(dirname "$0")/.."
args=(nbd -dir "${1:-/var/tmp}" -count "${2:-16384}" -repeat "${3:-3}" -aio "${AIO:-io_uring}" -seed "${SEED:-1}"
	-baselines qemu-nbd-qed,qemu-nbd-qcow2)
if [ -n "${POLICIES:-}" ]; then
	args+=(-policies "$(echo "$POLICIES" | tr -s ' ,' ',')")
fi
if [ -n "${OUT:-}" ]; then
	case $OUT in
	*.json)
		echo "compare-nbd: OUT is a results directory now (its runs.json holds every run), not a JSON file: $OUT" >&2
		exit 2
		;;
	esac
	args+=(-out "$OUT")
fi
exec go run ./cmd/runbench "${args[@]}"
