//go:build !unix

package serve

// ProcessCPU returns zero: this system has no getrusage.
func ProcessCPU() CPU { return CPU{} }
