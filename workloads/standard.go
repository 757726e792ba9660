package workloads

import (
	_ "embed"
	"strings"
)

//go:embed standard.fio
var standardJobFile string

// StandardJobFile returns the job file of the standard comparison,
// embedded from standard.fio: first-touch (64 KiB and 4 KiB clusters),
// first-touch over a backing file, rewrite, same-cluster, sequential
// writes and a zipf read/write mix.
func StandardJobFile() string { return standardJobFile }

// StandardJobs parses StandardJobFile.
func StandardJobs() ([]Job, error) {
	return ParseJobFile(strings.NewReader(standardJobFile), "standard.fio")
}

// StandardQDs returns the queue depths of the standard comparison.
func StandardQDs() []int { return []int{1, 2, 4, 8, 16, 32, 64} }
