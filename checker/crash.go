package checker

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/controlled"
	"github.com/qedharness/qedharness/model"
)

// Crash exploration runs the real engine on controlled.Backend over an
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
// contract says. Writes in flight together to the same bytes land in
// either order (the Backend contract again): when in-flight writes
// overlap, the crash images of every order of the overlapping ones are
// tried.
//
// Reduction. Unless CrashConfig.NoReduction is set, the search prunes in
// two ways, neither of which loses a crash image:
//
//   - Sleep sets over completion orders (the partial-order reduction the
//     implementation explorer uses, explore_impl.go): after the subtree
//     that completes I/O a first has been explored, a sibling order that
//     completes b first does not complete a while only I/Os independent
//     of a have completed since, since that order reaches only states
//     the first subtree reached. Two completions are independent when
//     their footprints commute (impl.Footprint.Commutes: disjoint bytes,
//     disjoint engine state) and neither writes the image while the
//     other submits a flush, which would cover the write in one order
//     and not in the other (see independent). A sleep-set
//     search still reaches every state a full search reaches (it prunes
//     transitions, not states; Godefroid, 1996, ch. 5), so every crash
//     point's state is crashed. That state is the same for both orders as
//     far as crashes go: storage and the engine are the same by the
//     footprint contract; the CrashStore log holds the same writes, two
//     of them swapped, which write disjoint bytes, so every subset lands
//     the same image; a flush's coverage is a count of writes logged
//     before its submission, the same in either order; in-flight writes
//     are the same set, and their order matters only where they overlap,
//     which is why overlapping ones are tried in every order (up to six
//     of them; past that a sample, and the guarantee holds up to it, as
//     it does up to the MaxUnits sample of subsets); and the
//     ledger's promises depend only on counts of completions at each
//     submission and each flush, not on which of two adjacent
//     completions came first. The workload is the one input outside the
//     footprint contract: a completion that may finish the last open
//     request of a phase submits the next phase, which enters the engine,
//     so such a completion is given impl.EngineFootprint's conflicts too.
//     With MaxSchedules cutting the search short the reduced and the full
//     search cover different parts of the space; the guarantee is for a
//     search that runs to the end.
//   - Crash-state deduplication: a crash point whose crash state (the
//     CrashStore's durable image, unflushed writes and in-flight writes,
//     impl.CrashStore.Fingerprint, and what the ledger allows and
//     promises per sector) was crashed before gives the same crash images
//     judged against the same promises, so it is counted and skipped.
//
// TestCrashReductionSound checks, on configurations small enough to run
// to the end, that both searches judge the same set of crash states.

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
	// NoReduction turns off the sleep-set reduction of completion orders
	// and the deduplication of crash states (see the package comment on
	// crash exploration), exploring orders as they come.
	NoReduction bool
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
	// I/O completion boundaries reached (prefixes of the orders tried),
	// each crashed unless the reduction found its crash state crashed
	// before (DupCrashStates).
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
	// Pruned counts completions the sleep-set reduction did not take;
	// Asleep the orders it ended early, every pending completion being
	// asleep; DupCrashStates the crash points not crashed because their
	// crash state had been crashed before. All three are 0 with
	// NoReduction.
	Pruned, Asleep, DupCrashStates int
	// Reordered counts crash points with overlapping in-flight writes,
	// crashed once per order of the overlapping ones.
	Reordered int
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
	s.Pruned += o.Pruned
	s.Asleep += o.Asleep
	s.DupCrashStates += o.DupCrashStates
	s.Reordered += o.Reordered
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

	// judged holds, per workload, the keys of the crash images judged
	// (image and ledger hashes), for tests comparing searches.
	judged map[string]map[uint64]bool
}

// ExploreCrashes runs every workload under reg's policy.
func ExploreCrashes(reg model.Registration, workloads []CrashWorkload, cfg CrashConfig) (*CrashResult, error) {
	cfg = cfg.withDefaults()
	res := &CrashResult{Policy: reg.Name, Expect: reg.Expect, ByWorkload: map[string]CrashStats{}}
	for _, w := range workloads {
		x := &crashExplorer{reg: reg, w: w, cfg: cfg, seen: map[uint64]bool{}, states: map[uint64]bool{}, res: res}
		if cfg.Backing {
			x.backing = impl.CrashBacking(crashBackingSize)
		}
		if _, err := x.explore(nil, crashMove{}, nil, nil); err != nil {
			return nil, fmt.Errorf("crash exploration %s/%s: %w", reg.Name, w.Name, err)
		}
		res.ByWorkload[w.Name] = x.stats
		res.Stats.add(x.stats)
		if res.judged == nil {
			res.judged = map[string]map[uint64]bool{}
		}
		res.judged[w.Name] = x.seen
	}
	return res, nil
}

// crashExplorer searches one workload under one policy.
type crashExplorer struct {
	reg     model.Registration
	w       CrashWorkload
	cfg     CrashConfig
	backing []byte
	seen    map[uint64]bool // crash images judged, with the ledger's promises
	states  map[uint64]bool // crash states crashed (reduction only)
	stats   CrashStats
	res     *CrashResult
}

// crashRun is one run of the workload, replayed along a schedule.
type crashRun struct {
	cs     *impl.CrashStore
	be     *controlled.Backend
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
	r.be = controlled.New(files)
	im, err := impl.Open(files, crashRecorder{r}, impl.Options{Policy: x.reg.Policy})
	if err != nil {
		return nil, err
	}
	r.be.Attach(im.Engine()) // finer footprints for the reduction
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

// sleeper is a completion the reduction holds back (a sleep-set entry):
// the pending I/O ID, whether it writes the image, and whether its
// completion, when it was taken, submitted a flush.
type sleeper struct {
	id           uint64
	write, flush bool
}

// crashMove is a pending completion as the reduction sees it.
type crashMove struct {
	sleeper
	fp impl.Footprint
}

// independent reports whether completing m and s in either order leads
// to the same crash states: their footprints commute, and neither writes
// the image while the other submits a flush (the flush would cover the
// write in one order and not in the other). Whether a completion submits
// a flush is seen when it is taken: for m here, since explore replays m
// before it decides what sleeps below it; for s when it was taken at an
// ancestor. The footprint contract keeps s doing the same since, except
// for what the workload adds (a completion that now may finish a phase
// submits the next one); such a completion has Requests in its footprint
// as computed here (sfp), and every completion with Requests is assumed
// to submit a flush.
func independent(m crashMove, s sleeper, sfp impl.Footprint) bool {
	return m.fp.Commutes(sfp) && !(m.write && (s.flush || sfp.Requests)) && !(m.flush && s.write)
}

// explore replays schedule on a fresh run, crashes at its end in every
// way, and recurses into every pending completion not asleep. prev holds
// the IDs pending before the last completion of schedule and cand the
// sleep-set candidates for this node: those that stay asleep here unless
// that completion, as taken, conflicts with them. It reports whether the
// last completion submitted a flush.
func (x *crashExplorer) explore(schedule []uint64, last crashMove, prev map[uint64]bool, cand []crashMove) (bool, error) {
	if x.stats.Schedules >= x.cfg.MaxSchedules {
		x.stats.Truncated = true
		return false, nil
	}
	r, err := x.start()
	if err != nil {
		return false, err
	}
	for _, id := range schedule {
		if err := r.complete(id, x.w); err != nil {
			return false, fmt.Errorf("replay %v: %w", schedule, err)
		}
	}
	pending := r.be.Pending()
	for _, p := range pending {
		if p.Op == impl.OpFlush && p.File == impl.ImageFile && prev != nil && !prev[p.ID] {
			last.flush = true
		}
	}
	var sleep []sleeper
	for _, c := range cand {
		if independent(last, c.sleeper, c.fp) {
			sleep = append(sleep, c.sleeper)
		}
	}
	x.stats.CrashPoints++
	if err := x.crashAll(r); err != nil {
		return false, err
	}
	if len(pending) == 0 {
		x.stats.Schedules++
		if r.open != 0 || r.phase+1 < len(x.w.Phases) {
			return false, fmt.Errorf("schedule %v: %d requests stuck with no I/O pending", schedule, r.open)
		}
		return last.flush, nil
	}
	moves := make([]crashMove, len(pending))
	here := make(map[uint64]bool, len(pending))
	for i, p := range pending {
		moves[i] = crashMove{sleeper{id: p.ID, write: p.Op == impl.OpWrite && p.File == impl.ImageFile}, r.footprint(p, x.w)}
		here[p.ID] = true
	}
	fp := func(id uint64) (impl.Footprint, bool) {
		for _, m := range moves {
			if m.id == id {
				return m.fp, true
			}
		}
		return impl.Footprint{}, false
	}
	var done []sleeper // siblings explored before, with what they submitted
	took := false
	for _, m := range moves {
		asleep := false
		for _, s := range sleep {
			asleep = asleep || s.id == m.id
		}
		if !x.cfg.NoReduction && asleep {
			x.stats.Pruned++
			continue
		}
		// Below m, a sleeping or explored sibling stays asleep while it is
		// independent of m; the child checks what m submitted.
		var child []crashMove
		if !x.cfg.NoReduction {
			for _, set := range [2][]sleeper{sleep, done} {
				for _, s := range set {
					if f, ok := fp(s.id); ok && m.fp.Commutes(f) {
						child = append(child, crashMove{s, f})
					}
				}
			}
		}
		took = true
		flushed, err := x.explore(append(schedule[:len(schedule):len(schedule)], m.id), m, here, child)
		if err != nil {
			return false, err
		}
		if !x.cfg.NoReduction {
			s := m.sleeper
			s.flush = flushed
			done = append(done, s)
		}
	}
	if !took {
		x.stats.Asleep++
	}
	return last.flush, nil
}

// footprint returns what completing p touches, for the reduction: its
// footprint from the backend, and if the completion may finish the last
// open request of a phase with another to come, the conflicts of the
// next phase's requests entering the engine. Only a completion that may
// complete a request (Finish or Requests) can finish one; one serving a
// single request (guest data and flushes) finishes at most that one, so
// it ends the phase only when one request is open.
func (r *crashRun) footprint(p controlled.PendingIO, w CrashWorkload) impl.Footprint {
	f := p.Footprint
	if !f.Finish || f.Requests || r.phase+1 >= len(w.Phases) {
		return f
	}
	single := p.Purpose == impl.PurposeData || p.Purpose == impl.PurposeFlush
	if !single || r.open <= 1 {
		f.Requests = true
	}
	return f
}

// crashAll crashes r in every way the bounds allow and judges each new
// crash state. With the reduction on, a crash state crashed before is
// skipped.
func (x *crashExplorer) crashAll(r *crashRun) error {
	ledgerKey := ledgerHash(r.l)
	orders, every := inFlightOrders(r.inFlight())
	if len(orders) > 1 {
		x.stats.Reordered++
	}
	if !x.cfg.NoReduction {
		// With every order of the overlapping in-flight writes tried, the
		// images depend only on which writes are in flight, so they enter
		// the key in a canonical order.
		extra := orders[0]
		if every {
			extra = canonicalWrites(extra)
		}
		key := r.cs.Fingerprint(extra)*0x100000001b3 ^ ledgerKey
		if x.states[key] {
			x.stats.DupCrashStates++
			return nil
		}
		x.states[key] = true
	}
	for _, extra := range orders {
		if err := x.crashWith(r, extra, ledgerKey); err != nil {
			return err
		}
	}
	return nil
}

// crashWith crashes r with extra as the writes in flight, landing in that
// order, and judges each crash image not judged before.
func (x *crashExplorer) crashWith(r *crashRun, extra []impl.CrashWrite, ledgerKey uint64) error {
	var herr error
	x.stats.Images += r.cs.Crashes(extra, x.cfg.Torn, x.cfg.MaxUnits, func(img []byte, units []impl.CrashUnit, land []bool) bool {
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

// inFlightOrders returns the orders in which the in-flight writes ws
// (oldest first) are to be tried as landing: ws itself, and when some of
// them overlap, also every other order of the overlapping ones (the
// others keep their places; their order changes no image). Past six
// overlapping writes (720 orders) only ws and the reverse order of the
// overlapping ones are tried, and every is false.
func inFlightOrders(ws []impl.CrashWrite) (orders [][]impl.CrashWrite, every bool) {
	var idx []int
	for i, a := range ws {
		for j, b := range ws {
			if i != j && a.Off < b.Off+int64(len(b.Data)) && b.Off < a.Off+int64(len(a.Data)) {
				idx = append(idx, i)
				break
			}
		}
	}
	if len(idx) < 2 {
		return [][]impl.CrashWrite{ws}, true
	}
	if len(idx) > 6 {
		rev := slices.Clone(ws)
		for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
			rev[idx[i]], rev[idx[j]] = ws[idx[j]], ws[idx[i]]
		}
		return [][]impl.CrashWrite{ws, rev}, false
	}
	var out [][]impl.CrashWrite
	perm := slices.Clone(idx)
	var gen func(k int)
	gen = func(k int) {
		if k == len(perm) {
			o := slices.Clone(ws)
			for i, p := range perm {
				o[idx[i]] = ws[p]
			}
			out = append(out, o)
			return
		}
		for i := k; i < len(perm); i++ {
			perm[k], perm[i] = perm[i], perm[k]
			gen(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	gen(0)
	return out, true
}

// canonicalWrites returns ws sorted by offset, length and bytes.
func canonicalWrites(ws []impl.CrashWrite) []impl.CrashWrite {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b impl.CrashWrite) int {
		return cmp.Or(cmp.Compare(a.Off, b.Off), cmp.Compare(len(a.Data), len(b.Data)), bytes.Compare(a.Data, b.Data))
	})
	return out
}
