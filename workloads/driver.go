package workloads

import (
	"container/heap"
	"fmt"
	"math"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/backends"
)

// runSlot is one request slot of the closed loop.
type runSlot struct {
	d      *driver
	req    impl.Request
	buf    []byte
	stream *Stream
	pace   *streamPace  // the stream's pacing; nil without
	ss     *ssMonitor   // the stream's steady-state detection; nil without
	verify *verifyLog   // the stream's verify_backlog; nil without
	piece  *verifyPiece // the write in flight's, with verify
	// verifying is set while the op nextOp returned is a read-back.
	verifying bool
	batch     *batcher            // the stream's batching (iodepth_batch, ...); nil without
	lat       *latTarget          // the stream's latency_target search; nil without
	done      func(*impl.Request) // s.complete, bound once
	parked    Op                  // the next op, held over a reopen
	// With sync or writefua (Job.syncWrites): the write whose flush is in flight,
	// which completes with it.
	syncing   bool
	syncStart int64 // the write's SubmitNanos
	syncLen   int   // the write's bytes
	// in is the slot's instance (group_run.go); retired is set once the
	// slot issues no more requests; waiting while nextOp's refusal is a
	// pause (a stall, a flow hold), not the end.
	in      *runInst
	retired bool
	waiting bool
}

// timer is a paced request waiting for its time (slot set), the end
// of a stream's thinktime stall (pace set), a job's start (start) or
// the end of its runtime in a group (end), or the end of a held
// instance's flow_sleep (in, without pace).
type timer struct {
	at    int64 // on the driver's clock (driver.now)
	seq   uint64
	slot  *runSlot
	op    Op
	pace  *streamPace
	in    *runInst
	start *runJob
	end   *runJob
}

// timers is a min-heap of timers by time, then by the order they were
// set.
type timers []timer

func (t timers) Len() int { return len(t) }
func (t timers) Less(i, j int) bool {
	return t[i].at < t[j].at || t[i].at == t[j].at && t[i].seq < t[j].seq
}
func (t timers) Swap(i, j int) { t[i], t[j] = t[j], t[i] }
func (t *timers) Push(x any)   { *t = append(*t, x.(timer)) }
func (t *timers) Pop() any {
	old := *t
	x := old[len(old)-1]
	*t = old[:len(old)-1]
	return x
}

// driver is a run's closed loop: every slot keeps one request in flight,
// each completion issues the slot's next operation, until the streams
// end, a request fails or the runtime is up. With the job's reopen_every
// N it issues N requests, lets the image drain, reopens it (through the
// submitter's Reopen when RunConfig.Wrap gave one) and issues the next N.
// It gathers the figures of every generation in res. A driver runs on
// the goroutine that drives the image, and once.
type driver struct {
	cfg      RunConfig
	env      *runEnv
	res      Result
	sub      Submitter                   // what requests go through: the image, or what Wrap returned
	reopener interface{ Reopen() error } // sub's Reopen; nil: the driver reopens
	every    uint64                      // the job's reopen_every

	slots   []runSlot
	bufs    []byte  // the slots' buffers, from cfg.Pages
	lats    []int64 // the latency of every completed request
	written []span  // guest ranges written, for the read-back

	firstErr error      // the first request's failure
	stopped  bool       // no more requests are issued
	start    int64      // now() at the start
	deadline int64      // now() at which the runtime is up; math.MaxInt64 without one
	last     int64      // the latest measured completion, on now()'s clock
	issued   uint64     // requests issued to the current generation
	parked   []*runSlot // slots holding an op for the next generation

	// Pacing (Plan.pace): requests waiting for their time, the idle time
	// skipped (skew: the clock of a run is env.clock() + skew, and skew
	// grows only while nothing is in flight), and the ramp.
	timers    timers
	timerSeq  uint64
	skew      int64
	sleep     func(time.Duration)
	measureAt int64  // completions from now on are measured (start + ramp_time)
	measuring bool   // a completion at or after measureAt was seen
	rampStats Result // the image's counters when the ramp ended

	ss  []*ssMonitor // steady-state detection: one per stream, or one for all with group_reporting
	lat *latTarget   // the latency_target search of the one stream; nil without

	// The run's jobs (a group's, or the one), their instances and flows
	// (group_run.go).
	jobs    []*runJob
	exitAll bool       // exitall is set
	perJob  bool       // several jobs: each one's figures are kept
	wake    []*runInst // held instances to wake (flowChanged)
	waking  bool
	// starting is set while the jobs of a group that start together
	// issue their first requests; deferred holds the slots whose request
	// completed meanwhile, to issue next.
	starting bool
	deferred []*runSlot
}

// now returns the run's clock: the image's, plus the idle time skipped
// by waiting for paced requests.
func (d *driver) now() int64 { return d.env.clock() + d.skew }

// drive runs the closed loop of cfg at queue depth qd on env and returns
// the figures; wall times the loop for Result.IOWallNanos.
func drive(cfg RunConfig, env *runEnv, qd int, wall func() int64) (Result, error) {
	d, err := newDriver(cfg, env, qd)
	if err != nil {
		return Result{}, err
	}
	return d.run(wall)
}

// newDriver wraps the image if cfg says so and lays out the slots, qd
// per stream, each with its buffer filled from the seed.
func newDriver(cfg RunConfig, env *runEnv, qd int) (*driver, error) {
	p := cfg.Plan
	d := &driver{cfg: cfg, env: env, sub: env.im, every: p.job.ReopenEvery}
	if cfg.Wrap != nil {
		var err error
		if d.sub, err = cfg.Wrap(d.open); err != nil {
			return nil, fmt.Errorf("wrap image: %w", err)
		}
		var ok bool
		if d.reopener, ok = d.sub.(interface{ Reopen() error }); !ok && d.every > 0 {
			return nil, fmt.Errorf("reopen_every=%d: cannot reopen through %T, which has no Reopen method", d.every, d.sub)
		}
	}
	d.newRunJobs(cfg, qd)
	var expect uint64
	nslots := 0
	type jobStreams struct {
		j       *runJob
		streams []*Stream
	}
	all := make([]jobStreams, len(d.jobs))
	for i, j := range d.jobs {
		m := j.p
		streams := m.Streams(cfg.Seed)
		all[i] = jobStreams{j, streams}
		e := m.opsPerJob * uint64(len(streams))
		if m.job.Fsync > 0 {
			e += e / uint64(m.job.Fsync)
		}
		expect += e
		nslots += len(streams) * j.qd
	}
	d.lats = make([]int64, 0, min(expect, 1<<24))
	d.start, d.deadline = env.clock(), math.MaxInt64
	d.measureAt, d.measuring = d.start, true
	if ramp := p.job.RampTime; p.pace != nil && p.pace.ramp > 0 || p.members != nil && ramp > 0 {
		d.measureAt, d.measuring = addTime(d.start, int64(ramp)), false
	}
	if p.job.Runtime > 0 && p.members == nil {
		d.deadline = addTime(d.measureAt, int64(p.job.Runtime))
	}
	d.sleep = cfg.Sleep
	if d.sleep == nil {
		d.sleep = time.Sleep
	}
	if p.job.SteadyState.Duration > 0 {
		n := len(all[0].streams)
		if p.job.GroupReporting {
			n = 1
		}
		for range n {
			d.ss = append(d.ss, newSSMonitor(p.job.SteadyState, d.measureAt))
		}
	}
	if p.job.LatencyTarget.Target > 0 {
		d.lat = newLatTarget(p.job.LatencyTarget, qd, d.measureAt)
	}
	d.slots = make([]runSlot, nslots)
	bs := int(p.maxBS)
	// The slots' buffers, from the pool: fresh memory is slow to fault
	// in. They go back at the end of a run that succeeded, when no
	// request holds them.
	d.bufs = cfg.Pages.buffer(len(d.slots) * bs)
	k := 0
	for _, js := range all {
		j, m, jqd := js.j, js.j.p, js.j.qd
		bc, batching := m.job.batching(jqd)
		for i, st := range js.streams {
			in := j.insts[i]
			var pace *streamPace
			if m.pace != nil {
				pace = newStreamPace(m.pace, cfg.Seed, m.instBase+i)
			}
			var vlog *verifyLog
			if m.job.VerifyBacklog > 0 && m.job.RW.Writes() {
				vlog = newVerifyLog(m)
			}
			var b *batcher
			if batching {
				b = &batcher{c: bc}
			}
			for range jqd {
				s := &d.slots[k]
				s.d = d
				s.stream, s.pace, s.verify, s.lat, s.in = st, pace, vlog, d.lat, in
				if d.ss != nil {
					s.ss = d.ss[min(i, len(d.ss)-1)]
				}
				if b != nil {
					s.batch = b
					b.free = append(b.free, s)
				}
				s.buf = d.bufs[k*bs : (k+1)*bs : (k+1)*bs]
				cfg.Pages.fillRandom(s.buf, cfg.Seed+int64(k)+1)
				s.done = s.complete
				in.slots = append(in.slots, s)
				in.live++
				k++
			}
		}
	}
	return d, nil
}

// open is the runner's history.Opener (see runEnv.reopen), adding the counters of
// each generation it closes to the run's figures.
func (d *driver) open(gen int) (*impl.Image, func() int64, error) {
	return d.env.reopen(&d.res, gen)
}

// submit submits op from slot s, or parks it when the current generation
// has had its reopen_every requests.
func (d *driver) submit(s *runSlot, op Op) {
	if d.every > 0 && d.issued == d.every {
		s.parked = op
		d.parked = append(d.parked, s)
		return
	}
	d.issued++
	s.in.inFlight++
	if s.pace != nil {
		s.pace.inFlight++
	}
	s.req = impl.Request{Off: op.Off, Done: s.done}
	switch op.Kind {
	case OpRead:
		s.req.Op, s.req.Buf = impl.ReqRead, s.buf[:op.Len]
	case OpWrite:
		s.req.Op, s.req.Buf = impl.ReqWrite, s.buf[:op.Len]
	case OpFlush:
		s.req.Op = impl.ReqFlush
	case OpTrim:
		s.req.Op, s.req.Len = impl.ReqWriteZeroes, op.Len
	}
	d.sub.Submit(&s.req)
}

// issue submits slot s's next operation, unless the run has stopped, its
// runtime is up or the slot's stream has ended; a paced operation whose
// time has not come waits for it, and a stalled stream's slot waits for
// the stall's end.
func (d *driver) issue(s *runSlot) {
	if s.lat != nil && !s.lat.admit(s) {
		return
	}
	op, ok := d.nextOp(s)
	if !ok {
		if s.lat != nil {
			s.lat.inFlight--
		}
		if !s.waiting {
			d.retire(s)
		}
		return
	}
	if s.pace != nil && !s.verifying {
		if at := addTime(s.in.j.startAt, s.pace.due(op, s.stream.At())); at > d.now() {
			d.addTimer(timer{at: at, slot: s, op: op})
			return
		}
	}
	d.submit(s, op)
}

// nextOp returns slot s's next operation: a read-back due (verify_backlog)
// or the stream's next, as the instance's verify log says through its
// loops (verifybacklog.go: a slot it has nothing for waits there for
// the requests in flight); none once the run has stopped, its runtime is up,
// the slot's instance has reached steady state or its byte budget or its
// stream has ended, nor while its stream is stalled (the slot then waits
// for the stall's end).
func (d *driver) nextOp(s *runSlot) (Op, bool) {
	s.verifying, s.waiting = false, false
	if d.stopped {
		return Op{}, false
	}
	if d.deadline != math.MaxInt64 && d.now() >= d.deadline {
		d.stopped = true
		return Op{}, false
	}
	if j := s.in.j; j.terminated || d.now() >= j.deadline {
		return Op{}, false
	}
	if s.ss != nil && s.ss.ended(d.now()) {
		return Op{}, false
	}
	if s.pace != nil && s.pace.stalled {
		s.pace.waiting = append(s.pace.waiting, s)
		s.waiting = true
		return Op{}, false
	}
	if s.in.flow != nil && !s.in.ended && !d.flowAdmit(s) {
		s.waiting = true
		return Op{}, false
	}
	if v := s.verify; v != nil {
		op, piece, back, ok := v.take(s.stream)
		if !ok {
			if v.resumes() {
				v.waiting = append(v.waiting, s)
			} else {
				s.in.ended = true // the last loop is over
			}
			return Op{}, false
		}
		s.piece, s.verifying = piece, back
		return op, true
	}
	op, ok := s.stream.Next()
	if !ok {
		s.in.ended = true
	}
	return op, ok
}

// addTimer adds t to the timers.
func (d *driver) addTimer(t timer) {
	d.timerSeq++
	t.seq = d.timerSeq
	heap.Push(&d.timers, t)
}

// fireTimers submits the paced requests whose time has come and ends
// the stalls that are over.
func (d *driver) fireTimers() {
	for len(d.timers) > 0 && d.timers[0].at <= d.now() {
		t := heap.Pop(&d.timers).(timer)
		switch {
		case t.start != nil:
			d.startJob(t.start, d.now())
			continue
		case t.end != nil:
			d.terminate(t.end)
			continue
		case t.in != nil && t.pace == nil:
			d.flowRetry(t.in)
			continue
		}
		if t.pace != nil {
			t.pace.stalled, t.pace.done = false, 0
			resume := t.pace.waiting
			t.pace.waiting = nil
			for _, s := range resume {
				d.issue(s)
			}
			continue
		}
		if d.stopped {
			d.retire(t.slot)
			continue
		}
		if d.deadline != math.MaxInt64 && d.now() >= d.deadline {
			d.stopped = true
			d.retire(t.slot)
			continue
		}
		if j := t.slot.in.j; t.slot.ss != nil && t.slot.ss.ended(d.now()) || j.terminated || d.now() >= j.deadline {
			d.retire(t.slot)
			continue
		}
		d.submit(t.slot, t.op)
	}
}

// wait moves the run's clock to t, nothing being in flight: in virtual
// time by skipping to it, otherwise by sleeping (and skipping what a
// clock that did not move with the sleep leaves).
func (d *driver) wait(t int64) {
	if d.deadline != math.MaxInt64 {
		t = min(t, d.deadline)
	}
	if !d.env.spec.Virtual {
		if left := t - d.now(); left > 0 {
			d.sleep(time.Duration(left))
		}
	}
	if now := d.now(); t > now {
		d.skew += t - now
	}
}

// runImage runs the image until nothing is in flight and no paced
// request waits, firing timers after each completion and waiting for the
// next one when the image is idle.
func (d *driver) runImage() {
	im := d.env.im
	for {
		for im.Step() {
			if len(d.timers) > 0 {
				d.fireTimers()
			}
		}
		if d.firstErr != nil || len(d.timers) == 0 {
			return
		}
		d.wait(d.timers[0].at)
		if d.deadline != math.MaxInt64 && d.now() >= d.deadline {
			// The runtime is up: what waits is not issued.
			d.stopped = true
			d.timers = d.timers[:0]
			return
		}
		d.fireTimers()
	}
}

// complete is the Done of the slot's requests: it counts r and issues the
// slot's next operation, or stops the run if r failed.
func (s *runSlot) complete(r *impl.Request) {
	d := s.d
	in := s.in
	in.inFlight--
	if r.Err != nil {
		if d.firstErr == nil {
			d.firstErr = fmt.Errorf("request %d (%s at %#x+%d): %w", r.ID, r.Op, r.Off, r.Length(), r.Err)
		}
		d.stopped = true
		return
	}
	if r.Op == impl.ReqWrite && d.cfg.Plan.job.syncWrites() {
		// A sync write completes once a flush after it has.
		if d.cfg.ReadBack {
			d.written = append(d.written, span{r.Off, uint64(len(r.Buf))})
		}
		s.syncing, s.syncStart, s.syncLen = true, r.SubmitNanos, len(r.Buf)
		if s.pace != nil {
			s.pace.inFlight-- // the flush is counted in its stead
		}
		d.submit(s, Op{Kind: OpFlush})
		return
	}
	if in.quiescing {
		d.flowQuiesced(in)
	}
	op, bytes, submitted := r.Op, uint64(len(r.Buf)), r.SubmitNanos
	if s.syncing {
		s.syncing = false
		op, bytes, submitted = impl.ReqWrite, uint64(s.syncLen), s.syncStart
	}
	// (A sync write's span was kept when the write completed: here r is
	// its flush.)
	if d.cfg.ReadBack && (r.Op == impl.ReqWrite || r.Op == impl.ReqWriteZeroes) {
		d.written = append(d.written, span{r.Off, r.Length()})
	}
	if b := s.batch; b != nil {
		b.done = append(b.done, reaped{s: s, op: op, bytes: bytes, trimLen: r.Len, submitted: submitted})
		d.reap(b)
		return
	}
	d.finish(s, op, bytes, r.Len, submitted, r.DoneNanos)
	if s.lat != nil {
		if d.latCompleted(s, op, r.DoneNanos-submitted); d.stopped {
			return
		}
	}
	if d.starting {
		// A request completed within its Submit while the group's
		// jobs start: every job's first requests go first.
		d.deferred = append(d.deferred, s)
		return
	}
	d.issue(s)
	d.checkInst(in)
}

// finish counts slot s's request, completed (or, batching, reaped) at
// time at on the image's clock: an op of bytes (trimLen for a trim)
// submitted at submitted.
func (d *driver) finish(s *runSlot, op impl.ReqOp, bytes, trimLen uint64, submitted, at int64) {
	if v := s.verify; v != nil {
		piece := s.piece
		s.piece = nil
		// Slots waiting for the loop to drain or its read-backs to
		// complete go on once nothing is in flight.
		defer func() {
			for _, w := range v.completed(op == impl.ReqRead, op == impl.ReqFlush, piece) {
				d.issue(w)
			}
		}()
	}
	done := at + d.skew
	if s.pace != nil && s.pace.completed() {
		d.addTimer(timer{at: min(addTime(d.now(), s.pace.pc.think), d.deadline), pace: s.pace, in: s.in})
	}
	if !d.measuring {
		if done < d.measureAt {
			return
		}
		d.measuring = true
		d.rampStats = d.res
		addStats(&d.rampStats, d.env.im.Stats())
		if s.lat != nil {
			s.lat.reset(done) // reset_all_stats at the ramp's end
		}
	}
	res := &d.res
	res.Ops++
	switch op {
	case impl.ReqRead:
		res.Reads++
		res.Bytes += bytes
	case impl.ReqWrite:
		res.Writes++
		res.Bytes += bytes
	case impl.ReqFlush:
		res.Flushes++
	case impl.ReqWriteZeroes:
		res.Trims++
		res.TrimBytes += trimLen
	}
	d.lats = append(d.lats, at-submitted)
	if d.perJob {
		d.countJob(s, opKind(op), bytes, trimLen, at-submitted, done)
	}
	if s.ss != nil {
		s.ss.advance(done)
		ssBytes := bytes
		if op == impl.ReqWriteZeroes {
			ssBytes = trimLen
		}
		s.ss.add(op, ssBytes, at-submitted)
	}
	d.last = max(d.last, done)
}

// loop issues every slot's first operation and runs the image, reopening
// it whenever slots are parked and nothing is in flight, until the run
// ends. It returns the error of a reopen; a request's is in d.firstErr.
func (d *driver) loop() error {
	env := d.env
	d.startJobs()
	for {
		d.runImage()
		if d.firstErr != nil || len(d.parked) == 0 || env.im.InFlight() != 0 {
			return nil
		}
		if d.deadline != math.MaxInt64 && d.now() >= d.deadline {
			d.stopped = true
			return nil
		}
		gen := env.gen
		var err error
		if d.reopener != nil {
			err = d.reopener.Reopen()
		} else {
			_, _, err = d.open(gen + 1)
			d.sub = env.im
		}
		if err == nil && env.gen != gen+1 {
			err = fmt.Errorf("%T reopened the image without opening its next generation", d.sub)
		}
		if err != nil {
			return err
		}
		resume := d.parked
		d.parked, d.issued = nil, 0
		for _, s := range resume {
			if s.ss != nil && s.ss.ended(d.now()) || s.in.j.terminated {
				d.retire(s)
				continue
			}
			d.submit(s, s.parked)
		}
	}
}

// run runs the loop, timed on wall (and in process CPU time off sim),
// then reads back what was written if cfg says so, and returns the
// figures.
func (d *driver) run(wall func() int64) (Result, error) {
	env, p := d.env, d.cfg.Plan
	var user0, sys0 int64
	if !env.spec.Virtual {
		user0, sys0 = processCPU()
	}
	wall0 := wall()
	err := d.loop()
	d.res.IOWallNanos = wall() - wall0
	if !env.spec.Virtual {
		user1, sys1 := processCPU()
		d.res.CPUUserNanos, d.res.CPUSysNanos = user1-user0, sys1-sys0
	}
	if d.firstErr != nil {
		return Result{}, d.firstErr
	}
	if err != nil {
		return Result{}, err
	}
	if err := d.heldError(); err != nil {
		return Result{}, err
	}
	im := env.im
	if n := im.InFlight(); n != 0 {
		return Result{}, fmt.Errorf("%d requests stalled with no I/O in flight", n)
	}
	st := im.Stats()
	if d.cfg.ReadBack {
		if err := readBack(d.sub, im, d.written, max(uint64(p.job.ClusterSize), 64<<10), len(d.slots)); err != nil {
			return Result{}, err
		}
	}
	res := d.res
	res.Nanos = max(d.last-d.measureAt, 0)
	addStats(&res, st)
	if d.measureAt > d.start {
		if !d.measuring {
			d.rampStats = res // nothing completed after the ramp
		}
		subtractStats(&res, &d.rampStats)
	}
	res.Submitter = d.sub
	if dev, ok := env.inst.(backends.Device); ok {
		ds := dev.DeviceStats()
		res.Device = &ds
	}
	res.SteadyStateNanos = d.steadyAt()
	if d.lat != nil {
		res.LatencyTargetDepth = d.lat.qd
	}
	summarizeLatency(&res, d.lats)
	res.Jobs = d.jobResults()
	d.cfg.Pages.putBuffer(d.bufs)
	return res, nil
}

// steadyAt returns when steady state was attained, from the start of the
// measured phase: the latest of the instances' (or the group's) times, 0
// unless every one attained it.
func (d *driver) steadyAt() int64 {
	var at int64
	for _, m := range d.ss {
		if !m.attained {
			return 0
		}
		at = max(at, m.at-d.measureAt)
	}
	return at
}
