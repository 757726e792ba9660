package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// Matrix runs policies x workloads x queue depths x backends (x sim
// devices), repeated. Zero fields other than the lists take defaults.
type Matrix struct {
	// Policies, Plans and QDs are the dimensions; none may be empty.
	Policies []model.Registration
	Plans    []*Plan
	QDs      []int
	// JobDepths runs each plan whose job asks for a queue depth
	// (Plan.JobQD: it sets iodepth, or has a synchronous ioengine) at
	// that depth alone instead of at QDs, as runbench does without -qd.
	JobDepths bool
	// Backends lists names of registered backends (impl/backends); empty
	// means sim.
	Backends []string
	// Devices are the devices simulated on the sim backend; empty means
	// the nvme preset.
	Devices []sim.Device
	// Repeat is the number of measured repetitions of each configuration
	// (default 3); Warmup the number of rounds run first and discarded
	// (0 means none; runbench passes 1).
	Repeat, Warmup int
	// Seed is the base seed: measured repetition k (from 1) uses seed
	// Seed+k-1, warm-up rounds use the seeds after the last repetition's.
	// All configurations of one repetition share its seed, so policies
	// are compared on the same streams.
	Seed int64
	// Parallel is how many sim runs go at once (default GOMAXPROCS); sim
	// figures are in virtual time, so running them together changes
	// nothing. Wall-clock backends always run one at a time.
	Parallel int
	// Dir and File configure the file backend (see RunConfig).
	Dir  string
	File file.Options
	// FileSystem names the file system of Dir for records; "" means
	// "file".
	FileSystem string
	// Baselines lists the baselines (results.BaselineNames) to run beside the
	// policies on the file backend, with the qemu-img at QemuImg; each
	// appears in records as a policy of that name. Workloads qemu-img
	// bench cannot express are left out (see BaselineNotes).
	Baselines []string
	QemuImg   string
	// Wrap, if not nil, wraps each run's image (see RunConfig.Wrap).
	Wrap func(c results.Config, p *Plan, open history.Opener) (Submitter, error)
	// Verify, if not nil, judges each measured run's history and returns
	// whether it was linearizable; nil means not checked. It is called
	// from the goroutine that made the run, so sim runs verify in
	// parallel. VerifyRepeats limits it to repetitions 1..VerifyRepeats
	// (0: every repetition); ReadBack sets RunConfig.ReadBack, for runs
	// whose history is recorded.
	Verify        func(c results.Config, repeat int, res *Result) (Verification, error)
	VerifyRepeats int
	// VerifyQD, if not 0, limits Verify to configurations at that queue
	// depth, and to a plan's only depth when it runs at one (JobDepths).
	VerifyQD int
	ReadBack bool
	// Progress, if not nil, is called after every run (warm-ups too),
	// from one goroutine at a time.
	Progress func(Progress)
	// WallClock is the clock of wall-time backends and of the records'
	// harness time; nil means the monotonic clock.
	WallClock func() int64
	// Include, if not nil, limits the runs to the configurations it
	// returns true for: one shard of the matrix. The schedule stays the
	// whole matrix's (its shuffled order, every run's seed), so the runs
	// made are exactly those the whole matrix makes of these
	// configurations, and on sim their records are the same.
	Include func(results.Config) bool
}

// RunKey names a measured run of a matrix: its configuration and
// repetition.
type RunKey struct {
	Config results.Config
	Repeat int
}

// MeasuredOrder returns every measured run of the whole matrix (Include
// ignored), in the order Run returns their records: the order a merge of
// shards puts their records back in.
func (m *Matrix) MeasuredOrder() []RunKey {
	whole := *m
	whole.Include = nil
	var out []RunKey
	for _, s := range whole.schedule() {
		if s.repeat > 0 {
			out = append(out, RunKey{s.cfg, s.repeat})
		}
	}
	return out
}

// BaselineNotes says, for each workload, why its baselines were left out
// or how they differ from the workload; nil without baselines or without
// the file backend.
func (m *Matrix) BaselineNotes() []string {
	if len(m.Baselines) == 0 || !slices.ContainsFunc(m.Backends, backends.InFiles) {
		return nil
	}
	return BaselineNotes(m.Plans)
}

// BaselineNotes says, for each plan, how the qemu-img bench baselines
// differ from it, or why it has none.
func BaselineNotes(plans []*Plan) []string {
	var notes []string
	for _, p := range plans {
		_, note, err := BenchArgs(p, 1)
		switch {
		case err != nil && CheckBaseline(results.BaselineRaw, p, 1) == nil:
			notes = append(notes, fmt.Sprintf("%s: no qemu-img bench baseline (%v); raw runs the workload's own operations", p.Name(), err))
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s: no baseline: %v", p.Name(), err))
		case note != "":
			notes = append(notes, fmt.Sprintf("%s: baselines run %s", p.Name(), note))
		}
	}
	return notes
}

// Verification is what Matrix.Verify found in a run's history.
type Verification struct {
	// Linearizable is the verdict, nil when the check could not decide.
	Linearizable *bool
	// Counterexample names a file (relative to the results directory)
	// holding the shortest failing history, when not linearizable.
	Counterexample string
	// Note says why there is no verdict, when Linearizable is nil.
	Note string
}

// Progress reports a finished run.
type Progress struct {
	// Done runs out of Total, counting warm-ups.
	Done, Total int
	// Config and Repeat (0 or less for a warm-up) name the run.
	Config results.Config
	Repeat int
}

// slot is one scheduled run.
type slot struct {
	cfg    results.Config
	plan   *Plan
	policy model.Policy
	dev    sim.Device
	repeat int // 1..Repeat measured, <= 0 warm-up
	seed   int64
	index  int // position in the schedule
}

// deviceName is the Device of a configuration on backend b: the device
// simulated, "ram", or the file system the files are on.
func (m *Matrix) deviceName(b string, d sim.Device) string {
	spec, _ := backends.Lookup(b)
	switch {
	case spec.Virtual:
		return d.Name
	case spec.Storage == backends.Memory:
		return "ram"
	case m.FileSystem != "":
		return m.FileSystem
	}
	return "file"
}

// Configs returns every configuration, in table order: workload, backend,
// device, queue depth, policy.
func (m *Matrix) Configs() []results.Config {
	var out []results.Config
	m.each(func(c results.Config, _ *Plan, _ model.Policy, _ sim.Device) { out = append(out, c) })
	return out
}

func (m *Matrix) each(fn func(results.Config, *Plan, model.Policy, sim.Device)) {
	names := m.Backends
	if len(names) == 0 {
		names = []string{results.BackendSim}
	}
	for _, p := range m.Plans {
		for _, b := range names {
			devs := []sim.Device{{}}
			if backends.Virtual(b) {
				devs = m.devices()
			}
			for _, d := range devs {
				for _, qd := range m.QDsOf(p) {
					for _, reg := range m.Policies {
						fn(results.Config{Policy: reg.Name, Workload: p.Name(), QD: qd, Backend: b, Device: m.deviceName(b, d)}, p, reg.Policy, d)
					}
					if !backends.InFiles(b) {
						continue
					}
					for _, base := range m.Baselines {
						if CheckBaseline(base, p, qd) == nil {
							fn(results.Config{Policy: base, Workload: p.Name(), QD: qd, Backend: b, Device: m.deviceName(b, d)}, p, nil, d)
						}
					}
				}
			}
		}
	}
}

// QDsOf returns the queue depths plan p runs at: QDs, or with JobDepths
// the depth p's job asks for, if it asks for one.
func (m *Matrix) QDsOf(p *Plan) []int {
	if m.JobDepths {
		if qd, ok := p.JobQD(); ok {
			return []int{qd}
		}
	}
	return m.QDs
}

func (m *Matrix) devices() []sim.Device {
	if len(m.Devices) > 0 {
		return m.Devices
	}
	d, _ := sim.Preset("nvme")
	return []sim.Device{d}
}

func (m *Matrix) repeat() int {
	if m.Repeat <= 0 {
		return 3
	}
	return m.Repeat
}

// schedule returns the runs in the order they are made: Warmup rounds,
// then Repeat rounds, each round running every configuration once in an
// order shuffled from the seed, so repetitions interleave (A B A B, never
// A A B B) and no configuration always runs first.
func (m *Matrix) schedule() []slot {
	type entry struct {
		cfg    results.Config
		plan   *Plan
		policy model.Policy
		dev    sim.Device
	}
	var entries []entry
	m.each(func(c results.Config, p *Plan, pol model.Policy, d sim.Device) {
		entries = append(entries, entry{c, p, pol, d})
	})
	rounds := m.Warmup + m.repeat()
	rng := rand.New(rand.NewPCG(uint64(m.Seed), 0x5eed5c4ed))
	var out []slot
	for r := range rounds {
		order := rng.Perm(len(entries))
		repeat := r - m.Warmup + 1
		seed := m.Seed + int64(repeat) - 1
		if repeat <= 0 {
			seed = m.Seed + int64(m.repeat()) + int64(r)
		}
		for _, i := range order {
			e := entries[i]
			if m.Include != nil && !m.Include(e.cfg) {
				continue
			}
			out = append(out, slot{cfg: e.cfg, plan: e.plan, policy: e.policy, dev: e.dev, repeat: repeat, seed: seed, index: len(out)})
		}
	}
	return out
}

// Validate reports what makes m unusable.
func (m *Matrix) Validate() error {
	var errs []error
	if len(m.Policies) == 0 {
		errs = append(errs, errors.New("no policies"))
	}
	if len(m.Plans) == 0 {
		errs = append(errs, errors.New("no workloads"))
	}
	if len(m.QDs) == 0 {
		errs = append(errs, errors.New("no queue depths"))
	}
	for _, p := range m.Plans {
		for _, qd := range m.QDsOf(p) {
			if qd < 1 || qd > MaxQD {
				errs = append(errs, fmt.Errorf("queue depth %d not in [1, %d]", qd, MaxQD))
				continue
			}
			if err := p.CheckQD(qd); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range m.Plans {
		if err := p.CheckLimits(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range m.Backends {
		if _, err := backends.Lookup(b); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range m.Devices {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range m.Baselines {
		if !results.IsMatrixBaseline(b) {
			errs = append(errs, fmt.Errorf("unknown baseline %q (want %s)", b, strings.Join(results.BaselineNames(), ", ")))
		}
	}
	if m.QemuImg == "" && slices.ContainsFunc(m.Baselines, viaQemuImg) {
		errs = append(errs, errors.New("baselines through qemu-img bench need qemu-img"))
	}
	switch {
	case m.Warmup < 0:
		errs = append(errs, errors.New("negative warm-up"))
	case m.Repeat > MaxRuns || m.Warmup > MaxRuns:
		errs = append(errs, fmt.Errorf("%d repetitions and %d warm-up rounds: more than the limit of %d runs", m.Repeat, m.Warmup, MaxRuns))
	default:
		if n := len(m.Configs()) * (m.Warmup + m.repeat()); n > MaxRuns {
			errs = append(errs, fmt.Errorf("%d configurations x (%d repetitions + %d warm-up) = %d runs, more than the limit of %d",
				len(m.Configs()), m.repeat(), m.Warmup, n, MaxRuns))
		}
	}
	seen := map[string]bool{}
	for _, p := range m.Plans {
		if seen[p.Name()] {
			errs = append(errs, fmt.Errorf("workload %q listed twice", p.Name()))
		}
		seen[p.Name()] = true
	}
	return errors.Join(errs...)
}

// Run makes every scheduled run and returns the records of the measured
// ones, in schedule order. A run that fails is recorded with its error
// and the matrix goes on; Run itself fails only if the matrix is invalid.
func (m *Matrix) Run() ([]results.Record, error) { return m.RunContext(context.Background()) }

// RunContext is Run, stopped early when ctx is done: no run starts after
// that, the runs under way finish (they clean up after themselves), and
// it returns the records made so far with context.Cause(ctx).
func (m *Matrix) RunContext(ctx context.Context) ([]results.Record, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	wall := m.WallClock
	if wall == nil {
		t0 := time.Now()
		wall = func() int64 { return int64(time.Since(t0)) }
	}
	sched := m.schedule()
	pages := &PagePool{}
	records := make([]*results.Record, len(sched))
	var mu sync.Mutex
	done := 0
	finish := func(s slot, rec *results.Record) {
		mu.Lock()
		defer mu.Unlock()
		if s.repeat > 0 {
			records[s.index] = rec
		}
		done++
		if m.Progress != nil {
			m.Progress(Progress{Done: done, Total: len(sched), Config: s.cfg, Repeat: s.repeat})
		}
	}
	var simSlots, wallSlots []slot
	for _, s := range sched {
		if backends.Virtual(s.cfg.Backend) {
			simSlots = append(simSlots, s)
		} else {
			wallSlots = append(wallSlots, s)
		}
	}
	workers := m.Parallel
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	next := make(chan slot)
	var wg sync.WaitGroup
	for range min(workers, len(simSlots)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A pool per worker: a shared one's lock cost more than
			// the memory it saved.
			pages := &PagePool{}
			for s := range next {
				finish(s, m.runOne(s, wall, pages))
			}
		}()
	}
feed:
	for _, s := range simSlots {
		select {
		case next <- s:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, s := range wallSlots {
		if ctx.Err() != nil {
			break
		}
		finish(s, m.runWall(s, wall, pages))
	}
	out := make([]results.Record, 0, len(sched))
	for _, r := range records {
		if r != nil {
			out = append(out, *r)
		}
	}
	if ctx.Err() != nil {
		return out, context.Cause(ctx)
	}
	return out, nil
}

// runWall makes a run measured in wall-clock time once the runs before it
// are done with the machine: the file system has finished their work
// (file.Settle: write-back, journal commits, the discards of the files
// they deleted) and their garbage is collected (as testing.B does before
// each benchmark), so that neither lands in this run's measured window.
func (m *Matrix) runWall(s slot, wall func() int64, pages *PagePool) *results.Record {
	if m.Dir != "" {
		if err := file.Settle(m.Dir); err != nil {
			rec := NewRecord(s.cfg, s.repeat, s.seed, &Result{})
			rec.Error = err.Error()
			return rec
		}
	}
	runtime.GC()
	return m.runOne(s, wall, pages)
}

// runOne makes one run and turns it into a record.
func (m *Matrix) runOne(s slot, wall func() int64, pages *PagePool) *results.Record {
	cfg := RunConfig{
		Plan: s.plan, Policy: s.policy, Backend: s.cfg.Backend, Device: s.dev,
		QD: s.cfg.QD, JobDepths: m.JobDepths, Seed: s.seed, Dir: m.Dir, File: m.File, WallClock: wall, Pages: pages,
		ReadBack: m.ReadBack && m.verifies(s),
	}
	if m.Wrap != nil && m.verifies(s) {
		cfg.Wrap = func(open history.Opener) (Submitter, error) { return m.Wrap(s.cfg, s.plan, open) }
	}
	t0 := wall()
	var res Result
	var err error
	if results.IsBaseline(s.cfg.Policy) {
		res, err = RunBaseline(BaselineConfig{QemuImg: m.QemuImg, Baseline: s.cfg.Policy, Plan: s.plan, QD: s.cfg.QD, Dir: m.Dir,
			Direct: m.File.Direct, AIO: m.File.AIO.String(), Seed: s.seed, Workers: m.File.Workers})
	} else {
		res, err = Run(cfg)
	}
	if s.repeat <= 0 {
		res.Latency = nil // a warm-up's record is dropped: spare encoding its histogram
	}
	rec := NewRecord(s.cfg, s.repeat, s.seed, &res)
	rec.Expect = expectOf(m.Policies, s.cfg.Policy)
	if results.IsBaseline(s.cfg.Policy) {
		rec.Check = "-"
		rec.Note = BaselineNote(s.cfg.Policy, s.plan)
	} else {
		rec.Scheme = s.plan.job.Scheme()
	}
	if err != nil {
		rec.Error = err.Error()
	} else if m.Verify != nil && m.verifies(s) && !results.IsBaseline(s.cfg.Policy) {
		c0 := wall()
		v, verr := m.Verify(s.cfg, s.repeat, &res)
		rec.CheckWallSeconds = float64(wall()-c0) / 1e9
		if verr != nil {
			rec.Error = "linearizability check: " + verr.Error()
		}
		rec.Linearizable, rec.Counterexample, rec.LinearizabilityNote = v.Linearizable, v.Counterexample, v.Note
	}
	rec.WallSeconds = float64(wall()-t0) / 1e9
	return rec
}

// verifies reports whether the run of s is wrapped and verified.
func (m *Matrix) verifies(s slot) bool { return m.verifiesRun(s.plan, s.cfg.QD, s.repeat) }

// verifiesRun reports whether repetition repeat (0 or less: a warm-up)
// of plan p at queue depth qd is wrapped and verified.
func (m *Matrix) verifiesRun(p *Plan, qd, repeat int) bool {
	return repeat > 0 && (m.VerifyRepeats == 0 || repeat <= m.VerifyRepeats) &&
		(m.VerifyQD == 0 || qd == m.VerifyQD || len(m.QDsOf(p)) == 1)
}

func expectOf(regs []model.Registration, name string) string {
	for _, r := range regs {
		if r.Name == name {
			return r.Expect.String()
		}
	}
	return ""
}
