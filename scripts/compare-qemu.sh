#!/usr/bin/env bash
# compare-qemu.sh: QEMU's own QED driver against ours on the same workload
# and file system: 4 KiB O_DIRECT writes, one per 64 KiB cluster, to a
# fresh image, at queue depth 1 and 32, with each way of submitting I/O
# (QEMU's aio=threads and aio=io_uring; our FileOptions.AIO).
#
#   scripts/compare-qemu.sh [DIR] [COUNT]
#
# DIR (default: /var/tmp, a disk-backed file system) is where the images
# go, in a new directory the script makes there and removes at exit: no
# file already in DIR is touched. COUNT (default 20000) is the number of
# writes per run. Needs qemu-img (Debian package qemu-utils) and go.
set -euo pipefail
dir=$(mktemp -d "${1:-/var/tmp}/qedcmp.XXXXXX")
trap 'rm -rf "$dir"' EXIT
count=${2:-20000}
cd "$(dirname "$0")/.."
command -v qemu-img >/dev/null || { echo "compare-qemu: qemu-img not installed (apt-get install qemu-utils)" >&2; exit 1; }
size=$(( (count + 16) * 65536 ))
echo "# file system: $(df -T "$dir" | awk 'NR==2 {print $2}') at $dir; $count writes per run"
for aio in threads io_uring; do
	for qd in 1 32; do
		rm -f "$dir/qemu.qed"
		qemu-img create -q -f qed "$dir/qemu.qed" "$size"
		if ! out=$(qemu-img bench -f qed -t none -i "$aio" -w -c "$count" -d "$qd" -s 4096 -S 65536 "$dir/qemu.qed" 2>&1); then
			echo "qemu-img bench qed aio=$aio: $out" >&2
			continue
		fi
		secs=$(awk '/Run completed/ {print $4}' <<<"$out")
		awk -v s="$secs" -v n="$count" -v qd="$qd" -v aio="$aio" 'BEGIN { printf "qemu-img bench qed aio=%-8s qd=%-3d %10.1f us/op\n", aio, qd, s * 1e6 / n }'
		rm -f "$dir/qemu.qed"
	done
done
QED_BENCH_DIR=$dir go test ./impl/file -run '^$' -bench 'BenchmarkFileFirstTouch' -benchtime "${count}x" |
	awk '/^Benchmark/ { printf "ours %-40s %10.1f us/op  %s hostIOs/op\n", $1, $3 / 1000, $5 }'
