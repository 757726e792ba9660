//go:build unix

package serve

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time this process has used so far, from
// getrusage(RUSAGE_SELF): an in-process server's cost, its clients in
// other processes not included. It returns zero where getrusage fails.
func ProcessCPU() CPU {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return CPU{}
	}
	return CPU{User: time.Duration(ru.Utime.Nano()), Sys: time.Duration(ru.Stime.Nano())}
}
