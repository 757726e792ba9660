package workloads

import (
	"fmt"
	"math"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/backends"
)

// runSlot is one request slot of the closed loop.
type runSlot struct {
	d      *driver
	req    impl.Request
	buf    []byte
	stream *Stream
	done   func(*impl.Request) // s.complete, bound once
	parked Op                  // the next op, held over a reopen
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
	start    int64      // env.clock() at the start
	deadline int64      // env.clock() at which the runtime is up; math.MaxInt64 without one
	last     int64      // the latest completion
	issued   uint64     // requests issued to the current generation
	parked   []*runSlot // slots holding an op for the next generation
}

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
	streams := p.Streams(cfg.Seed)
	expect := p.opsPerJob * uint64(len(streams))
	if p.job.Fsync > 0 {
		expect += expect / uint64(p.job.Fsync)
	}
	d.lats = make([]int64, 0, min(expect, 1<<24))
	d.start, d.deadline = env.clock(), math.MaxInt64
	if p.job.Runtime > 0 {
		d.deadline = d.start + int64(p.job.Runtime)
	}
	d.slots = make([]runSlot, len(streams)*qd)
	bs := int(p.job.BlockSize)
	// The slots' buffers, from the pool: fresh memory is slow to fault
	// in. They go back at the end of a run that succeeded, when no
	// request holds them.
	d.bufs = cfg.Pages.buffer(len(d.slots) * bs)
	for i := range d.slots {
		s := &d.slots[i]
		s.d = d
		s.stream = streams[i/qd]
		s.buf = d.bufs[i*bs : (i+1)*bs : (i+1)*bs]
		cfg.Pages.fillRandom(s.buf, cfg.Seed+int64(i)+1)
		s.done = s.complete
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
	s.req = impl.Request{Off: op.Off, Done: s.done}
	switch op.Kind {
	case OpRead:
		s.req.Op, s.req.Buf = impl.ReqRead, s.buf[:op.Len]
	case OpWrite:
		s.req.Op, s.req.Buf = impl.ReqWrite, s.buf[:op.Len]
	case OpFlush:
		s.req.Op = impl.ReqFlush
	}
	d.sub.Submit(&s.req)
}

// issue submits slot s's next operation, unless the run has stopped, its
// runtime is up or the slot's stream has ended.
func (d *driver) issue(s *runSlot) {
	if d.stopped {
		return
	}
	if d.deadline != math.MaxInt64 && d.env.clock() >= d.deadline {
		d.stopped = true
		return
	}
	if op, ok := s.stream.Next(); ok {
		d.submit(s, op)
	}
}

// complete is the Done of the slot's requests: it counts r and issues the
// slot's next operation, or stops the run if r failed.
func (s *runSlot) complete(r *impl.Request) {
	d := s.d
	if r.Err != nil {
		if d.firstErr == nil {
			d.firstErr = fmt.Errorf("request %d (%s at %#x+%d): %w", r.ID, r.Op, r.Off, len(r.Buf), r.Err)
		}
		d.stopped = true
		return
	}
	res := &d.res
	res.Ops++
	switch r.Op {
	case impl.ReqRead:
		res.Reads++
		res.Bytes += uint64(len(r.Buf))
	case impl.ReqWrite:
		res.Writes++
		res.Bytes += uint64(len(r.Buf))
	case impl.ReqFlush:
		res.Flushes++
	}
	if d.cfg.ReadBack && r.Op == impl.ReqWrite {
		d.written = append(d.written, span{r.Off, uint64(len(r.Buf))})
	}
	d.lats = append(d.lats, r.DoneNanos-r.SubmitNanos)
	d.last = max(d.last, r.DoneNanos)
	d.issue(s)
}

// loop issues every slot's first operation and runs the image, reopening
// it whenever slots are parked and nothing is in flight, until the run
// ends. It returns the error of a reopen; a request's is in d.firstErr.
func (d *driver) loop() error {
	env := d.env
	for i := range d.slots {
		d.issue(&d.slots[i])
	}
	for {
		env.im.Run()
		if d.firstErr != nil || len(d.parked) == 0 || env.im.InFlight() != 0 {
			return nil
		}
		if d.deadline != math.MaxInt64 && env.clock() >= d.deadline {
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
	res.Nanos = max(d.last-d.start, 0)
	addStats(&res, st)
	res.Submitter = d.sub
	if dev, ok := env.inst.(backends.Device); ok {
		ds := dev.DeviceStats()
		res.Device = &ds
	}
	summarizeLatency(&res, d.lats)
	d.cfg.Pages.putBuffer(d.bufs)
	return res, nil
}
