//go:build !linux

package main

// fileSystemType names the file system holding dir; only Linux is
// supported.
func fileSystemType(dir string) string { return "unknown" }
