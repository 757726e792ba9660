package serve

import "time"

// CPU is CPU time used, in user and in system (kernel) mode.
type CPU struct{ User, Sys time.Duration }

// Sub returns c minus d: the CPU time used between two readings.
func (c CPU) Sub(d CPU) CPU { return CPU{User: c.User - d.User, Sys: c.Sys - d.Sys} }

// Total returns user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.Sys }
