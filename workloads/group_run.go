package workloads

import (
	"container/heap"
	"fmt"
	"math"

	"github.com/qedharness/qedharness/impl"
)

// This file runs a group's jobs together in one driver (see group.go):
// when each job starts (startdelay, wait_for, as fio's run_threads),
// flow control (flow.c), and what ends when an instance finishes
// (exitall, exit_what: fio_terminate_threads). A run of one job is the
// same machinery with one job, which starts at once.

// runJob is one job of a run: a member of a group, or the run's job.
type runJob struct {
	p       *Plan
	name    string
	qd      int
	insts   []*runInst
	waitFor *runJob   // the job it waits for (wait_for); nil for none
	waiters []*runJob // the jobs waiting for it
	report  int       // its reporting group (fio's groupid)
	delay   int64     // startdelay, ns after the run's start (0 alone)

	started, terminated, done bool
	startAt                   int64 // when it started, on the driver's clock
	deadline                  int64 // when its runtime is up; math.MaxInt64 without (and alone: the driver's)
	live                      int   // instances not done

	// Its figures, in a run of several jobs.
	fig  JobResult
	lats []int64
}

// runInst is one instance (fio's thread of a job, numjobs of them): its
// slots, its requests in flight, and its part in a flow.
type runInst struct {
	j        *runJob
	slots    []*runSlot
	live     int  // slots not retired
	inFlight int  // its requests submitted and not completed
	done     bool // every slot retired and nothing in flight
	ended    bool // its stream returned its last op: fio's loop has left

	// flow control (nil flow: none): its count, whether it is held back,
	// the slots parked meanwhile, and its retry (flow_sleep).
	flow      *runFlow
	weight    int64
	count     int64
	held      bool
	parked    []*runSlot
	quiescing bool  // held, waiting for its requests in flight before sleeping
	retryAt   int64 // with flow_sleep: when its sleep ends
	epoch     uint64
}

// runFlow is fio's struct fio_flow: the shared count of requests of the
// instances with a flow weight and this flow_id (starting at 1, as
// flow_get), and the sum of their weights.
type runFlow struct {
	id      int
	counter int64
	total   int64
	epoch   uint64     // counts changes of counter and total
	waiters []*runInst // held instances waiting for a change
}

// JobResult holds one job's figures in a run of a group of jobs
// (Result.Jobs): its requests (Ops split as Result's), its time, from
// its start to its last completion, and its latency.
type JobResult struct {
	Name                               string
	QD                                 int
	Ops, Reads, Writes, Trims, Flushes uint64
	Bytes, TrimBytes                   uint64
	// StartNanos is when the job started, after the group's start;
	// Nanos from then to its last completion.
	StartNanos, Nanos               int64
	LatP50, LatP99, LatP999, LatMax int64
	LatMean                         float64
}

// memberQD returns the queue depth of plan m in a run of cfg at qd: the
// depth m's job asks for when cfg.JobDepths, else qd (cfg.QD, or the
// group's), else the job's own.
func memberQD(cfg RunConfig, m *Plan, qd int) int {
	if cfg.JobDepths {
		if d, ok := m.JobQD(); ok {
			return d
		}
	}
	if cfg.QD > 0 || m == cfg.Plan {
		return qd
	}
	return m.depth
}

// newRunJobs makes the run's jobs from plan p (a group's members, or p
// alone) with their flows; qd is the run's depth.
func (d *driver) newRunJobs(cfg RunConfig, qd int) {
	p := cfg.Plan
	plans := p.members
	if plans == nil {
		plans = []*Plan{p}
	}
	flows := map[int]*runFlow{}
	for i, m := range plans {
		j := &runJob{p: m, name: m.job.Name, qd: memberQD(cfg, m, qd), deadline: math.MaxInt64}
		if p.members != nil {
			j.delay, j.report = int64(m.job.Group.StartDelay), p.info[i].report
			if w := p.info[i].waitFor; w >= 0 {
				j.waitFor = d.jobs[w]
				d.jobs[w].waiters = append(d.jobs[w].waiters, j)
			}
		}
		d.exitAll = d.exitAll || m.job.Group.ExitAll
		for range m.job.NumJobs {
			in := &runInst{j: j}
			if w := m.job.Group.Flow; w > 0 {
				// flow_init_job: every instance's weight counts from
				// the start, whether it has started or not.
				f := flows[m.job.Group.FlowID]
				if f == nil {
					f = &runFlow{id: m.job.Group.FlowID, counter: 1}
					flows[f.id] = f
				}
				in.flow, in.weight = f, int64(w)
				f.total += in.weight
			}
			j.insts = append(j.insts, in)
		}
		j.live = len(j.insts)
		d.jobs = append(d.jobs, j)
	}
	d.perJob = len(d.jobs) > 1
}

// startJobs starts the jobs that start with the run and sets timers for
// those that start later (startdelay); those waiting for another job
// start when it is done.
func (d *driver) startJobs() {
	// Several jobs start at once, as fio's threads do: a request that
	// completes within its Submit (one that needs no I/O) issues the
	// next only once every job has issued its first.
	d.starting = d.perJob
	defer d.issueDeferred()
	for _, j := range d.jobs {
		switch {
		case j.waitFor != nil:
		case j.delay > 0:
			d.addTimer(timer{at: addTime(d.start, j.delay), start: j})
		default:
			d.startJob(j, d.start)
		}
	}
}

// startJob starts j at time at: its deadline (a group's jobs each count
// their runtime from their start, as fio's), then every slot's first
// request. Its pacing (rate, thinktime, an iolog's timing) counts from
// at too.
func (d *driver) startJob(j *runJob, at int64) {
	if j.started || j.terminated {
		return
	}
	j.started, j.startAt = true, at
	if d.perJob && j.p.job.Runtime > 0 {
		ramp := d.measureAt - d.start
		j.deadline = addTime(addTime(j.startAt, ramp), int64(j.p.job.Runtime))
		d.addTimer(timer{at: j.deadline, end: j})
	}
	for _, in := range j.insts {
		for _, s := range in.slots {
			if s.batch == nil {
				d.issue(s)
			} else if !s.batch.started {
				s.batch.started = true
				d.fill(s.batch)
			}
		}
	}
}

// issueDeferred issues what completed while the jobs started.
func (d *driver) issueDeferred() {
	d.starting = false
	for len(d.deferred) > 0 {
		s := d.deferred[0]
		d.deferred = d.deferred[1:]
		d.issue(s)
		d.checkInst(s.in)
	}
}

// retire marks slot s as issuing no more requests, and its instance done
// if that was its last slot and nothing of it is in flight.
func (d *driver) retire(s *runSlot) {
	if s.retired {
		return
	}
	s.retired = true
	s.in.live--
	d.checkInst(s.in)
}

// checkInst marks in done once its slots are retired and nothing of it
// is in flight: its flow counts leave the flow (flow_exit_job), exitall
// ends the jobs its exit_what names, and its job is done with its last
// instance.
func (d *driver) checkInst(in *runInst) {
	if in.done || in.live > 0 || in.inFlight > 0 {
		return
	}
	in.done = true
	in.held = false
	if f := in.flow; f != nil {
		f.counter -= in.count
		f.total -= in.weight
		d.flowChanged(f)
	}
	if d.exitAll && !d.stopped && in.j.started {
		// (A job ended before it started never ran: in fio it never
		// reaches the end of thread_main, which ends the others.)
		d.exitFrom(in.j)
	}
	if in.j.live--; in.j.live == 0 {
		d.jobDone(in.j)
	}
}

// jobDone starts the jobs waiting for j (after their startdelay, which
// fio counts from the start as well).
func (d *driver) jobDone(j *runJob) {
	j.done = true
	for _, w := range j.waiters {
		if w.started || w.terminated {
			continue
		}
		if at := addTime(d.start, w.delay); at > d.now() {
			d.addTimer(timer{at: at, start: w})
			continue
		}
		d.startJob(w, d.now())
	}
}

// exitFrom ends the jobs that an instance of j finishing ends with
// exitall, as fio_terminate_threads(td->groupid, td->o.exit_what): with
// group, those of j's reporting group, started or not (a job ended
// before it starts never starts); with stonewall, those running; with
// all, every one.
func (d *driver) exitFrom(j *runJob) {
	what := j.p.job.Group.exitWhat()
	for _, k := range d.jobs {
		switch {
		case what == ExitGroup && k.report == j.report, what == ExitAllJobs, what == ExitStonewall && k.started:
			d.terminate(k)
		}
	}
}

// terminate ends job k (exitall, or its runtime is up): it issues no
// more requests; those in flight complete and count. A job not started
// never starts, and counts as done for the jobs waiting for it.
func (d *driver) terminate(k *runJob) {
	if k.terminated {
		return
	}
	k.terminated = true
	if !k.started {
		for _, in := range k.insts {
			in.live = 0
			d.checkInst(in)
		}
		return
	}
	// What waits for a time or a change: paced requests, stalls, flow
	// retries. Their slots retire now, not when they would have woken.
	var drop []*runSlot
	kept := d.timers[:0]
	for _, t := range d.timers {
		switch {
		case t.slot != nil && t.slot.in.j == k:
			drop = append(drop, t.slot)
		case t.in != nil && t.in.j == k:
		case t.end == k:
		default:
			kept = append(kept, t)
			continue
		}
	}
	d.timers = kept
	heap.Init(&d.timers)
	for _, in := range k.insts {
		for _, s := range in.slots {
			if s.pace != nil && s.pace.stalled {
				drop = append(drop, s.pace.waiting...)
				s.pace.waiting = nil
			}
		}
		drop = append(drop, in.parked...)
		in.parked, in.held, in.quiescing = nil, false, false
	}
	for _, s := range drop {
		d.retire(s)
	}
	for _, in := range k.insts {
		d.checkInst(in)
	}
}

// flowAdmit is flow_threshold_exceeded (flow.c) for slot s's instance:
// false when the instance's share of its flow's requests exceeds its
// share of the flow's weights, which holds the instance back (the slot
// is parked); true after counting the request in both counts.
func (d *driver) flowAdmit(s *runSlot) bool {
	in := s.in
	f := in.flow
	if in.held {
		in.parked = append(in.parked, s)
		return false
	}
	if float64(in.count)/float64(f.counter) > float64(in.weight)/float64(f.total) {
		in.held = true
		in.parked = append(in.parked, s)
		in.epoch = f.epoch
		sleep := int64(in.j.p.job.Group.FlowSleep)
		switch {
		case sleep == 0 && in.inFlight > 0 && in.j.p.job.ZoneMode == ZoneZBD:
			// Under zonemode=zbd fio lets the requests in flight
			// complete first (io_u_quiesce), then checks again.
			in.quiescing = true
		case sleep == 0:
			// fio goes round its loop and checks again at once: the
			// answer changes when the flow's counts do.
			f.waiters = append(f.waiters, in)
		case in.inFlight > 0:
			in.quiescing = true // io_u_quiesce, then usleep
		default:
			in.retryAt = addTime(d.now(), sleep)
			d.addTimer(timer{at: in.retryAt, in: in})
		}
		return false
	}
	f.counter++
	in.count++
	d.flowChanged(f)
	return true
}

// flowQuiesced starts the flow_sleep of held instance in once its
// requests in flight have completed (with flow_sleep=0, under
// zonemode=zbd, it checks again then).
func (d *driver) flowQuiesced(in *runInst) {
	if in.quiescing && in.inFlight == 0 {
		in.quiescing = false
		if in.j.p.job.Group.FlowSleep == 0 { // zonemode=zbd: check again at once
			d.unhold(in)
			return
		}
		in.retryAt = addTime(d.now(), int64(in.j.p.job.Group.FlowSleep))
		d.addTimer(timer{at: in.retryAt, in: in})
	}
}

// flowRetry is the end of held instance in's flow_sleep: it tries
// again. Were the flow's counts the same as when it was held, the answer
// would be too: it then waits for them to change, and tries again at the
// end of the sleep during which they did (fio sleeps flow_sleep at a
// time).
func (d *driver) flowRetry(in *runInst) {
	if !in.held || in.done {
		return
	}
	if in.epoch == in.flow.epoch {
		in.flow.waiters = append(in.flow.waiters, in)
		return
	}
	d.unhold(in)
}

// flowChanged wakes the instances of f waiting for its counts to change,
// each trying again (after the rest of its sleep, with flow_sleep).
func (d *driver) flowChanged(f *runFlow) {
	f.epoch++
	if len(f.waiters) == 0 {
		return
	}
	d.wake = append(d.wake, f.waiters...)
	f.waiters = nil
	if d.waking {
		return
	}
	d.waking = true
	for len(d.wake) > 0 {
		in := d.wake[0]
		d.wake = d.wake[1:]
		if !in.held || in.done {
			continue
		}
		if sleep := int64(in.j.p.job.Group.FlowSleep); sleep > 0 {
			// The sleep that was under way when the counts changed.
			if now := d.now(); in.retryAt < now {
				in.retryAt += (now - in.retryAt + sleep - 1) / sleep * sleep
			}
			d.addTimer(timer{at: in.retryAt, in: in})
			continue
		}
		d.unhold(in)
	}
	d.waking = false
}

// unhold lets held instance in try again: its parked slots issue.
func (d *driver) unhold(in *runInst) {
	in.held = false
	parked := in.parked
	in.parked = nil
	for _, s := range parked {
		d.issue(s)
	}
}

// heldError says which instances are held back by their flow with
// nothing left to change its counts, after the run went idle: fio would
// wait for ever (or until its runtime).
func (d *driver) heldError() error {
	if d.stopped {
		return nil // the runtime was up, or a request failed
	}
	for _, j := range d.jobs {
		for _, in := range j.insts {
			if in.held && !in.done {
				return fmt.Errorf("[%s] flow=%d of flow_id=%d: held back by the flow (its share of the requests is above its weight's) with no other job left to issue, so it would wait for ever, as fio's", j.name, in.weight, in.flow.id)
			}
		}
	}
	return nil
}

// jobResults returns the figures of each job, in a run of several.
func (d *driver) jobResults() []JobResult {
	if !d.perJob {
		return nil
	}
	out := make([]JobResult, len(d.jobs))
	for i, j := range d.jobs {
		f := j.fig
		f.Name, f.QD = j.name, j.qd
		if j.started {
			from := max(j.startAt, d.measureAt)
			f.StartNanos = max(j.startAt-d.start, 0)
			if f.Nanos > 0 {
				f.Nanos = max(f.Nanos-from, 0)
			}
		}
		var r Result
		summarizeLatency(&r, j.lats)
		f.LatP50, f.LatP99, f.LatP999, f.LatMax, f.LatMean = r.LatP50, r.LatP99, r.LatP999, r.LatMax, r.LatMean
		out[i] = f
	}
	return out
}

// countJob adds a measured request of slot s, completed at done, to its
// job's figures.
func (d *driver) countJob(s *runSlot, op OpKind, bytes, trimLen uint64, lat, done int64) {
	j := s.in.j
	f := &j.fig
	f.Ops++
	switch op {
	case OpRead:
		f.Reads++
		f.Bytes += bytes
	case OpWrite:
		f.Writes++
		f.Bytes += bytes
	case OpFlush:
		f.Flushes++
	case OpTrim:
		f.Trims++
		f.TrimBytes += trimLen
	}
	j.lats = append(j.lats, lat)
	f.Nanos = max(f.Nanos, done) // the last completion, until jobResults
}

// opKind is the OpKind of a request of kind op.
func opKind(op impl.ReqOp) OpKind {
	switch op {
	case impl.ReqWrite:
		return OpWrite
	case impl.ReqFlush:
		return OpFlush
	case impl.ReqWriteZeroes:
		return OpTrim
	}
	return OpRead
}
