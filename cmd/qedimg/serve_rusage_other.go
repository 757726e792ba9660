//go:build !unix

package main

import "time"

// cpuUse is the CPU time this process has used, in user and system mode.
type cpuUse struct{ user, sys time.Duration }

// cpuTime returns zero: this system has no getrusage.
func cpuTime() cpuUse { return cpuUse{} }

// sub returns u minus v.
func (u cpuUse) sub(v cpuUse) cpuUse { return cpuUse{u.user - v.user, u.sys - v.sys} }
