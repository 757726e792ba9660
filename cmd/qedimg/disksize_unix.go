//go:build unix

package main

import (
	"os"
	"syscall"
)

// allocatedBytes returns the bytes of storage the file fi describes has
// allocated, st_blocks times 512, as qemu-img's "disk size" and
// "actual-size"; the file's length where the system does not say.
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
