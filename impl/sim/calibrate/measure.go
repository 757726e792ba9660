package calibrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/qedharness/qedharness/impl"
)

// Kind is what a Cell measures.
type Kind uint8

const (
	// Read reads written space.
	Read Kind = iota
	// Write overwrites written space, as a rewrite does.
	Write
	// FirstWrite writes space grown (OpGrow: fallocate on a file) and
	// never written, as an image's allocating writes do (the image grows
	// its file ahead of allocation and allocates clusters in order): each
	// write goes to the next cluster of the grown space (Config.Cluster),
	// at a random block of it.
	FirstWrite
	// Flush writes a block, waits for it, then flushes, one at a time;
	// only the flush is timed.
	Flush
	// ExtendWrite writes space grown and never written, each write right
	// after the one before (contiguous), as an image's allocating writes
	// do when a write fills its whole cluster: each extends the written
	// space the one before it left, where FirstWrite splits unwritten
	// space (sim.Device.ExtendTime against ConvertTime).
	ExtendWrite
)

// String returns the kind's name as tables print it.
func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case FirstWrite:
		return "first-write"
	case Flush:
		return "flush"
	case ExtendWrite:
		return "extend-write"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Cell is one measurement: Ops I/Os of Kind, Size bytes each, with QD
// in flight from the first submission until the last ones drain. Times
// are nanoseconds of the Target's clock.
type Cell struct {
	Kind Kind
	Size int
	QD   int
	// Ops is the number of I/Os completed (for Flush, of flushes).
	Ops int
	// Elapsed runs from the first submission to the last completion
	// (for Flush, the flushes' times summed).
	Elapsed int64
	// Mean, P25, P50, P75 and P99 describe the latencies, submission to
	// completion.
	Mean, P25, P50, P75, P99 int64
	// Passes is how many times the cell was measured (Config.Passes):
	// the figures above are those of the pass with the median
	// throughput, and Slowest and Fastest the extremes, in I/Os per
	// second.
	Passes           int
	Slowest, Fastest float64
}

// OpsPerSec returns the cell's throughput in I/Os per second, or 0 when
// no time passed.
func (c Cell) OpsPerSec() float64 {
	if c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Ops) * 1e9 / float64(c.Elapsed)
}

// BytesPerSec returns the cell's throughput in bytes per second.
func (c Cell) BytesPerSec() float64 { return c.OpsPerSec() * float64(c.Size) }

// Name names the cell's configuration: "write 4k qd32", "flush".
func (c Cell) Name() string {
	if c.Kind == Flush {
		return "flush"
	}
	return fmt.Sprintf("%s %s qd%d", c.Kind, sizeName(c.Size), c.QD)
}

// sizeName renders n bytes as 4k, 64k, 1m where it divides evenly.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprintf("%d", n)
}

// Config says what Measure measures. Zero fields take the defaults
// named.
type Config struct {
	// Sizes are the transfer sizes in bytes, each a positive multiple of
	// impl.DirectAlign; default 4 KiB, 64 KiB, 1 MiB. The first-write
	// cells use the smallest.
	Sizes []int
	// QDs are the queue depths, each at least 1; default 1, 8, 32. The
	// fit needs queue depth 1.
	QDs []int
	// Region is the bytes of written space the reads and writes address,
	// a multiple of the largest size. Default 256 MiB.
	Region int64
	// Cluster is the stride of the first writes in bytes, the cluster
	// size of the image whose allocating writes they stand for; a
	// multiple of the smallest size. Default 64 KiB, QED's default.
	Cluster int
	// FirstWrites is the most first writes a first-write or an
	// extend-write cell does in a pass; default 2048. The target's image
	// grows past Region by a cluster for each first write and a block
	// (the smallest size) for each extend write: FirstWrites x (Cluster +
	// smallest size) x len(QDs) x Passes bytes (1224 MiB by default).
	FirstWrites int
	// Passes is how many times every cell is measured, each pass
	// measuring them all in turn, so that a cell's passes lie apart in
	// time; a cell is its pass of median throughput. A disk whose speed
	// drifts over seconds (a virtual disk's usually does) is then
	// described by its typical state, not by the moment one short
	// measurement caught. Default 3.
	Passes int
	// Budget is how long each cell issues I/O, in the clock's
	// nanoseconds; default 250 ms. A cell stops issuing once it has used
	// its budget and done MinOps.
	Budget int64
	// MinOps is the fewest I/Os a cell does (flushes: a quarter of it);
	// default 64. A cell never does fewer than four times its queue depth.
	MinOps int
	// MaxOps caps a cell's I/Os; default 1<<20.
	MaxOps int
	// Seed picks the offsets.
	Seed uint64
}

// Defaults returns c with every zero field at its default.
func (c Config) Defaults() Config {
	if len(c.Sizes) == 0 {
		c.Sizes = []int{4 << 10, 64 << 10, 1 << 20}
	}
	if len(c.QDs) == 0 {
		c.QDs = []int{1, 8, 32}
	}
	c.Region = cmp.Or(c.Region, 256<<20)
	c.Cluster = cmp.Or(c.Cluster, 64<<10)
	c.FirstWrites = cmp.Or(c.FirstWrites, 2048)
	c.Passes = cmp.Or(c.Passes, 3)
	c.Budget = cmp.Or(c.Budget, 250e6)
	c.MinOps = cmp.Or(c.MinOps, 64)
	c.MaxOps = cmp.Or(c.MaxOps, 1<<20)
	return c
}

// Check reports what makes c, with its defaults (Defaults), unusable,
// or nil.
func (c Config) Check() error {
	c = c.Defaults()
	var errs []error
	for _, s := range c.Sizes {
		if s <= 0 || s%impl.DirectAlign != 0 {
			errs = append(errs, fmt.Errorf("size %d is not a positive multiple of %d", s, impl.DirectAlign))
		}
	}
	for _, q := range c.QDs {
		if q < 1 {
			errs = append(errs, fmt.Errorf("queue depth %d, want >= 1", q))
		}
	}
	if !slices.Contains(c.QDs, 1) {
		errs = append(errs, errors.New("queue depth 1 missing (the fit needs it)"))
	}
	if largest := int64(slices.Max(append([]int{impl.DirectAlign}, c.Sizes...))); c.Region < largest || c.Region%largest != 0 {
		errs = append(errs, fmt.Errorf("region %d bytes is not a positive multiple of the largest size, %d", c.Region, largest))
	}
	if smallest := slices.Min(append([]int{c.Cluster}, c.Sizes...)); c.Cluster <= 0 || c.Cluster%smallest != 0 {
		errs = append(errs, fmt.Errorf("cluster %d bytes is not a positive multiple of the smallest size, %d", c.Cluster, smallest))
	}
	if c.FirstWrites < 1 || c.FirstWrites > 1<<24 {
		errs = append(errs, fmt.Errorf("%d first writes, want 1 to %d", c.FirstWrites, 1<<24))
	}
	if c.Passes < 1 || c.Passes > 100 {
		errs = append(errs, fmt.Errorf("%d passes, want 1 to 100", c.Passes))
	}
	if c.Budget < 0 || c.MinOps < 1 || c.MaxOps < c.MinOps {
		errs = append(errs, fmt.Errorf("budget %dns, ops %d to %d: want a budget >= 0 and 1 <= min <= max", c.Budget, c.MinOps, c.MaxOps))
	}
	return errors.Join(errs...)
}

// Target is the storage under measurement: its image file, reached
// through Backend, timed by Clock.
type Target struct {
	// Backend carries out the I/O; Measure addresses impl.ImageFile
	// only, grows it, and leaves it open.
	Backend impl.Backend
	// Clock returns the time in nanoseconds: the wall clock for a real
	// backend, the virtual clock for sim.
	Clock func() int64
}

// Result is what Measure measured, in its order: for each size and
// queue depth a read and a write cell, then the flush, then the
// first-write cells and the extend-write cells at the smallest size.
type Result struct {
	Cells []Cell
	// Region is Config.Region.
	Region int64
}

// Find returns the cell of kind, size and queue depth (Flush: any size
// and depth), and whether there is one.
func (r Result) Find(kind Kind, size, qd int) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Kind == kind && (kind == Flush || c.Size == size && c.QD == qd) {
			return c, true
		}
	}
	return Cell{}, false
}

// Measure measures t's image file as cfg says and returns every cell,
// each the median of its passes (Config.Passes). It first grows the
// file to cfg.Region and writes it whole (largest size, queue depth 8)
// and flushes, then grows it by the space every pass's first and extend
// writes need (Config.FirstWrites) and flushes again. It calls
// progress, when not nil, with each cell of each pass as it ends. It stops at ctx's cancellation with ctx's cause, after draining
// what is in flight. An I/O's error ends it with that error, naming the
// cell. Measure is not safe for concurrent use of t.
func Measure(ctx context.Context, t Target, cfg Config, progress func(Cell)) (Result, error) {
	cfg = cfg.Defaults()
	if err := cfg.Check(); err != nil {
		return Result{}, fmt.Errorf("calibrate: %w", err)
	}
	m := &measurer{ctx: ctx, t: t, cfg: cfg}
	res := Result{Region: cfg.Region}
	smallest, largest := slices.Min(cfg.Sizes), slices.Max(cfg.Sizes)
	m.bufs = make([][]byte, max(slices.Max(cfg.QDs), 8))
	for i := range m.bufs {
		m.bufs[i] = impl.AlignedBuffer(largest)
		fillRandom(m.bufs[i], cfg.Seed+uint64(i))
	}

	// Prepare: written space [0, Region), then grown space, a cluster
	// for each first write.
	if err := m.one(impl.OpGrow, uint64(cfg.Region), 0); err != nil {
		return res, fmt.Errorf("calibrate: prepare: %w", err)
	}
	var seq uint64
	fill := phase{kind: Write, size: largest, qd: 8, limit: int(cfg.Region / int64(largest)), whole: true, next: func(*rand.PCG) uint64 {
		off := seq
		seq += uint64(largest)
		return off
	}}
	if _, err := m.run(fill); err != nil {
		return res, fmt.Errorf("calibrate: prepare: %w", err)
	}
	if err := m.one(impl.OpFlush, 0, 0); err != nil {
		return res, fmt.Errorf("calibrate: prepare: %w", err)
	}
	firstSpace := uint64(cfg.Passes * len(cfg.QDs) * cfg.FirstWrites * cfg.Cluster)
	extendSpace := uint64(cfg.Passes * len(cfg.QDs) * cfg.FirstWrites * smallest)
	if err := m.one(impl.OpGrow, uint64(cfg.Region)+firstSpace+extendSpace, 0); err != nil {
		return res, fmt.Errorf("calibrate: prepare: %w", err)
	}
	if err := m.one(impl.OpFlush, 0, 0); err != nil { // the grow's metadata
		return res, fmt.Errorf("calibrate: prepare: %w", err)
	}

	// Every pass measures every cell, in the same order; each pass's
	// first and extend writes fill grown space of their own.
	passes := make([][]Cell, cfg.Passes)
	for pass := range passes {
		firstBase := uint64(cfg.Region) + uint64(pass*len(cfg.QDs)*cfg.FirstWrites*cfg.Cluster)
		extendBase := uint64(cfg.Region) + firstSpace + uint64(pass*len(cfg.QDs)*cfg.FirstWrites*smallest)
		cells, err := m.pass(uint64(pass), firstBase, extendBase, progress)
		if err != nil {
			return res, err
		}
		passes[pass] = cells
	}
	res.Cells = medianCells(passes)
	return res, nil
}

// pass measures every cell once: the reads and writes of each size and
// queue depth, the flushes, then the first writes from firstBase and
// the extend writes from extendBase, one queue depth after another.
func (m *measurer) pass(pass, firstBase, extendBase uint64, progress func(Cell)) ([]Cell, error) {
	cfg := m.cfg
	smallest := slices.Min(cfg.Sizes)
	var cells []Cell
	done := func(c Cell) {
		cells = append(cells, c)
		if progress != nil {
			progress(c)
		}
	}
	seed := func(n int) uint64 { return pass<<32 | uint64(n) }
	cell := 0
	for _, size := range cfg.Sizes {
		slots := uint64(cfg.Region) / uint64(size)
		random := func(r *rand.PCG) uint64 { return r.Uint64() % slots * uint64(size) }
		for _, qd := range cfg.QDs {
			for _, kind := range []Kind{Read, Write} {
				cell++
				c, err := m.run(phase{kind: kind, size: size, qd: qd, limit: cfg.MaxOps, seed: seed(cell), next: random})
				if err != nil {
					return nil, err
				}
				done(c)
			}
		}
	}

	// Flushes, before the first writes leave metadata to commit.
	c, err := m.flushes(smallest, seed(0xf1))
	if err != nil {
		return nil, err
	}
	done(c)

	// First writes: the clusters of the grown space in order, FirstWrites
	// for each queue depth, each at a random block.
	share := cfg.FirstWrites
	blocks := uint64(cfg.Cluster / smallest)
	for i, qd := range cfg.QDs {
		cluster := firstBase + uint64(i*share)*uint64(cfg.Cluster)
		next := func(r *rand.PCG) uint64 {
			off := cluster + r.Uint64()%blocks*uint64(smallest)
			cluster += uint64(cfg.Cluster)
			return off
		}
		c, err := m.run(phase{kind: FirstWrite, size: smallest, qd: qd, limit: min(cfg.MaxOps, share), seed: seed(1000 + i), next: next})
		if err != nil {
			return nil, err
		}
		done(c)
	}

	// Extend writes: the blocks of the rest of the grown space one after
	// another, FirstWrites for each queue depth.
	for i, qd := range cfg.QDs {
		off := extendBase + uint64(i*share*smallest)
		next := func(*rand.PCG) uint64 {
			o := off
			off += uint64(smallest)
			return o
		}
		c, err := m.run(phase{kind: ExtendWrite, size: smallest, qd: qd, limit: min(cfg.MaxOps, share), seed: seed(2000 + i), next: next})
		if err != nil {
			return nil, err
		}
		done(c)
	}
	return cells, nil
}

// medianCells returns, for each cell of the passes (each pass holds the
// same cells in the same order), the pass of median throughput (the
// slower of the two middle ones for an even count), with its Passes,
// Slowest and Fastest set.
func medianCells(passes [][]Cell) []Cell {
	out := make([]Cell, len(passes[0]))
	for i := range out {
		runs := make([]Cell, len(passes))
		for p := range passes {
			runs[p] = passes[p][i]
		}
		slices.SortStableFunc(runs, func(a, b Cell) int { return cmp.Compare(a.OpsPerSec(), b.OpsPerSec()) })
		c := runs[(len(runs)-1)/2]
		c.Passes, c.Slowest, c.Fastest = len(runs), runs[0].OpsPerSec(), runs[len(runs)-1].OpsPerSec()
		out[i] = c
	}
	return out
}

// measurer carries what Measure's phases share.
type measurer struct {
	ctx  context.Context
	t    Target
	cfg  Config
	bufs [][]byte // one per I/O in flight, of the largest size
	id   uint64
}

// phase is one run of I/Os: limit at most, qd in flight, each at the
// offset next draws (from a generator seeded by seed).
type phase struct {
	kind  Kind
	size  int
	qd    int
	limit int
	seed  uint64
	next  func(*rand.PCG) uint64
	// whole does all limit I/Os, whatever the budget.
	whole bool
}

// slot is an I/O of a phase and when it was submitted.
type slot struct {
	io        impl.IO
	submitted int64
}

// run carries out p and returns its cell.
func (m *measurer) run(p phase) (Cell, error) {
	rng := rand.NewPCG(m.cfg.Seed, p.seed)
	op := impl.OpWrite
	if p.kind == Read {
		op = impl.OpRead
	}
	slots := make([]slot, p.qd)
	index := make(map[*impl.IO]int, p.qd)
	for i := range slots {
		index[&slots[i].io] = i
	}
	minOps := max(m.cfg.MinOps, 4*p.qd)
	lats := make([]int64, 0, minOps)
	start := m.t.Clock()
	var last int64
	issued, inflight := 0, 0
	var cause error
	submit := func(i int) {
		m.id++
		s := &slots[i]
		s.io = impl.IO{ID: m.id, Op: op, File: impl.ImageFile, Off: p.next(rng), Buf: m.bufs[i][:p.size]}
		s.submitted = m.t.Clock()
		m.t.Backend.Submit(&s.io)
		issued++
		inflight++
	}
	for i := range min(p.qd, p.limit) {
		submit(i)
	}
	for inflight > 0 {
		io := m.t.Backend.Next()
		if io == nil {
			return Cell{}, fmt.Errorf("calibrate: %s: the backend lost %d I/Os in flight", p.name(), inflight)
		}
		now := m.t.Clock()
		inflight--
		i, ok := index[io]
		if !ok {
			return Cell{}, fmt.Errorf("calibrate: %s: the backend returned an I/O it was not given: %v", p.name(), io)
		}
		if io.Err != nil && cause == nil {
			cause = fmt.Errorf("calibrate: %s: %w", p.name(), io.Err)
		}
		lats = append(lats, now-slots[i].submitted)
		last = now
		if cause == nil && len(lats)%64 == 0 {
			cause = context.Cause(m.ctx)
		}
		more := issued < p.limit && (p.whole || issued < minOps || now-start < m.cfg.Budget)
		if cause == nil && more {
			submit(i)
		}
	}
	if cause != nil {
		return Cell{}, cause
	}
	return summarize(Cell{Kind: p.kind, Size: p.size, QD: p.qd, Elapsed: last - start}, lats), nil
}

// name names the phase as its cell.
func (p phase) name() string { return Cell{Kind: p.kind, Size: p.size, QD: p.qd}.Name() }

// flushes measures flushes, each after a write of size bytes has
// completed, one at a time.
func (m *measurer) flushes(size int, seed uint64) (Cell, error) {
	rng := rand.New(rand.NewPCG(m.cfg.Seed, seed))
	slots := uint64(m.cfg.Region) / uint64(size)
	minOps := max(m.cfg.MinOps/4, 1)
	var lats []int64
	var total int64
	for len(lats) < m.cfg.MaxOps && (len(lats) < minOps || total < m.cfg.Budget) {
		if err := context.Cause(m.ctx); err != nil {
			return Cell{}, err
		}
		if err := m.one(impl.OpWrite, rng.Uint64N(slots)*uint64(size), size); err != nil {
			return Cell{}, fmt.Errorf("calibrate: flush: %w", err)
		}
		start := m.t.Clock()
		if err := m.one(impl.OpFlush, 0, 0); err != nil {
			return Cell{}, fmt.Errorf("calibrate: flush: %w", err)
		}
		lat := m.t.Clock() - start
		lats = append(lats, lat)
		total += lat
	}
	return summarize(Cell{Kind: Flush, Size: 0, QD: 1, Elapsed: total}, lats), nil
}

// one carries out a single I/O and waits for it: op at off, with n
// bytes of the first buffer for a write (OpGrow: off is the new size).
func (m *measurer) one(op impl.IOOp, off uint64, n int) error {
	m.id++
	io := &impl.IO{ID: m.id, Op: op, File: impl.ImageFile, Off: off}
	if op == impl.OpWrite {
		io.Buf = m.bufs[0][:n]
	}
	m.t.Backend.Submit(io)
	got := m.t.Backend.Next()
	switch {
	case got != io:
		return fmt.Errorf("%v: the backend returned %v instead", io, got)
	case io.Err != nil:
		return io.Err
	}
	return nil
}

// summarize fills c's count and latency figures from lats, which it
// sorts.
func summarize(c Cell, lats []int64) Cell {
	c.Ops = len(lats)
	if c.Ops == 0 {
		return c
	}
	slices.Sort(lats)
	var sum int64
	for _, l := range lats {
		sum += l
	}
	c.Mean = sum / int64(len(lats))
	at := func(q float64) int64 { return lats[min(len(lats)-1, int(q*float64(len(lats))))] }
	c.P25, c.P50, c.P75, c.P99 = at(0.25), at(0.50), at(0.75), at(0.99)
	return c
}

// fillRandom fills b with bytes from a generator seeded by seed, so
// that no layer below can compress or skip the data.
func fillRandom(b []byte, seed uint64) {
	r := rand.NewPCG(seed, 0xda7a)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}
