package workloads

import (
	"math"
	"math/rand/v2"
)

// pacing is how a plan spaces its requests in time, from fio's keys: the
// rate caps (rate, rate_iops, rate_process), thinktime, ramp_time and an
// iolog's timing. It is immutable; each stream keeps its own streamPace.
//
// A request whose time has not come waits for it. The runner submits it
// at its time when nothing is in flight then (the clock moves on to it:
// virtual time on sim, a sleep otherwise); when requests are in flight,
// at the first completion at or after its time, since the runner wakes
// only at completions then. So rates and stalls are exact at low queue
// depths and can be late by up to a request's latency at high ones.
type pacing struct {
	// bytesPerSec and reqsPerSec are the caps per direction (reads,
	// writes); a byte cap wins over a request cap, as in fio.
	bytesPerSec, reqsPerSec [2]float64
	poisson                 bool
	minBS                   float64 // the smallest request, for poisson's rate in requests
	think                   int64   // thinktime, ns
	thinkBlocks             int
	ramp                    int64 // ramp_time, ns
	iologTimed              bool  // the iolog's timing counts
	iologScale              float64
}

// newPacing returns the pacing of a plan's job, or nil when its requests
// go as fast as the queue depth allows and every one is measured.
func newPacing(j *Job) *pacing {
	pc := &pacing{
		poisson:     j.RateProcess == RatePoisson,
		think:       int64(j.ThinkTime),
		thinkBlocks: max(j.ThinkTimeBlocks, 1),
		ramp:        int64(j.RampTime),
		iologTimed:  j.IOLog != nil && j.IOLog.timed && !j.ReplayNoStall,
		iologScale:  1,
		minBS:       float64(j.BlockSize),
	}
	if sizes, _ := newBlockSizes(j); sizes != nil {
		pc.minBS = float64(sizes.min)
	}
	if j.ReplayTimeScale > 0 {
		pc.iologScale = 100 / float64(j.ReplayTimeScale)
	}
	paced := false
	for dir, k := range []OpKind{OpRead, OpWrite} {
		if b := j.Rate.get(k); b > 0 {
			pc.bytesPerSec[dir], paced = float64(b), true
		} else if r := j.RateIOPS.get(k); r > 0 {
			pc.reqsPerSec[dir], paced = float64(r), true
		}
	}
	if !paced && pc.think == 0 && pc.ramp == 0 && !pc.iologTimed {
		return nil
	}
	return pc
}

// addTime adds two non-negative times in ns, saturating at
// math.MaxInt64/2 (a time that far away never comes, and adding to it
// does not overflow).
func addTime(a, b int64) int64 {
	const most = math.MaxInt64 / 2
	if a >= most || b >= most-a {
		return most
	}
	return a + b
}

// nanos converts a time in ns, computed in floating point, saturating as
// addTime.
func nanos(f float64) int64 {
	if f >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(f)
}

// paceSalt separates the streams' poisson draws from their operations,
// so that capping a job's rate leaves its operations as they were.
const paceSalt = 0x2545f4914f6cdd1d

// streamPace is one stream's pacing state. It lives on the runner's
// goroutine.
type streamPace struct {
	pc       *pacing
	rng      *rand.Rand // poisson gaps, from the run's seed
	next     [2]int64   // a rate cap's next issue time per direction, ns after the epoch
	bytes    [2]float64 // bytes issued per direction (linear byte caps)
	inFlight int        // the stream's requests in flight
	done     int        // completions since the last stall
	stalled  bool       // waiting for its requests in flight, then thinktime
	waiting  []*runSlot // slots held while stalled
}

// newStreamPace returns stream i's pacing state for a run with seed.
func newStreamPace(pc *pacing, seed int64, i int) *streamPace {
	return &streamPace{pc: pc, rng: rand.New(rand.NewPCG(uint64(seed)^paceSalt, uint64(i+1)*0x9e3779b97f4a7c15))}
}

// due returns when op, the stream's next request, may be issued, in ns
// after the epoch (the run's start, ramp included), and accounts it to
// the rate caps. at is the op's iolog time, or -1.
func (sp *streamPace) due(op Op, at int64) int64 {
	pc := sp.pc
	var t int64
	if pc.iologTimed && at >= 0 {
		t = nanos(float64(at) * pc.iologScale)
	}
	if op.Kind == OpFlush {
		return t
	}
	dir := 0
	if op.Kind == OpWrite || op.Kind == OpTrim {
		dir = 1 // trims are capped with the writes, by rate's WRITE value
	}
	switch {
	case pc.bytesPerSec[dir] == 0 && pc.reqsPerSec[dir] == 0:
	case pc.poisson:
		iops := pc.reqsPerSec[dir]
		if iops == 0 {
			iops = pc.bytesPerSec[dir] / pc.minBS
		}
		t = max(t, sp.next[dir])
		gap := -math.Log(1-sp.rng.Float64()) * 1e9 / iops
		sp.next[dir] = addTime(sp.next[dir], nanos(gap))
	case pc.bytesPerSec[dir] > 0:
		// As fio's linear process: a request goes once the bytes before
		// it are due at the rate, so a late stream catches up.
		t = max(t, nanos(sp.bytes[dir]*1e9/pc.bytesPerSec[dir]))
		sp.bytes[dir] += float64(op.Len)
	default:
		t = max(t, sp.next[dir])
		sp.next[dir] = addTime(sp.next[dir], nanos(1e9/pc.reqsPerSec[dir]))
	}
	return t
}

// completed counts one of the stream's requests done and reports whether
// the stream should stall now (thinktime), its requests in flight done.
func (sp *streamPace) completed() (stallNow bool) {
	sp.inFlight--
	if sp.pc.think == 0 {
		return false
	}
	if sp.done++; sp.done >= sp.pc.thinkBlocks {
		sp.stalled = true
	}
	return sp.stalled && sp.inFlight == 0
}
