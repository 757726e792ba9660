#!/usr/bin/env bash
# qemu-qed-abort.sh DIR [TRIES]: how often QEMU's own QED driver aborts
# on the same-cluster workload's baseline command (runbench's qemu-qed
# baseline: 2048 sequential 4 KiB writes from offset 0, so each 64 KiB
# cluster takes 16 writes, the first allocating), per queue depth and
# aio mode. QEMU 7.2 (Debian bookworm) fails
#   qed.c:1161: qed_aio_write_alloc: Assertion `s->allocating_acb == NULL'
# in the freeze of allocating writes that QED as merged does. Each try
# creates a fresh image in a directory of its own under DIR (removed at
# the end); TRIES defaults to 20. It needs qemu-img (Debian package
# qemu-utils) and prints one line per depth and aio mode.
set -euo pipefail
usage="usage: scripts/qemu-qed-abort.sh DIR [TRIES]"
dir=${1:?$usage}
tries=${2:-20}
if ! command -v qemu-img >/dev/null; then
	echo "qemu-qed-abort: qemu-img is not installed (Debian package qemu-utils)" >&2
	exit 2
fi
if [ ! -d "$dir" ]; then
	echo "qemu-qed-abort: $dir is not a directory" >&2
	exit 2
fi
case $tries in
'' | *[!0-9]* | 0)
	echo "qemu-qed-abort: TRIES must be a positive number, not $tries" >&2
	exit 2
	;;
esac
work=$(mktemp -d "$dir/qemu-qed-abort.XXXXXX")
trap 'rm -rf "$work"' EXIT
img="$work/image.qed"
qemu-img --version | head -1
printf '%-6s %-9s %s\n' depth aio aborted
for aio in threads native io_uring; do
	for depth in 1 2 4 8 16 32; do
		n=0
		for _ in $(seq 1 "$tries"); do
			rm -f "$img"
			qemu-img create -q -f qed -o cluster_size=65536,table_size=4 "$img" 8M
			if ! (qemu-img bench -q -c 2048 -d "$depth" -s 4096 -S 4096 -o 0 -w -i "$aio" -f qed -t none "$img" >/dev/null 2>&1); then
				n=$((n + 1))
			fi
		done
		printf '%-6s %-9s %d of %d\n' "$depth" "$aio" "$n" "$tries"
	done
done
