package workloads

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/qedharness/qedharness/impl"
)

// LatencyTarget is fio's latency target (keys latency_target,
// latency_window, latency_percentile, latency_run): an instance searches
// for the deepest queue depth, up to the run's, at which Percentile
// percent of its requests complete within Target, judging each depth
// over a Window of the run's clock (virtual on sim). Target 0 means
// none.
type LatencyTarget struct {
	Target, Window time.Duration
	// Percentile is the percentage of a window's requests that must
	// complete within Target; 100 (fio's default) steps the depth down
	// at the first request over it.
	Percentile float64
	// Run keeps adjusting the depth for the whole run; without it the
	// instance stops once the depth settles (after one more window at
	// it, whose figures are the run's).
	Run bool
}

// checkLatencyTarget checks the latency target's keys and what it does
// not combine with, returning the key to change.
func (j *Job) checkLatencyTarget() (string, error) {
	lt := j.LatencyTarget
	if lt.Target == 0 {
		return "", nil
	}
	switch {
	case lt.Window < 0 || lt.Target < 0:
		return "latency_window", errors.New("must not be negative")
	case lt.Percentile < 0 || lt.Percentile > 100:
		return "latency_percentile", errors.New("want a percentage in [0, 100]")
	case j.NumJobs > 1:
		return "latency_target", errors.New("not supported with numjobs > 1: each of fio's clones searches on its own and starts its own figures over at its final window; runbench's figures are the run's")
	case j.Loops > 1:
		return "latency_target", errors.New("not supported with loops: fio starts the search over at each loop")
	case j.SteadyState.Duration > 0:
		return "latency_target", errors.New("not supported with steadystate: each ends the instance on its own criterion")
	case j.VerifyBacklog > 0:
		return "latency_target", errors.New("not supported with verify_backlog")
	}
	if _, on := j.batching(max(j.IODepth, 1)); on {
		return "latency_target", errors.New("not supported with fio's batching (iodepth_batch, iodepth_batch_complete_min, iodepth_low)")
	}
	return "", nil
}

// latTarget is one instance's latency-target search, fio's lat_target_*
// functions (io_u.c) over the run's clock: the depth it allows (fio's
// latency_qd, which queue_full holds the instance to), the bounds of its
// bisection, and the current window (a "cycle"). It is not safe for
// concurrent use; the driver's goroutine owns it.
type latTarget struct {
	c        LatencyTarget
	target   int64 // c.Target in nanoseconds
	maxDepth int   // fio's o->iodepth: the run's queue depth

	qd, low, high int    // latency_qd, latency_qd_low, latency_qd_high
	stable        int    // latency_stable_count
	cycleAt       int64  // latency_ts: when the window started, on the run's clock
	cycleIOs      uint64 // latency_ios: completions when it started
	ios           uint64 // io_blocks: reads, writes and trims completed
	failed        uint64 // latency_failed: those of the window over the target
	endRun        bool   // latency_end_run: the final window is running
	done          bool   // td->done: the instance issues no more

	// quiesce holds new requests back until none is in flight (fio's
	// io_u_quiesce), then restart (the final window) and a new cycle
	// follow.
	quiesce, restart bool
	inFlight         int        // the instance's requests in flight
	idle             []*runSlot // slots held back by the depth
}

func newLatTarget(c LatencyTarget, depth int, now int64) *latTarget {
	l := &latTarget{c: c, target: int64(c.Target), maxDepth: depth}
	l.init(now)
	return l
}

// init is fio's lat_target_init: depth 1, bisecting up to the run's.
func (l *latTarget) init(now int64) {
	l.endRun = false
	l.qd, l.high, l.low = 1, l.maxDepth, 1
	l.cycleAt, l.cycleIOs = now, l.ios
}

// reset is fio's lat_target_reset, at the end of ramp_time
// (reset_all_stats).
func (l *latTarget) reset(now int64) {
	if !l.endRun {
		l.init(now)
	}
}

// newCycle is fio's lat_new_cycle.
func (l *latTarget) newCycle(now int64) {
	l.cycleAt, l.cycleIOs, l.failed = now, l.ios, 0
}

// failedWindow is fio's __lat_target_failed: it steps the depth down,
// halfway to the low bound, and quiesces before a new cycle; at depth 1
// it changes nothing and returns true (fio then fails the job, when a
// request rather than a window missed).
func (l *latTarget) failedWindow() bool {
	if l.qd == 1 {
		return true
	}
	l.high = l.qd
	if l.qd == l.low {
		l.low--
	}
	l.qd = (l.qd + l.low) / 2
	l.stable = 0
	l.quiesce = true // io_u_quiesce, then lat_new_cycle (quiesced)
	return false
}

// success is fio's lat_target_success: the window met the target, so the
// depth doubles (while no window has missed) or bisects up to the high
// bound; a depth that stays is run one more window, its figures the
// run's, and then the instance stops (unless latency_run).
func (l *latTarget) success(now int64) {
	qd := l.qd
	l.low = l.qd
	if l.qd+1 == l.high {
		// fio: three stable successes in a row raise the high bound by
		// one, so the search may creep past a bound set early.
		l.stable++
		if l.stable >= 3 {
			l.high++
			l.stable = 0
		}
	}
	if l.high != l.maxDepth {
		l.qd = (l.qd + l.high) / 2
	} else {
		l.qd *= 2
	}
	l.qd = min(l.qd, l.maxDepth)
	if !l.c.Run && l.qd == qd {
		if l.endRun {
			l.done = true
		} else {
			l.quiesce, l.restart, l.endRun = true, true, true
			return // the new cycle follows the quiescing
		}
	}
	l.newCycle(now)
}

// completed is fio's accounting of a completed request
// (account_io_completion calling lat_target_failed): a read, write or
// trim of lat nanoseconds over the target counts as failed, or, with
// latency_percentile=100, steps the depth down at once. It returns an
// error when the target is missed at depth 1 (fio's lat_fatal).
func (l *latTarget) completed(op impl.ReqOp, lat int64) error {
	l.inFlight--
	if op == impl.ReqFlush {
		return nil
	}
	l.ios++
	if lat <= l.target {
		return nil
	}
	if l.c.Percentile == 100 {
		if l.failedWindow() {
			return fmt.Errorf("latency_target: a request's latency, %v, is over the target, %v, at queue depth 1 (fio fails the job)", time.Duration(lat), l.c.Target)
		}
		return nil
	}
	l.failed++
	return nil
}

// check is fio's lat_target_check, after each completion outside the
// ramp: once a window has passed, the share of its requests within the
// target steps the depth up or down.
func (l *latTarget) check(now int64) {
	if l.quiesce || l.done || now-l.cycleAt < int64(l.c.Window) {
		return
	}
	ios := l.ios - l.cycleIOs
	success := float64(ios-l.failed) / float64(ios) * 100 // NaN without ios: a miss, as fio's
	if success >= l.c.Percentile {
		l.success(now)
	} else {
		l.failedWindow()
	}
}

// admit reports whether slot s may take a request now: not once the
// search is done, nor while quiescing or at the depth (fio's
// queue_full); a slot held back waits in idle.
func (l *latTarget) admit(s *runSlot) bool {
	if l.done {
		return false
	}
	if l.quiesce || l.inFlight >= l.qd {
		l.idle = append(l.idle, s)
		return false
	}
	l.inFlight++
	return true
}

// latCompleted follows a completion of slot s's instance's search: it
// accounts the request, ends a quiescing once nothing is in flight (with
// the final window's restart of the figures), checks the window, and
// wakes held-back slots the depth now allows.
func (d *driver) latCompleted(s *runSlot, op impl.ReqOp, lat int64) {
	l := s.lat
	if err := l.completed(op, lat); err != nil {
		if d.firstErr == nil {
			d.firstErr = err
		}
		d.stopped = true
		return
	}
	now := d.now()
	if d.measuring {
		l.check(now)
	}
	if l.quiesce && l.inFlight == 0 {
		l.quiesce = false
		if l.restart {
			// fio's reset_all_stats for the final window: the figures,
			// and the runtime, start over.
			l.restart = false
			d.restartFigures(now)
		}
		l.newCycle(now)
	}
	for len(l.idle) > 0 && !l.quiesce && !l.done && l.inFlight < l.qd {
		next := l.idle[len(l.idle)-1]
		l.idle = l.idle[:len(l.idle)-1]
		d.issue(next)
	}
}

// restartFigures starts the run's figures over at now, as fio's
// reset_all_stats: what completed before is not measured, and the
// runtime counts from now.
func (d *driver) restartFigures(now int64) {
	res := &d.res
	res.Ops, res.Reads, res.Writes, res.Trims, res.Flushes, res.Bytes, res.TrimBytes = 0, 0, 0, 0, 0, 0, 0
	d.lats = d.lats[:0]
	d.measureAt, d.measuring, d.last = now, true, now
	d.rampStats = d.res
	addStats(&d.rampStats, d.env.im.Stats())
	if d.deadline != math.MaxInt64 {
		d.deadline = addTime(now, int64(d.cfg.Plan.job.Runtime))
	}
}
