//go:build unix

package workloads

import "syscall"

// processCPU returns the user and system CPU time the process has used,
// in nanoseconds, or zeros if the system cannot tell.
func processCPU() (user, sys int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}
