package checker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/controlled"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// Impl mode runs the real engine on controlled.Backend. The image
// has the smallest valid QED geometry, 4 KiB clusters and one-cluster
// (512-entry) L2 tables, and the configuration's geometry maps onto it:
// L1 entry e, cluster i of its table and model sector k of the cluster
// are the guest bytes e*2MiB + i*4KiB + k*(4KiB/Sectors), so a model
// sector is 4096/Sectors bytes (Sectors must divide 8) and with one
// sector a write covers its whole cluster, as in the model. The
// workloads are those of the protocol model (model.ProtocolConfig
// Workloads); each request is one read, write or write-zeroes
// (impl.ReqWriteZeroes, no buffer) of one model sector, or a flush.
// With UnorderedMeta every generation of the image is opened with
// impl.Options.UnorderedMetadata.
//
// The search is stateless and depth first. A move is "submit the next
// request", "complete pending I/O n" or, when the image is quiescent and
// Reopen is set, "reopen" (at most once in the middle of a run). Sleep
// sets prune orders: after the subtree of move a is explored, a sleeps in
// the subtrees of a's later siblings b as long as the moves taken there
// commute with a (impl.Footprint.Commutes: disjoint bytes and disjoint
// engine state), since those orders were already covered. Going back up
// the tree replays the schedule from a fresh image.
//
// Each end state (every request submitted and no I/O pending) is judged:
// every request completed without error; every model sector is read
// back; impl.Check finds no corruption (leaks are counted); the image is
// reopened and every sector reads back the same; and the whole history,
// read-backs included, is linearizable (checker.Check, porcupine, per
// sector). Once a violation is found, the search goes on bounded below
// its length, so the trace reported is a shortest one.

// Impl-mode geometry.
const (
	implClusterSize = 4096
	implTableSize   = 1
	implSpan        = implClusterSize / 8 * implClusterSize // guest bytes per L2 table
)

// implMove is one move of the search.
type implMove struct {
	kind byte   // 's' submit, 'c' complete, 'o' reopen
	id   uint64 // I/O ID for 'c'
	fp   impl.Footprint
}

func (m implMove) key() uint64 {
	switch m.kind {
	case 's':
		return 1 << 62
	case 'o':
		return 2 << 62
	}
	return m.id
}

// String renders the move as in a schedule: "s", "o" or "c12".
func (m implMove) String() string {
	if m.kind == 'c' {
		return "c" + strconv.FormatUint(m.id, 10)
	}
	return string(m.kind)
}

// implExplorer is the search of one policy.
type implExplorer struct {
	reg      model.Registration
	cfg      ExploreConfig
	res      *ExploreResult
	disk     model.Disk
	backing  impl.Storage
	size     uint64
	secBytes uint64

	linCache   map[uint64]*Result
	checkCache map[uint64]impl.CheckResult
	scratch    []byte
	stores     []*impl.MemStorage // storages of finished runs, for reuse
	judged     map[uint64]judgement
	onEnd      func(*implRun) // for tests: sees every end state before it is judged
	exhaustive bool           // for tests: no bound below a violation found, every order is run

	best    *ExploreViolation // shortest violation so far
	bestLen int
	stopped bool
}

func newImplExplorer(reg model.Registration, cfg ExploreConfig) *implExplorer {
	x := &implExplorer{
		reg: reg, cfg: cfg,
		res:        &ExploreResult{Policy: reg.Name, Expect: reg.Claim(cfg.TableWrites()), Config: cfg},
		size:       uint64(cfg.L1Entries) * implSpan,
		secBytes:   implClusterSize / uint64(cfg.Sectors),
		linCache:   map[uint64]*Result{},
		checkCache: map[uint64]impl.CheckResult{},
		judged:     map[uint64]judgement{},
	}
	if cfg.Backing {
		x.backing = history.BackingStorage(int64(x.size))
		x.disk = model.Disk{BackingSectors: x.size / model.SectorSize}
	}
	return x
}

// offset returns the guest byte offset of model sector s.
func (x *implExplorer) offset(s int) uint64 {
	c := &x.cfg
	e, i, k := s/(c.Clusters*c.Sectors), s/c.Sectors%c.Clusters, s%c.Sectors
	return uint64(e)*implSpan + uint64(i)*implClusterSize + uint64(k)*x.secBytes
}

// exploreImpl searches every completion order of every workload.
func exploreImpl(reg model.Registration, cfg ExploreConfig) (*ExploreResult, error) {
	x := newImplExplorer(reg, cfg)
	start := time.Now()
	defer func() { x.res.Elapsed = time.Since(start) }()
	if cfg.Replay != "" {
		return x.replay(cfg.Replay)
	}
	if !cfg.Shard.Whole() {
		if err := x.exploreShard(cfg.protocolConfig().Workloads()); err != nil {
			return nil, fmt.Errorf("explore %s: shard %s: %w", reg.Name, cfg.Shard, err)
		}
		return x.res, nil
	}
	for _, wl := range cfg.protocolConfig().Workloads() {
		x.res.Workloads++
		if err := x.search(wl); err != nil {
			return nil, fmt.Errorf("explore %s: workload %s: %w", reg.Name, formatWorkload(wl), err)
		}
		if x.stopped {
			break
		}
	}
	x.conclude()
	return x.res, nil
}

// conclude sets the verdict from what the search found.
func (x *implExplorer) conclude() {
	switch {
	case x.best != nil:
		x.res.Verdict, x.res.Violation = Violated, x.best
	case x.stopped:
		x.res.Verdict = Incomplete
	}
}

// dfsNode is a node of the search: the moves enabled there, how far they
// have been tried, and the sleep set.
type dfsNode struct {
	moves []implMove
	next  int
	sleep []uint64
	done  []uint64
}

// take notes that move m is taken at n and returns the sleep set of the
// node it leads to: the moves asleep at n or taken at n before m that
// commute with m, whose orders after m were covered already. Without
// the reduction (noReduction) it returns nil and notes nothing.
func (n *dfsNode) take(m implMove, noReduction bool) []uint64 {
	if noReduction {
		return nil
	}
	var childSleep []uint64
	for _, set := range [2][]uint64{n.sleep, n.done} {
		for _, k := range set {
			if s, ok := n.move(k); ok && s.fp.Commutes(m.fp) && !slices.Contains(childSleep, k) {
				childSleep = append(childSleep, k)
			}
		}
	}
	n.done = append(n.done, m.key())
	return childSleep
}

func (n *dfsNode) move(key uint64) (implMove, bool) {
	for _, m := range n.moves {
		if m.key() == key {
			return m, true
		}
	}
	return implMove{}, false
}

// search explores every order of workload wl.
func (x *implExplorer) search(wl []model.WorkloadOp) error {
	x.res.States++
	return x.searchFrom(wl, nil, nil)
}

// searchFrom explores every order of workload wl that begins with
// prefix, from the node prefix leads to with its sleep set sleep (as the
// search from the root would reach it), counting what lies below that
// node: its own state is its parent's to count.
func (x *implExplorer) searchFrom(wl []model.WorkloadOp, prefix []implMove, sleep []uint64) error {
	res := x.res
	run, err := x.replayRun(wl, prefix, false)
	if err != nil {
		return err
	}
	stack := []*dfsNode{{moves: run.moves(), sleep: sleep}}
	path := slices.Clone(prefix)
	live := true
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		var m implMove
		found := false
		for top.next < len(top.moves) {
			c := top.moves[top.next]
			top.next++
			if slices.Contains(top.sleep, c.key()) {
				res.Pruned++
				continue
			}
			m, found = c, true
			break
		}
		if !found {
			stack = stack[:len(stack)-1]
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			live = false
			continue
		}
		if !live {
			x.recycle(run)
			if run, err = x.replayRun(wl, path, false); err != nil {
				return err
			}
		}
		childSleep := top.take(m, x.cfg.NoReduction)
		if err := run.apply(m); err != nil {
			return err
		}
		path = append(path, m)
		res.Transitions++
		res.Depth = max(res.Depth, len(path))
		if run.terminal() {
			res.Paths++
			if err := x.judge(wl, path, run); err != nil {
				return err
			}
			path = path[:len(path)-1]
			live = false
			continue
		}
		if x.best != nil && !x.exhaustive && len(path) >= x.bestLen-1 {
			// Nothing below is shorter than the violation in hand.
			path = path[:len(path)-1]
			live = false
			continue
		}
		if x.cfg.MaxDepth > 0 && len(path) >= x.cfg.MaxDepth {
			x.stop(fmt.Sprintf("depth bound %d reached", x.cfg.MaxDepth))
			return nil
		}
		res.States++
		if x.cfg.MaxStates > 0 && res.States >= x.cfg.MaxStates {
			x.stop(fmt.Sprintf("state limit %d reached", x.cfg.MaxStates))
			return nil
		}
		stack = append(stack, &dfsNode{moves: run.moves(), sleep: childSleep})
		live = true
	}
	return nil
}

func (x *implExplorer) stop(reason string) {
	x.stopped = true
	if x.res.Reason == "" {
		x.res.Reason = reason
	}
}

// judge checks the end state of run, reached by path, and keeps the
// violation if it is the shortest so far.
func (x *implExplorer) judge(wl []model.WorkloadOp, path []implMove, run *implRun) error {
	x.noteFacts(run)
	if x.onEnd != nil {
		x.onEnd(run)
	}
	key, err := run.endKey()
	if err != nil {
		return err
	}
	j, ok := x.judged[key]
	if !ok {
		v, err := run.finish()
		if err != nil {
			return err
		}
		x.res.Judged++
		j = judgement{v, run.leaks}
		x.judged[key] = j
	}
	x.res.Facts.MaxLeaks = max(x.res.Facts.MaxLeaks, j.leaks)
	v := j.viol
	if v == nil || (x.best != nil && len(path) >= x.bestLen) {
		return nil
	}
	// Re-run with the trace on, to describe it.
	tr, err := x.replayRun(wl, path, true)
	if err != nil {
		return err
	}
	tv, err := tr.finish()
	x.recycle(tr)
	if err != nil {
		return err
	}
	if tv == nil || tv.Invariant != v.Invariant || tr.traceHash() != run.traceHash() {
		return fmt.Errorf("schedule %s is not deterministic: the traced replay differs from the run", formatSchedule(wl, path))
	}
	tv.Steps = len(path)
	tv.Schedule = formatSchedule(wl, path)
	tv.Workload = wl
	x.best, x.bestLen = tv, len(path)
	return nil
}

func (x *implExplorer) noteFacts(run *implRun) {
	f := &x.res.Facts
	f.MaxAllocInFlight = max(f.MaxAllocInFlight, run.rec.MaxAllocInFlight())
	f.Reopen = f.Reopen || run.reopened > 0
	for _, r := range run.reqs {
		if r.Freezes > 0 {
			f.Freeze = true
			if run.done[r] {
				// Completed after a freeze: it was woken, restarted, and
				// admitted on a restart.
				f.Restart, f.RestartProceed = true, true
			}
		}
	}
}

// replay runs one printed schedule and judges its end state.
func (x *implExplorer) replay(s string) (*ExploreResult, error) {
	wl, path, err := parseSchedule(s, x.cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	run, err := x.replayRun(wl, path, true)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", s, err)
	}
	x.res.Workloads, x.res.Paths, x.res.Transitions, x.res.Depth = 1, 1, int64(len(path)), len(path)
	if !run.terminal() {
		return nil, fmt.Errorf("replay %s: the schedule ends before every request is submitted and every I/O completed (next moves: %s)", s, movesText(run.moves()))
	}
	v, err := run.finish()
	if err != nil {
		return nil, err
	}
	x.res.Judged = 1
	x.noteFacts(run)
	x.res.Facts.MaxLeaks = run.leaks
	if v != nil {
		v.Steps, v.Schedule, v.Workload = len(path), formatSchedule(wl, path), wl
		x.res.Verdict, x.res.Violation = Violated, v
	} else {
		x.res.Verdict = Holds
		x.res.Reason = "one schedule replayed; other orders not explored"
	}
	x.res.Trace = run.trace
	x.res.TraceHash = run.traceHash()
	return x.res, nil
}

func movesText(ms []implMove) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, " ")
}

// implRun is one execution of the engine under a chosen order.
type implRun struct {
	x        *implExplorer
	wl       []model.WorkloadOp
	files    impl.Files
	be       *controlled.Backend
	rec      *exploreRecorder
	reqs     []*impl.Request
	index    map[*impl.Request]int
	done     map[*impl.Request]bool
	engineID map[uint64]int // engine request ID in this generation -> request index
	gen      int

	submitted int
	reopened  int
	leaks     int

	tracing  bool
	events   []TraceEvent // the trace as data, when tracing
	trace    []string
	step     int
	freezes  []int
	frozen   []bool
	reported []bool
	seen     map[uint64]bool
	prevHash uint64 // trace hashes of earlier generations' backends
	readBuf  []byte
	store    *impl.MemStorage
}

// judgement is the verdict on an end state.
type judgement struct {
	viol  *ExploreViolation
	leaks int
}

// endKey hashes everything the judgement of an end state depends on: the
// image file's bytes, the history so far, and the engine's table state
// (all the state an idle engine has that later requests can observe).
func (r *implRun) endKey() (uint64, error) {
	x := r.x
	size, err := r.store.Size()
	if err != nil {
		return 0, err
	}
	if int64(cap(x.scratch)) < size {
		x.scratch = make([]byte, size)
	}
	buf := x.scratch[:size]
	if _, err := r.store.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return (controlled.HashBytes(buf)*0x100000001b3^historyKey(r.rec.History()))*0x100000001b3 ^ r.be.EngineHash(), nil
}

// recycle hands the storage of a run that is over to the next run.
func (x *implExplorer) recycle(r *implRun) {
	if r != nil && r.store != nil {
		x.stores = append(x.stores, r.store)
		r.store = nil
	}
}

// newRun creates the image and a run of workload wl.
func (x *implExplorer) newRun(wl []model.WorkloadOp, tracing bool) (*implRun, error) {
	r := &implRun{x: x, wl: wl, tracing: tracing, index: map[*impl.Request]int{}, done: map[*impl.Request]bool{}, engineID: map[uint64]int{}}
	// Room for the header, L1, and every cluster and table a run can
	// allocate, so the storage never grows by copying.
	var st *impl.MemStorage
	if n := len(x.stores); n > 0 {
		st, x.stores = x.stores[n-1], x.stores[:n-1]
	} else {
		st = impl.NewMemStorage()
		st.Truncate(implClusterSize * int64(2+2*len(wl)))
	}
	r.store = st
	r.files = impl.Files{Image: st, Backing: x.backing}
	co := impl.CreateOptions{ClusterSize: implClusterSize, TableSize: implTableSize}
	if x.backing != nil {
		co.BackingFile = "backing.raw"
	}
	if err := impl.Create(r.files.Image, x.size, co); err != nil {
		return nil, err
	}
	if err := x.makeStart(r.files); err != nil {
		return nil, fmt.Errorf("start state %q: %w", x.cfg.Start, err)
	}
	open := func(gen int) (*impl.Image, error) {
		if r.be != nil {
			r.prevHash = r.prevHash*0x100000001b3 ^ r.be.TraceHash()
		}
		be := controlled.New(r.files)
		im, err := impl.Open(r.files, be, impl.Options{Policy: x.reg.Policy, UnorderedMetadata: x.cfg.UnorderedMeta})
		if err != nil {
			return nil, err
		}
		be.Attach(im.Engine())
		r.be, r.gen = be, gen
		r.engineID = map[uint64]int{}
		return im, nil
	}
	rec, err := newExploreRecorder(x.disk, open)
	if err != nil {
		return nil, err
	}
	r.rec = rec
	for i, op := range wl {
		q := &impl.Request{Op: impl.ReqRead, Off: x.offset(op.Sector), Buf: make([]byte, x.secBytes)}
		switch {
		case op.Flush:
			*q = impl.Request{Op: impl.ReqFlush}
		case op.Zeroes:
			*q = impl.Request{Op: impl.ReqWriteZeroes, Off: q.Off, Len: x.secBytes}
		case op.Write:
			q.Op = impl.ReqWrite
		}
		q.Done = func(q *impl.Request) { r.done[q] = true }
		r.reqs = append(r.reqs, q)
		r.index[q] = i
	}
	r.freezes = make([]int, len(wl))
	r.reported = make([]bool, len(wl))
	r.frozen = make([]bool, len(wl))
	r.seen = map[uint64]bool{}
	return r, nil
}

// replayRun runs path on a fresh image.
func (x *implExplorer) replayRun(wl []model.WorkloadOp, path []implMove, tracing bool) (*implRun, error) {
	r, err := x.newRun(wl, tracing)
	if err != nil {
		return nil, err
	}
	for _, m := range path {
		if m.kind == 'c' && !r.be.IsPending(m.id) {
			return nil, fmt.Errorf("schedule step %s: no such I/O is pending (pending: %s)", m, movesText(r.moves()))
		}
		if err := r.apply(m); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// traceHash returns the hash of every I/O submitted and completed by
// every generation of the image so far, and of the recorded history.
func (r *implRun) traceHash() uint64 {
	return (r.prevHash*0x100000001b3^r.be.TraceHash())*0x100000001b3 ^ historyKey(r.rec.History())
}

// quiescent reports whether every submitted request completed and no
// I/O is pending.
func (r *implRun) quiescent() bool {
	if r.be.Len() > 0 {
		return false
	}
	for _, q := range r.reqs[:r.submitted] {
		if !r.done[q] {
			return false
		}
	}
	return true
}

// terminal reports whether the run is over: every request submitted and
// no I/O pending.
func (r *implRun) terminal() bool {
	return r.submitted == len(r.reqs) && r.be.Len() == 0
}

// moves returns the moves enabled now, in a fixed order: submit, then
// completions in submission order, then reopen.
func (r *implRun) moves() []implMove {
	var out []implMove
	if r.submitted < len(r.reqs) {
		out = append(out, implMove{kind: 's', fp: impl.EngineFootprint()})
	}
	for _, p := range r.be.Pending() {
		out = append(out, implMove{kind: 'c', id: p.ID, fp: p.Footprint})
	}
	if r.x.cfg.Reopen && r.reopened == 0 && r.submitted > 0 && r.submitted < len(r.reqs) && r.quiescent() {
		out = append(out, implMove{kind: 'o', fp: impl.EngineFootprint()})
	}
	return out
}

// who names the request an engine request ID of this generation is, as
// a possessive prefix ("request 2's "), or "" for the engine's own I/O.
func (r *implRun) who(id uint64) string {
	if i, ok := r.engineID[id]; ok {
		return fmt.Sprintf("request %d's ", i+1)
	}
	return ""
}

// apply takes move m.
func (r *implRun) apply(m implMove) error {
	if r.tracing {
		r.step++
		switch m.kind {
		case 's':
			op := r.wl[r.submitted]
			c := &r.x.cfg
			what := "read"
			switch {
			case op.Zeroes:
				what = "write-zeroes"
			case op.Write:
				what = "write"
			}
			if op.Flush {
				r.logStep("request %d submitted: flush", r.submitted+1)
				r.event("submit", r.submitted+1, 0, "flush")
				break
			}
			r.logStep("request %d submitted: %s sector %d (L1[%d] L2[%d], guest bytes %#x+%d)", r.submitted+1, what, op.Sector,
				op.Sector/(c.Clusters*c.Sectors), op.Sector/c.Sectors%c.Clusters, r.x.offset(op.Sector), r.x.secBytes)
			r.event("submit", r.submitted+1, 0, fmt.Sprintf("%s sector %d", what, op.Sector))
		case 'c':
			for _, p := range r.be.Pending() {
				if p.ID == m.id {
					r.logStep("io %d completes: %s%s", m.id, r.who(p.Req), r.be.Describe(m.id))
					req := 0
					if i, ok := r.engineID[p.Req]; ok {
						req = i + 1
					}
					r.event("complete", req, m.id, r.be.Describe(m.id))
				}
			}
		case 'o':
			r.logStep("reopen: the image is closed cleanly and opened again (caches dropped, tables read from disk)")
			r.event("reopen", 0, 0, "reopen")
		}
	}
	switch m.kind {
	case 's':
		q := r.reqs[r.submitted]
		r.submitted++
		r.rec.Submit(q)
		r.engineID[q.ID] = r.index[q]
	case 'c':
		if err := r.be.Complete(m.id); err != nil {
			return err
		}
		r.rec.Step()
	case 'o':
		if err := r.rec.Reopen(); err != nil {
			return err
		}
		r.reopened++
	default:
		return fmt.Errorf("unknown move %q", m.kind)
	}
	if r.tracing {
		r.logEffects()
	}
	return nil
}

func (r *implRun) logStep(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%3d. ", r.step)+fmt.Sprintf(format, args...))
}

func (r *implRun) logf(format string, args ...any) {
	r.trace = append(r.trace, "     "+fmt.Sprintf(format, args...))
}

// event records a step of the trace as data (TraceEvent).
func (r *implRun) event(kind string, req int, io uint64, text string) {
	r.events = append(r.events, TraceEvent{Kind: kind, Req: req, IO: io, Text: text})
}

// logEffects describes what the last move made the engine do: I/Os it
// issued, requests it froze or completed.
func (r *implRun) logEffects() {
	for i, q := range r.reqs[:r.submitted] {
		if q.Freezes > r.freezes[i] {
			r.freezes[i] = q.Freezes
			r.frozen[i] = true
			r.logf("request %d is frozen by the policy", i+1)
			r.event("frozen", i+1, 0, "frozen")
		}
	}
	woken := func(i int) {
		if r.frozen[i] {
			r.frozen[i] = false
			r.logf("request %d was woken and restarted from its lookup", i+1)
			r.event("woken", i+1, 0, "woken")
		}
	}
	for _, p := range r.be.Pending() {
		if !r.seen[p.ID] {
			r.seen[p.ID] = true
			who, req := "the engine", 0
			if i, ok := r.engineID[p.Req]; ok {
				woken(i)
				who, req = fmt.Sprintf("request %d", i+1), i+1
			}
			r.logf("%s issues io %d: %s", who, p.ID, r.be.Describe(p.ID))
			r.event("issue", req, p.ID, r.be.Describe(p.ID))
		}
	}
	for i, q := range r.reqs[:r.submitted] {
		if r.done[q] && !r.reported[i] {
			woken(i)
			r.reported[i] = true
			if q.Err != nil {
				r.logf("request %d completes with error: %v", i+1, q.Err)
				r.event("done", i+1, 0, fmt.Sprintf("error: %v", q.Err))
			} else if q.Op == impl.ReqRead {
				r.logf("request %d completes: it read %s", i+1, r.x.seen(q.Buf))
				r.event("done", i+1, 0, "read "+r.x.seen(q.Buf))
			} else {
				r.logf("request %d completes", i+1)
				r.event("done", i+1, 0, "done")
			}
		}
	}
}

// seen renders what a read of one model sector returned: "zero",
// "backing" or "w2" when every 512-byte sector holds that content, as
// written for it; otherwise each sector's tag ("w2/s17,zero").
func (x *implExplorer) seen(buf []byte) string {
	ds := history.DecodeSectors(nil, buf)
	if len(ds) == 0 {
		return "nothing"
	}
	first := ds[0]
	uniform := first.Fault == history.FaultNone
	for i, d := range ds {
		if d.Fault != first.Fault || d.Tag.Kind != first.Tag.Kind || d.Tag.Write != first.Tag.Write ||
			(d.Tag.Kind != model.TagZero && d.Tag.Sector != first.Tag.Sector+uint64(i)) {
			uniform = false
		}
	}
	if uniform {
		switch first.Tag.Kind {
		case model.TagZero:
			return "zero"
		case model.TagBacking:
			return "backing"
		default:
			return fmt.Sprintf("w%d", first.Tag.Write)
		}
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// finish judges the end state: completion, read-back, image check,
// reopen, read-back again, linearizability. It returns the first
// violation found, or nil.
func (r *implRun) finish() (*ExploreViolation, error) {
	x := r.x
	viol := func(inv, format string, args ...any) *ExploreViolation {
		v := &ExploreViolation{Invariant: inv, Message: fmt.Sprintf(format, args...), Trace: r.trace, Events: r.events}
		return v
	}
	for i, q := range r.reqs {
		if !r.done[q] {
			return viol("deadlock", "request %d never completed: it is frozen with nothing in flight to wake it", i+1), nil
		}
		if q.Err != nil {
			return viol("request-error", "request %d failed: %v", i+1, q.Err), nil
		}
	}
	if r.tracing {
		r.trace = append(r.trace, "     then, with every request done: read back every sector, check the image, reopen, read back again")
		r.event("end", 0, 0, "read back, check, reopen, read back")
	}
	before, err := r.readBack()
	if err != nil {
		return nil, err
	}
	cr, err := x.check(r.files.Image)
	if err != nil {
		return nil, err
	}
	r.leaks = cr.Leaks
	if cr.Corruptions > 0 {
		return viol("image-check", "impl.Check finds %d corruptions: %s", cr.Corruptions, strings.Join(cr.Problems, "; ")), nil
	}
	if err := r.rec.Reopen(); err != nil {
		return viol("reopen", "the image does not reopen: %v", err), nil
	}
	if x.cfg.LeaksViolation {
		// After the clean close of the reopen, which cuts the space the
		// image grew ahead and did not use: what is left is leaked.
		cr, err := x.check(r.files.Image)
		if err != nil {
			return nil, err
		}
		if cr.Leaks > 0 {
			return viol("leak", "with every request done and the image closed cleanly, impl.Check finds %d leaked clusters", cr.Leaks), nil
		}
	}
	after, err := r.readBack()
	if err != nil {
		return nil, err
	}
	for s := range before {
		if before[s] != after[s] {
			return viol("reopen-content", "after the reopen sector %d reads %s, before it read %s", s, after[s], before[s]), nil
		}
	}
	res, err := x.linearizable(r.rec.History())
	if err != nil {
		return nil, fmt.Errorf("history cannot be judged: %w", err)
	}
	if res.Verdict == Illegal {
		msg := fmt.Sprintf("the history is not linearizable: failing 512-byte sectors %v (%s)", res.Failing, x.modelSectors(res.Failing))
		if r.tracing && res.Counterexample != nil {
			msg += "\n" + res.Counterexample.String()
		}
		v := viol("linearizability", "%s", msg)
		if r.tracing {
			v.Message = msg + r.readBackText(before, after)
		}
		return v, nil
	}
	if res.Verdict == Unknown {
		return nil, errors.New("linearizability check timed out")
	}
	return nil, nil
}

// modelSectors names the model sectors 512-byte sectors lie in.
func (x *implExplorer) modelSectors(secs []uint64) string {
	n := x.cfg.protocolConfig().GuestSectors()
	var names []string
	for s := range n {
		lo := x.offset(s) / model.SectorSize
		hi := lo + x.secBytes/model.SectorSize
		for _, f := range secs {
			if f >= lo && f < hi {
				names = append(names, strconv.Itoa(s))
				break
			}
		}
	}
	if len(names) == 0 {
		return "outside the model's sectors"
	}
	return "model sector " + strings.Join(names, ", ")
}

func (r *implRun) readBackText(before, after []string) string {
	var b strings.Builder
	b.WriteString("\nread back before the reopen:")
	for s, t := range before {
		fmt.Fprintf(&b, " s%d=%s", s, t)
	}
	b.WriteString("\nread back after the reopen: ")
	for s, t := range after {
		fmt.Fprintf(&b, " s%d=%s", s, t)
	}
	return b.String()
}

// readBack reads back what the model's geometry maps, one read per L1
// entry covering its clusters, through the recorder, and returns what
// each model sector holds.
func (r *implRun) readBack() ([]string, error) {
	x := r.x
	c := &x.cfg
	out := make([]string, 0, c.protocolConfig().GuestSectors())
	if r.readBuf == nil {
		r.readBuf = make([]byte, c.Clusters*implClusterSize)
	}
	for e := 0; e < c.L1Entries; e++ {
		q := &impl.Request{Op: impl.ReqRead, Off: uint64(e) * implSpan, Buf: r.readBuf}
		ok := false
		q.Done = func(*impl.Request) { ok = true }
		r.rec.Submit(q)
		r.rec.Run()
		if !ok {
			return nil, fmt.Errorf("read-back of L1[%d] stalled", e)
		}
		for s := 0; s < c.Clusters*c.Sectors; s++ {
			if q.Err != nil {
				out = append(out, "error: "+q.Err.Error())
				continue
			}
			b := q.Buf[uint64(s/c.Sectors)*implClusterSize+uint64(s%c.Sectors)*x.secBytes:][:x.secBytes]
			out = append(out, x.seen(b))
		}
	}
	return out, nil
}

// check runs impl.Check on the image, once per distinct content.
func (x *implExplorer) check(st impl.Storage) (impl.CheckResult, error) {
	size, err := st.Size()
	if err != nil {
		return impl.CheckResult{}, err
	}
	if int64(cap(x.scratch)) < size {
		x.scratch = make([]byte, size)
	}
	buf := x.scratch[:size]
	if _, err := st.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return impl.CheckResult{}, err
	}
	key := controlled.HashBytes(buf)
	if cr, ok := x.checkCache[key]; ok {
		return cr, nil
	}
	cr, err := impl.Check(st, false)
	if err != nil {
		return cr, fmt.Errorf("check image: %w", err)
	}
	x.checkCache[key] = cr
	return cr, nil
}

// linearizable runs the linearizability checker, once per distinct
// history (times and client slots aside, which do not affect it).
func (x *implExplorer) linearizable(h history.History) (*Result, error) {
	key := historyKey(h)
	if res, ok := x.linCache[key]; ok {
		return res, nil
	}
	res, err := Check(h, Options{Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	x.linCache[key] = res
	return res, nil
}

// historyKey hashes what of a history its verdict depends on: the order,
// kinds, ids and sectors of its events, errors and what reads saw.
func historyKey(h history.History) uint64 {
	f := fnv.New64a()
	var buf [8]byte
	put := func(v uint64) {
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		f.Write(buf[:])
	}
	for _, ev := range h.Events {
		put(uint64(ev.Kind))
		put(ev.ID)
		put(uint64(ev.Action))
		put(ev.Sector)
		put(ev.Sectors)
		io.WriteString(f, ev.Err)
		for _, d := range ev.Seen {
			put(uint64(d.Fault)<<8 | uint64(d.Tag.Kind))
			put(d.Tag.Write)
			put(d.Tag.Sector)
		}
		put(^uint64(0))
	}
	return f.Sum64()
}

// formatWorkload renders a workload: "w0,w2,r3".
func formatWorkload(wl []model.WorkloadOp) string {
	parts := make([]string, len(wl))
	for i, o := range wl {
		parts[i] = o.String()
	}
	return strings.Join(parts, ",")
}

// formatSchedule renders a workload and an order as one replayable
// string: "w0,w2,w3/s s c1 c2 c3".
func formatSchedule(wl []model.WorkloadOp, path []implMove) string {
	return formatWorkload(wl) + "/" + movesText(path)
}

// parseSchedule is the inverse of formatSchedule.
func parseSchedule(s string, cfg ExploreConfig) ([]model.WorkloadOp, []implMove, error) {
	wlText, movesPart, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return nil, nil, fmt.Errorf("schedule %q: want WORKLOAD/MOVES, as in \"w0,w2,r3/s s c1 c2\"", s)
	}
	var wl []model.WorkloadOp
	for _, t := range strings.Split(wlText, ",") {
		t = strings.TrimSpace(t)
		if t == "f" {
			wl = append(wl, model.WorkloadOp{Flush: true})
			continue
		}
		if len(t) < 2 || (t[0] != 'w' && t[0] != 'r' && t[0] != 'z') {
			return nil, nil, fmt.Errorf("schedule %q: workload op %q: want w<sector>, r<sector>, z<sector> or f", s, t)
		}
		n, err := strconv.Atoi(t[1:])
		if err != nil || n < 0 || n >= cfg.protocolConfig().GuestSectors() {
			return nil, nil, fmt.Errorf("schedule %q: workload op %q: sector must be 0 to %d", s, t, cfg.protocolConfig().GuestSectors()-1)
		}
		wl = append(wl, model.WorkloadOp{Write: t[0] == 'w', Zeroes: t[0] == 'z', Sector: n})
	}
	if len(wl) != cfg.Requests {
		return nil, nil, fmt.Errorf("schedule %q has %d requests, the configuration %d", s, len(wl), cfg.Requests)
	}
	var path []implMove
	for _, t := range strings.Fields(movesPart) {
		switch {
		case t == "s":
			path = append(path, implMove{kind: 's'})
		case t == "o":
			path = append(path, implMove{kind: 'o'})
		case strings.HasPrefix(t, "c"):
			id, err := strconv.ParseUint(t[1:], 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("schedule %q: move %q: want s, o or c<io id>", s, t)
			}
			path = append(path, implMove{kind: 'c', id: id})
		default:
			return nil, nil, fmt.Errorf("schedule %q: move %q: want s, o or c<io id>", s, t)
		}
	}
	return wl, path, nil
}

// makeStart makes the image just created into the configuration's start
// state (ExploreConfig.Start), before any request: with model.StartTable
// an L2 table of empty entries linked from L1 entry 0, written at the end
// of the file as the engine would; with model.StartPrealloc every cluster
// the guest uses under L1 entry 0 written with its initial content
// (zeros, or the backing file's) through the image, which allocates the
// table and the clusters. Neither changes what the guest reads.
func (x *implExplorer) makeStart(files impl.Files) error {
	switch x.cfg.Start {
	case model.StartEmpty:
		return nil
	case model.StartTable:
		st := files.Image
		hdr := make([]byte, impl.HeaderLen)
		if _, err := st.ReadAt(hdr, 0); err != nil {
			return err
		}
		h, err := impl.DecodeHeader(hdr)
		if err != nil {
			return err
		}
		end, err := st.Size()
		if err != nil {
			return err
		}
		if _, err := st.WriteAt(make([]byte, implClusterSize*implTableSize), end); err != nil {
			return err
		}
		var entry [8]byte
		binary.LittleEndian.PutUint64(entry[:], uint64(end))
		_, err = st.WriteAt(entry[:], int64(h.L1TableOffset))
		return err
	case model.StartPrealloc:
		im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{})
		if err != nil {
			return err
		}
		buf := make([]byte, implClusterSize)
		for i := 0; i < x.cfg.Clusters; i++ {
			off := uint64(i) * implClusterSize
			if files.Backing != nil {
				if _, err := files.Backing.ReadAt(buf, int64(off)); err != nil && !errors.Is(err, io.EOF) {
					im.Close()
					return err
				}
			}
			if _, err := im.WriteAt(buf, int64(off)); err != nil {
				im.Close()
				return err
			}
		}
		return im.Close()
	}
	return fmt.Errorf("unknown start state %q", x.cfg.Start)
}
