//go:build !unix

package workloads

// processCPU returns zeros: CPU time is measured on Unix systems only.
func processCPU() (user, sys int64) { return 0, 0 }
