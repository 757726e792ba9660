//go:build !linux

package file

// processCPU returns zeros where CPU time is not measured.
func processCPU() (user, sys int64) { return 0, 0 }
