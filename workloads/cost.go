package workloads

import (
	"math"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// The constants of EstimatedRunSeconds, fitted to the standard
// comparison on this project's 2-core VM (sum of each workload's
// wall_seconds in runs.json, 2026-12): a sim request costs the harness
// about 6 us plus 0.8 us per KiB it moves (seq-write's 64 KiB writes
// cost 59 us, first-touch-4k's 4 KiB ones 12 us), twice that over a
// backing file (backing-cow: 22 us), 10% more per doubling of the queue
// depth; checking the history adds a third. On a real disk a request
// costs about 70 us at queue depth 1, shrinking with the square root of
// the depth (12 us at 32 on that VM's disk), plus its bytes at 1 GB/s.
const (
	simSecondsPerOp    = 6e-6
	simSecondsPerKiB   = 0.8e-6
	fileSecondsPerOp   = 70e-6
	fileSecondsPerByte = 1e-9
	runSetupSeconds    = 2e-3
	checkShare         = 1.0 / 3
	timeBasedOpsPerSec = 1e5 // requests per (virtual) second a time-based job is guessed to make
)

// EstimatedOps estimates the reads and writes a run of p makes, over
// every instance: exact with an op count, the byte budget over the
// largest request with sizes that vary, and for a time-based job its
// runtime at 100,000 requests a second.
func (p *Plan) EstimatedOps() float64 {
	if p.members != nil {
		var n float64 // a group's: its jobs'
		for _, m := range p.members {
			n += m.EstimatedOps()
		}
		return n
	}
	jobs := float64(max(p.job.NumJobs, 1))
	switch {
	case p.opsPerJob > 0:
		return float64(p.opsPerJob) * jobs
	case p.budget > 0 && p.maxBS > 0:
		return float64(p.budget) / float64(p.maxBS) * jobs
	}
	return p.job.Runtime.Seconds() * timeBasedOpsPerSec * jobs
}

// EstimatedRunSeconds estimates the wall seconds one run of p at queue
// depth qd on backend takes on one core, its history checked or not. It
// balances shards (Matrix.EstimatedCosts): only ratios between runs
// matter, and those are what the model gets roughly right (within a
// factor of 2 on the standard jobs).
func EstimatedRunSeconds(p *Plan, qd int, backend string, checked bool) float64 {
	ops := p.EstimatedOps()
	bs := float64(max(p.maxBS, p.job.BlockSize))
	spec, _ := backends.Lookup(backend)
	var perOp float64
	if spec.Virtual || spec.Storage == backends.Memory {
		perOp = (simSecondsPerOp + simSecondsPerKiB*bs/1024) * (1 + 0.1*math.Log2(float64(max(qd, 1))))
		if p.job.Backing {
			perOp *= 2
		}
	} else {
		perOp = fileSecondsPerOp/math.Sqrt(float64(max(qd, 1))) + fileSecondsPerByte*bs
	}
	s := runSetupSeconds + ops*perOp
	if checked {
		s *= 1 + checkShare
	}
	return s
}

// EstimatedCosts returns, for each configuration of Configs (in that
// order), the estimated wall seconds of all its runs: warm-ups and
// measured repetitions, with the linearizability checks Verify makes.
// Include is ignored: the costs are the whole matrix's.
func (m *Matrix) EstimatedCosts() []float64 {
	var out []float64
	m.each(func(c results.Config, p *Plan, _ model.Policy, _ sim.Device) {
		var cost float64
		for r := 1 - m.Warmup; r <= m.repeat(); r++ {
			checked := m.Verify != nil && !results.IsBaseline(c.Policy) && m.verifiesRun(p, c.QD, r)
			cost += EstimatedRunSeconds(p, c.QD, c.Backend, checked)
		}
		out = append(out, cost)
	})
	return out
}
