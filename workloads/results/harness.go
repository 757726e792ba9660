package results

import (
	"fmt"
	"slices"
)

// HarnessCost is what the harness itself cost over a set of runs: the
// evidence that it was not the bottleneck. On sim, the simulated host I/Os
// per wall second of the runs; on file, the harness's user CPU time as a
// share of wall time. Each figure comes from the runs' own wall time, so
// none depends on how many runs went at once.
type HarnessCost struct {
	// SimIOs are the host I/Os the successful sim runs simulated;
	// SimSeconds their wall time, setup, read-back and checks included;
	// SimIOSeconds that of their measured phases alone (the I/O loop);
	// SimCheckSeconds that of their linearizability checks.
	SimIOs, SimSeconds, SimIOSeconds, SimCheckSeconds float64
	// FileRuns successful policy runs on the file backend at queue depth
	// FileQD (32, or the deepest run if none was at 32) spent a median of
	// FileUserMedian percent of their wall time in user-space CPU, from
	// FileUserMin to FileUserMax.
	FileQD, FileRuns                         int
	FileUserMedian, FileUserMin, FileUserMax float64
}

// HarnessCostOf sums the harness's cost over runs.
func HarnessCostOf(runs []Record) HarnessCost {
	var h HarnessCost
	policyFileRun := func(r *Record) bool {
		return r.Backend == BackendFile && r.Error == "" && !IsBaseline(r.Policy) && r.Seconds > 0
	}
	for i := range runs {
		r := &runs[i]
		switch {
		case r.Backend == BackendSim && r.Error == "":
			h.SimIOs += r.HostIOsPerOp * float64(r.Ops)
			h.SimSeconds += r.WallSeconds
			h.SimIOSeconds += r.IOWallSeconds
			h.SimCheckSeconds += r.CheckWallSeconds
		case policyFileRun(r) && (r.QD == 32 || (h.FileQD != 32 && r.QD > h.FileQD)):
			h.FileQD = r.QD
		}
	}
	var shares []float64
	for i := range runs {
		if r := &runs[i]; policyFileRun(r) && r.QD == h.FileQD {
			shares = append(shares, 100*r.CPUUserSecs/r.Seconds)
		}
	}
	if len(shares) == 0 {
		h.FileQD = 0
		return h
	}
	slices.Sort(shares)
	n := len(shares)
	h.FileRuns, h.FileUserMin, h.FileUserMax = n, shares[0], shares[n-1]
	h.FileUserMedian = (shares[(n-1)/2] + shares[n/2]) / 2
	return h
}

// HarnessCost is HarnessCostOf(res.Runs).
func (res *Results) HarnessCost() HarnessCost { return HarnessCostOf(res.Runs) }

// Lines says what the harness cost, a sentence per backend measured;
// cacheMode is the file backend's I/O mode for its sentence.
func (h HarnessCost) Lines(cacheMode string) []string {
	var out []string
	if h.SimIOSeconds > 0 && h.SimSeconds > h.SimCheckSeconds {
		run := h.SimSeconds - h.SimCheckSeconds
		out = append(out, fmt.Sprintf("harness speed on sim: %.0f simulated host I/Os; I/O loop %.2fM per wall second (%.2fs); runs %.2fM per wall second (%.2fs, setup, read-back and image check included); with the linearizability checks %.2fM (%.2fs)",
			h.SimIOs, h.SimIOs/h.SimIOSeconds/1e6, h.SimIOSeconds, h.SimIOs/run/1e6, run, h.SimIOs/h.SimSeconds/1e6, h.SimSeconds))
	}
	if h.FileRuns > 0 {
		out = append(out, fmt.Sprintf("harness CPU on file (%s): user time %.1f%% of wall at qd %d (median of %d runs, %.1f-%.1f%%); the kernel's work for the I/O is system time, not counted",
			cacheMode, h.FileUserMedian, h.FileQD, h.FileRuns, h.FileUserMin, h.FileUserMax))
	}
	return out
}
