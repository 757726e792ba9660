package workloads

import "github.com/qedharness/qedharness/workloads/results"

// NewRecord makes the record of a run of configuration c, measured
// repetition repeat (from 1) with seed; the caller fills in what the run
// does not know (Expect, Scheme, Note, the verdict, the wall times). It
// encodes the run's latency histogram into LatencyHDR; were that to fail
// (encoding into memory does not), Error says so.
func NewRecord(c results.Config, repeat int, seed int64, r *Result) *results.Record {
	rec := &results.Record{
		Policy: c.Policy, Workload: c.Workload, QD: c.QD, Backend: c.Backend, Device: c.Device,
		Repeat: repeat, Seed: seed,
		Ops: r.Ops, Trims: r.Trims, TrimBytes: r.TrimBytes, Seconds: r.Seconds(), OpsPerSec: r.OpsPerSec(), MiBPerSec: r.MiBPerSec(),
		LatP50Us: us(r.LatP50), LatP99Us: us(r.LatP99), LatP999Us: us(r.LatP999),
		LatMeanUs: r.LatMean / 1e3, LatMaxUs: us(r.LatMax),
		Freezes: r.Freezes, FrozenSecs: float64(r.FrozenNanos) / 1e9,
		DataBytes: r.DataBytes, MetaBytes: r.MetaBytes,
		Check: CheckSummary(r.Check), CheckCorruptions: r.Check.Corruptions, CheckLeaks: r.Check.Leaks,
		HostIOsPerOp: r.HostIOsPerOp(), AchievedQD: r.AchievedQD, AllocatingWrites: r.AllocatingWrites, Reopens: r.Reopens,
		IOWallSeconds: float64(r.IOWallNanos) / 1e9, SteadyStateSecs: float64(r.SteadyStateNanos) / 1e9,
		LatencyTargetDepth: r.LatencyTargetDepth,
		CPUUserSecs:        float64(r.CPUUserNanos) / 1e9, CPUSysSecs: float64(r.CPUSysNanos) / 1e9,
	}
	for _, j := range r.Jobs {
		f := results.JobFigures{Name: j.Name, QD: j.QD, Ops: j.Ops, Reads: j.Reads, Writes: j.Writes, Trims: j.Trims, Flushes: j.Flushes,
			Bytes: j.Bytes, TrimBytes: j.TrimBytes, StartSecs: float64(j.StartNanos) / 1e9, Seconds: float64(j.Nanos) / 1e9,
			LatP50Us: us(j.LatP50), LatP99Us: us(j.LatP99), LatP999Us: us(j.LatP999), LatMeanUs: j.LatMean / 1e3, LatMaxUs: us(j.LatMax)}
		if j.Nanos > 0 {
			f.OpsPerSec = float64(j.Ops) / f.Seconds
			f.MiBPerSec = float64(j.Bytes) / (1 << 20) / f.Seconds
		}
		rec.Jobs = append(rec.Jobs, f)
	}
	if r.Latency != nil {
		var err error
		if rec.LatencyHDR, err = results.EncodeLatency(r.Latency); err != nil {
			rec.Error = err.Error()
		}
	}
	return rec
}

func us(ns int64) float64 { return float64(ns) / 1e3 }
