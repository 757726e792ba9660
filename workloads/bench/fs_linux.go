package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// fsNames maps statfs magic numbers to file system names.
var fsNames = map[int64]string{
	0xEF53:     "ext4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x794c7630: "overlayfs",
	0x2FC12FC1: "zfs",
	0x6969:     "nfs",
	0x65735546: "fuse",
	0xF2F52010: "f2fs",
}

// fileSystemType names the file system holding dir ("ext4"), or gives its
// magic number.
func fileSystemType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	if n, ok := fsNames[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("fs-%#x", st.Type)
}

// freeBytes returns the bytes free to an unprivileged user in dir's
// file system, or false if statfs fails.
func freeBytes(dir string) (n uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}

// DiscardNote returns a note when the file system holding dir discards
// freed blocks online (discardNote), or "" (also when
// /proc/self/mountinfo cannot tell).
func DiscardNote(dir string) string {
	path, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	m, ok := parseMountInfo(f, path)
	if !ok {
		return ""
	}
	return discardNote(dir, m)
}
