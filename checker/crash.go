package checker

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Crash exploration runs the real engine on impl.ControlledBackend over an
// impl.CrashStore, and crashes it at every I/O completion boundary of
// every completion order it tries (a depth-first search over which pending
// I/O completes next, bounded by CrashConfig.MaxSchedules). At each
// boundary it builds every image the crash can leave: any subset of the
// writes not covered by a completed flush, and of the writes still in
// flight (a device may have persisted them before reporting), lands; the
// rest is lost; with Torn each 512-byte sector is its own unit. Subsets
// are enumerated in full up to MaxUnits units and sampled beyond
// (impl.CrashStore.Crashes). Every distinct crash image is recovered and
// judged by impl.RecoverCrash: reopen (check and repair when need-check is
// set, as QEMU does), every write acknowledged before a completed flush
// reads back, the image checks free of corruptions (leaks counted and
// repaired), and it keeps working after new writes and a reopen.
//
// A flush covers exactly the writes that completed before it was
// submitted (the explorer arms impl.CrashStore.SyncLimit), as the Backend
// contract says.

// CrashConfig bounds one crash exploration.
type CrashConfig struct {
	// Backing gives the image a raw 64 KiB backing file (the first 16
	// guest clusters; every workload cluster but the new-table ones).
	Backing bool
	// Torn makes each sector of a write land or be lost on its own.
	Torn bool
	// MaxUnits is the most units whose subsets are enumerated in full
	// (default 10, at most 20); beyond it a sample is tried.
	MaxUnits int
	// MaxSchedules bounds the completion orders run to the end per
	// workload (default 32).
	MaxSchedules int
}

func (c CrashConfig) withDefaults() CrashConfig {
	if c.MaxUnits <= 0 {
		c.MaxUnits = 10
	}
	c.MaxUnits = min(c.MaxUnits, 20)
	if c.MaxSchedules <= 0 {
		c.MaxSchedules = 32
	}
	return c
}

// CrashRequest is one guest request of a crash workload: a write of
// Sectors 512-byte sectors at guest sector Sector, or a flush.
type CrashRequest struct {
	Flush         bool
	Sector, Count uint64
}

// CrashWorkload is a small workload for crash exploration: Setup writes
// are made and the image closed cleanly first (so the crashed session
// rewrites allocated clusters too); then each phase's requests are
// submitted together, the next phase once every request of the one
// before completed.
type CrashWorkload struct {
	Name   string
	Setup  []CrashRequest
	Phases [][]CrashRequest
}

// crashGeometry is the image the workloads run on: 4 KiB clusters and
// one-cluster (512-entry) tables, 2 MiB per L2 table, 8 MiB of guest.
const (
	crashClusterSize = 4096
	crashImageSize   = 8 << 20
	crashSecPerClu   = crashClusterSize / impl.SectorSize
	// crashBackingSize is the backing file's size: it covers the first
	// 16 guest clusters, and the guest reads zeros past it.
	crashBackingSize = 64 << 10
)

func cw(cluster, sector, count uint64) CrashRequest {
	return CrashRequest{Sector: cluster*crashSecPerClu + sector, Count: count}
}

var crashFlush = CrashRequest{Flush: true}

// CrashWorkloads returns the standard crash workloads.
func CrashWorkloads() []CrashWorkload {
	return []CrashWorkload{
		{Name: "alloc-flush-alloc", Phases: [][]CrashRequest{
			{cw(0, 0, 8)}, {crashFlush}, {cw(1, 2, 2)}, {crashFlush},
		}},
		{Name: "concurrent-alloc-same-table", Phases: [][]CrashRequest{
			{cw(0, 0, 1)}, {crashFlush}, {cw(1, 0, 2), cw(2, 3, 1)}, {crashFlush},
		}},
		{Name: "concurrent-new-tables", Phases: [][]CrashRequest{
			{cw(0, 0, 1)}, {crashFlush}, {cw(512, 0, 1), cw(1024, 1, 2)}, {crashFlush},
		}},
		{Name: "same-cluster", Phases: [][]CrashRequest{
			{cw(3, 0, 1), cw(3, 4, 1)}, {crashFlush}, {cw(3, 0, 1)},
		}},
		{Name: "same-fresh-cluster", Phases: [][]CrashRequest{
			{cw(0, 0, 1)}, {crashFlush}, {cw(3, 0, 1), cw(3, 4, 1)}, {crashFlush},
		}},
		{Name: "rewrite-then-alloc", Setup: []CrashRequest{cw(0, 0, 8), cw(512, 0, 8)}, Phases: [][]CrashRequest{
			{cw(0, 1, 1)}, {crashFlush}, {cw(1, 0, 1), cw(0, 2, 1), crashFlush}, {cw(513, 0, 1)},
		}},
	}
}

// CrashStats are the figures of one crash exploration.
type CrashStats struct {
	// Schedules counts completion orders run to the end; CrashPoints the
	// distinct I/O completion boundaries crashed at (prefixes of those
	// orders).
	Schedules, CrashPoints int
	// Images counts crash images tried (subsets of units landing);
	// Recovered the distinct ones recovered and judged.
	Images, Recovered int
	// NeedCheck counts recovered images with the need-check bit set;
	// Leaks the leaked clusters found in them before recovery.
	NeedCheck, Leaks int
	// Violations counts distinct crash images that broke a promise for a
	// reason KnownCrashIssue does not explain; Known counts the others by
	// class.
	Violations int
	Known      map[string]int
	// Truncated says MaxSchedules cut the search short.
	Truncated bool
}

func (s *CrashStats) add(o CrashStats) {
	s.Schedules += o.Schedules
	s.CrashPoints += o.CrashPoints
	s.Images += o.Images
	s.Recovered += o.Recovered
	s.NeedCheck += o.NeedCheck
	s.Leaks += o.Leaks
	s.Violations += o.Violations
	s.Truncated = s.Truncated || o.Truncated
	for k, n := range o.Known {
		if s.Known == nil {
			s.Known = map[string]int{}
		}
		s.Known[k] += n
	}
}

// CrashViolation is one broken durability promise with its trace.
type CrashViolation struct {
	Policy, Workload string
	// Known is the KnownCrashIssue class, or "".
	Known string
	// Trace lists the completions before the crash, then what landed.
	Trace []string
	// Err is what recovery found.
	Err error
}

// String renders the violation with its trace.
func (v *CrashViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s, workload %s", v.Policy, v.Workload)
	if v.Known != "" {
		fmt.Fprintf(&b, " (known issue %s)", v.Known)
	}
	fmt.Fprintf(&b, ": %v\n", v.Err)
	for _, l := range v.Trace {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// CrashResult is the outcome of ExploreCrashes for one policy.
type CrashResult struct {
	Policy string
	Expect model.Verdict
	Stats  CrashStats
	// ByWorkload holds the figures per workload.
	ByWorkload map[string]CrashStats
	// Shortest is the violation with the shortest trace (unknown causes
	// first), or nil; FirstKnown the first of a known class.
	Shortest, FirstKnown *CrashViolation
}

// ExploreCrashes runs every workload under reg's policy.
func ExploreCrashes(reg model.Registration, workloads []CrashWorkload, cfg CrashConfig) (*CrashResult, error) {
	cfg = cfg.withDefaults()
	res := &CrashResult{Policy: reg.Name, Expect: reg.Expect, ByWorkload: map[string]CrashStats{}}
	for _, w := range workloads {
		x := &crashExplorer{reg: reg, w: w, cfg: cfg, seen: map[uint64]bool{}, res: res}
		if cfg.Backing {
			x.backing = impl.CrashBacking(crashBackingSize)
		}
		if err := x.explore(nil); err != nil {
			return nil, fmt.Errorf("crash exploration %s/%s: %w", reg.Name, w.Name, err)
		}
		res.ByWorkload[w.Name] = x.stats
		res.Stats.add(x.stats)
	}
	return res, nil
}

// crashExplorer searches one workload under one policy.
type crashExplorer struct {
	reg     model.Registration
	w       CrashWorkload
	cfg     CrashConfig
	backing []byte
	seen    map[uint64]bool // crash states judged
	stats   CrashStats
	res     *CrashResult
}

// crashRun is one run of the workload, replayed along a schedule.
type crashRun struct {
	cs     *impl.CrashStore
	be     *impl.ControlledBackend
	im     *impl.Image
	l      *impl.CrashLedger
	ios    map[uint64]*impl.IO // every I/O submitted, by ID
	marks  map[uint64]uint64   // flush I/O ID -> CrashStore mark at submission
	phase  int
	open   int // requests of the current phase not yet done
	nextID uint64
	failed error
	trace  []string
}

// crashRecorder is the Backend the image sees: it records every I/O so the
// explorer knows the data of writes in flight and where each flush's
// coverage ends, and passes everything to the controlled backend.
type crashRecorder struct{ r *crashRun }

func (b crashRecorder) Submit(io *impl.IO) {
	r := b.r
	r.ios[io.ID] = io
	if io.Op == impl.OpFlush {
		r.marks[io.ID] = r.cs.Mark()
	}
	r.be.Submit(io)
}
func (b crashRecorder) Next() *impl.IO { return b.r.be.Next() }
func (b crashRecorder) Close() error   { return b.r.be.Close() }

func (x *crashExplorer) start() (*crashRun, error) {
	mem := impl.NewMemStorage()
	opts := impl.CreateOptions{ClusterSize: crashClusterSize, TableSize: 1}
	files := impl.Files{Image: mem}
	if x.backing != nil {
		opts.BackingFile = "backing.raw"
		files.Backing = impl.NewMemStorageFrom(x.backing)
	}
	if err := impl.Create(mem, crashImageSize, opts); err != nil {
		return nil, err
	}
	r := &crashRun{l: &impl.CrashLedger{Backing: x.backing != nil}, ios: map[uint64]*impl.IO{}, marks: map[uint64]uint64{}, nextID: 1}
	if len(x.w.Setup) > 0 {
		im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: x.reg.Policy})
		if err != nil {
			return nil, err
		}
		for _, q := range x.w.Setup {
			id := r.nextID
			r.nextID++
			off, n := q.Sector*impl.SectorSize, q.Count*impl.SectorSize
			r.l.Submitted(id, off, n)
			if _, err := im.WriteAt(impl.CrashData(id, off, n), int64(off)); err != nil {
				return nil, err
			}
			r.l.Completed(id)
		}
		r.l.FlushCompleted(r.l.FlushSubmitted())
		if err := im.Close(); err != nil {
			return nil, err
		}
	}
	cs, err := impl.NewCrashStore(mem)
	if err != nil {
		return nil, err
	}
	r.cs = cs
	files.Image = cs
	r.be = impl.NewControlledBackend(files)
	im, err := impl.Open(files, crashRecorder{r}, impl.Options{Policy: x.reg.Policy})
	if err != nil {
		return nil, err
	}
	r.im = im
	r.phase = -1
	r.advance(x.w)
	return r, nil
}

// advance submits the next phase once the current one is done.
func (r *crashRun) advance(w CrashWorkload) {
	for r.open == 0 && r.phase+1 < len(w.Phases) {
		r.phase++
		for _, q := range w.Phases[r.phase] {
			r.submit(q)
		}
	}
}

func (r *crashRun) submit(q CrashRequest) {
	r.open++
	if q.Flush {
		mark := r.l.FlushSubmitted()
		r.trace = append(r.trace, "submit flush")
		r.im.Submit(&impl.Request{Op: impl.ReqFlush, Done: func(req *impl.Request) {
			r.open--
			if req.Err != nil {
				r.failed = req.Err
				return
			}
			r.l.FlushCompleted(mark)
			r.trace = append(r.trace, "  flush done")
		}})
		return
	}
	id := r.nextID
	r.nextID++
	off, n := q.Sector*impl.SectorSize, q.Count*impl.SectorSize
	r.l.Submitted(id, off, n)
	r.trace = append(r.trace, fmt.Sprintf("submit write %d: guest %#x+%d", id, off, n))
	r.im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: impl.CrashData(id, off, n), Done: func(req *impl.Request) {
		r.open--
		if req.Err != nil {
			r.failed = req.Err
			return
		}
		r.l.Completed(id)
		r.trace = append(r.trace, fmt.Sprintf("  write %d done", id))
	}})
}

// complete completes pending I/O id and lets the engine process it.
func (r *crashRun) complete(id uint64, w CrashWorkload) error {
	io := r.ios[id]
	if io != nil && io.Op == impl.OpFlush {
		r.cs.SyncLimit(r.marks[id])
	}
	r.trace = append(r.trace, "complete "+io.String())
	if err := r.be.Complete(id); err != nil {
		return err
	}
	if !r.im.Step() {
		return fmt.Errorf("no I/O completed after completing %d", id)
	}
	r.advance(w)
	return r.failed
}

// inFlight returns the image writes pending on the backend, oldest first.
func (r *crashRun) inFlight() []impl.CrashWrite {
	var out []impl.CrashWrite
	for _, p := range r.be.Pending() {
		if p.Op == impl.OpWrite && p.File == impl.ImageFile {
			io := r.ios[p.ID]
			out = append(out, impl.CrashWrite{Off: int64(io.Off), Data: append([]byte(nil), io.Buf...)})
		}
	}
	return out
}

// explore replays schedule on a fresh run, crashes at its end in every
// way, and recurses into every pending completion.
func (x *crashExplorer) explore(schedule []uint64) error {
	if x.stats.Schedules >= x.cfg.MaxSchedules {
		x.stats.Truncated = true
		return nil
	}
	r, err := x.start()
	if err != nil {
		return err
	}
	for _, id := range schedule {
		if err := r.complete(id, x.w); err != nil {
			return fmt.Errorf("replay %v: %w", schedule, err)
		}
	}
	x.stats.CrashPoints++
	if err := x.crashAll(r); err != nil {
		return err
	}
	pending := r.be.Pending()
	if len(pending) == 0 {
		x.stats.Schedules++
		if r.open != 0 || r.phase+1 < len(x.w.Phases) {
			return fmt.Errorf("schedule %v: %d requests stuck with no I/O pending", schedule, r.open)
		}
		return nil
	}
	for _, p := range pending {
		if err := x.explore(append(schedule[:len(schedule):len(schedule)], p.ID)); err != nil {
			return err
		}
	}
	return nil
}

// crashAll crashes r in every way the bounds allow and judges each new
// crash state.
func (x *crashExplorer) crashAll(r *crashRun) error {
	var herr error
	ledgerKey := ledgerHash(r.l)
	x.stats.Images += r.cs.Crashes(r.inFlight(), x.cfg.Torn, x.cfg.MaxUnits, func(img []byte, units []impl.CrashUnit, land []bool) bool {
		h := fnv.New64a()
		h.Write(img)
		key := h.Sum64() ^ ledgerKey
		if x.seen[key] {
			return true
		}
		x.seen[key] = true
		x.stats.Recovered++
		rec, err := impl.RecoverCrash(img, x.backing, r.l, x.reg.Policy)
		if rec.NeedCheck {
			x.stats.NeedCheck++
		}
		x.stats.Leaks += rec.Before.Leaks
		var v *impl.CrashViolation
		if err != nil && !errors.As(err, &v) {
			herr = err
			return false
		}
		if err == nil {
			return true
		}
		cv := &CrashViolation{Policy: x.reg.Name, Workload: x.w.Name, Known: impl.KnownCrashIssue(err, rec, img), Err: err}
		cv.Trace = append(append([]string(nil), r.trace...), describeLanding(r, units, land)...)
		if cv.Known != "" {
			if x.stats.Known == nil {
				x.stats.Known = map[string]int{}
			}
			x.stats.Known[cv.Known]++
			if x.res.FirstKnown == nil || len(cv.Trace) < len(x.res.FirstKnown.Trace) {
				x.res.FirstKnown = cv
			}
			return true
		}
		x.stats.Violations++
		if x.res.Shortest == nil || len(cv.Trace) < len(x.res.Shortest.Trace) {
			x.res.Shortest = cv
		}
		return true
	})
	return herr
}

// describeLanding says which units of the crash landed.
func describeLanding(r *crashRun, units []impl.CrashUnit, land []bool) []string {
	out := []string{"CRASH; of the writes not covered by a completed flush:"}
	nlog := len(r.cs.Unflushed())
	for i, u := range units {
		where := "completed"
		if u.Write >= nlog {
			where = "in flight"
		}
		verb := "lost"
		if land[i] {
			verb = "landed"
		}
		out = append(out, fmt.Sprintf("  %s write at %#x+%d (%s)", where, u.Off, len(u.Data), verb))
	}
	return out
}

// ledgerHash hashes what the ledger allows per sector, so the same image
// under different promises is judged again.
func ledgerHash(l *impl.CrashLedger) uint64 {
	h := fnv.New64a()
	for _, s := range l.Sectors() {
		allowed, promised := l.Allowed(s)
		sort.Slice(allowed, func(i, j int) bool { return allowed[i] < allowed[j] })
		fmt.Fprint(h, s, allowed, promised, ";")
	}
	return h.Sum64()
}
