//go:build !linux

package workloads

import "os"

// preallocateRaw makes f size bytes long: sparse, since fallocate is
// Linux's.
func preallocateRaw(f *os.File, size int64) error { return f.Truncate(size) }
