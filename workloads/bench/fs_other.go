//go:build !linux

package bench

// fileSystemType names the file system holding dir; only Linux is
// supported.
func fileSystemType(dir string) string { return "unknown" }

// freeBytes returns the bytes free to an unprivileged user in dir's
// file system; only Linux is supported (ok false).
func freeBytes(dir string) (n uint64, ok bool) { return 0, false }

// DiscardNote returns ""; only Linux's mount table is read.
func DiscardNote(dir string) string { return "" }
