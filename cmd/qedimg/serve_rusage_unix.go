//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuUse is the CPU time this process has used, in user and system mode.
type cpuUse struct{ user, sys time.Duration }

// cpuTime returns the CPU time the process has used so far (getrusage).
func cpuTime() cpuUse {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuUse{}
	}
	return cpuUse{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}
}

// sub returns u minus v.
func (u cpuUse) sub(v cpuUse) cpuUse { return cpuUse{u.user - v.user, u.sys - v.sys} }
