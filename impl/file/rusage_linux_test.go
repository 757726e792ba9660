package file

import "syscall"

// processCPU returns the process's user and system CPU time in
// nanoseconds so far, or zeros if the kernel will not say.
func processCPU() (user, sys int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}
