package checker

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/shard"
)

// The explorer model-checks a policy exhaustively over a small
// configuration, in one of two modes:
//
//   - ExploreModel searches every interleaving of model.Protocol, the
//     protocol as an explicit state machine, breadth first over canonical
//     packed states: the first violation found is at the smallest depth,
//     so its trace is a shortest counterexample.
//   - ExploreImpl runs the real engine of impl/ on the controlled
//     backend and searches every order in which its I/Os can complete
//     (and in which requests can arrive), depth first and stateless,
//     with sleep sets pruning orders that differ only by swapping
//     completions that commute; each end state is judged by the
//     linearizability checker, impl.Check and a reopen.

// ExploreMode selects what is explored.
type ExploreMode string

const (
	// ExploreModel explores the protocol model of model/.
	ExploreModel ExploreMode = "model"
	// ExploreImpl explores the real engine on the controlled backend.
	ExploreImpl ExploreMode = "impl"
)

// ExploreConfig configures an exploration. The zero value is not valid:
// Requests, L1Entries, Clusters and Sectors must be set (see
// StandardExploreConfig).
type ExploreConfig struct {
	// Mode is ExploreModel (the default when empty) or ExploreImpl.
	Mode ExploreMode
	// Requests is the number of requests, 1 to model.MaxProtocolRequests (6).
	Requests int
	// L1Entries, Clusters and Sectors give the geometry: L1 entries used,
	// clusters used per L2 table, sectors used per cluster.
	L1Entries, Clusters, Sectors int
	// Backing gives the image a backing file covering the guest.
	Backing bool
	// Reopen lets the image be reopened (every cache dropped, tables read
	// from disk) when quiescent, and checks that it reads the same after.
	Reopen bool
	// UnorderedMeta replaces the engine's ordered metadata writer by one
	// unordered write per table update, so two writes of one table sector
	// may be in flight together and land in either order: in model mode
	// the protocol models it, in impl mode the image is opened with
	// impl.Options.UnorderedMetadata. It shows what the ordering buys.
	UnorderedMeta bool
	// Ops, if not empty, fixes each request's operation in submission
	// order, 'w' write, 'r' read, 'z' write-zeroes or 'f' flush
	// (model.ProtocolConfig.Ops). In impl mode a write-zeroes is an
	// impl.ReqWriteZeroes of the one model sector.
	Ops string
	// Start is the image the requests start from: empty (""),
	// model.StartTable or model.StartPrealloc (model.ProtocolConfig.Start).
	Start string
	// LeaksViolation makes leaked clusters a violation ("leak"): in model
	// mode a quiescent state with a cluster no table on disk references,
	// in impl mode an end state whose image check finds leaks.
	LeaksViolation bool
	// NoSymmetry disables symmetry reduction: in model mode requests may
	// choose any sector and clusters are not renumbered; in impl mode
	// every workload is run, not only those distinct up to symmetry.
	NoSymmetry bool
	// NoReduction disables the partial-order reduction (impl mode).
	NoReduction bool
	// MaxStates bounds the distinct states (model mode) or explored
	// paths (impl mode); 0 means no bound. Reaching it makes the result
	// Incomplete, never Holds.
	MaxStates int64
	// MaxDepth bounds the search depth in transitions; 0 means none.
	// States left unexpanded at the bound make the result Incomplete.
	MaxDepth int
	// Workers is the number of goroutines expanding a BFS level (model
	// mode); 0 or 1 means one. Results do not depend on it.
	Workers int
	// Replay (impl mode only) runs one printed schedule instead of
	// searching.
	Replay string
	// Shard, if not the zero Spec, explores part K of N of the search
	// (see ExploreShard): each part exhaustive within itself, the parts
	// together the whole search. MergeExploreShards combines the parts'
	// results. MaxStates then bounds each part.
	Shard shard.Spec
}

// StandardExploreConfig returns the standard small configuration of the
// verdict table: 3 requests over 2 L1 entries x 2 clusters x 2 sectors,
// no backing file, with reopen.
func StandardExploreConfig(mode ExploreMode) ExploreConfig {
	return ExploreConfig{Mode: mode, Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Reopen: true}
}

// ZeroesExploreConfigs returns the configurations of the write-zeroes
// verdict: a write, a write-zeroes and a read (in every submission
// order's choice of sectors) over 2 L1 entries x 2 clusters, with a
// backing file and an L2 table under L1 entry 0, with one sector a
// cluster (a write-zeroes covers its cluster whole: zero-cluster entries,
// allocations of metadata only) and with two (it covers part: zero data
// with the copy-on-write fill).
func ZeroesExploreConfigs() []ExploreConfig {
	var out []ExploreConfig
	for _, sectors := range []int{1, 2} {
		out = append(out, ExploreConfig{Mode: ExploreModel, Requests: 3, L1Entries: 2, Clusters: 2, Sectors: sectors,
			Backing: true, Reopen: true, Ops: "wzr", Start: model.StartTable})
	}
	return out
}

// TableWrites returns the table-write scheme the configuration explores:
// model.Snapshot with UnorderedMeta, model.Ordered otherwise.
func (c ExploreConfig) TableWrites() model.TableWrites {
	if c.UnorderedMeta {
		return model.Snapshot
	}
	return model.Ordered
}

// protocolConfig returns the model configuration cfg describes.
func (c ExploreConfig) protocolConfig() model.ProtocolConfig {
	return model.ProtocolConfig{
		Requests: c.Requests, L1Entries: c.L1Entries, Clusters: c.Clusters, Sectors: c.Sectors,
		Backing: c.Backing, Reopen: c.Reopen, UnorderedMeta: c.UnorderedMeta, NoSymmetry: c.NoSymmetry, LeaksViolation: c.LeaksViolation, Ops: c.Ops, Start: c.Start,
	}
}

// Validate checks the configuration; the error says what is wrong.
func (c ExploreConfig) Validate() error {
	var errs []error
	switch c.Mode {
	case "", ExploreModel, ExploreImpl:
	default:
		errs = append(errs, fmt.Errorf("mode %q, want model or impl", c.Mode))
	}
	if err := c.protocolConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxStates < 0 {
		errs = append(errs, fmt.Errorf("state limit %d is negative", c.MaxStates))
	}
	if c.MaxDepth < 0 {
		errs = append(errs, fmt.Errorf("depth bound %d is negative", c.MaxDepth))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative", c.Workers))
	}
	if c.Mode == ExploreImpl && c.Sectors > 0 && 8%c.Sectors != 0 {
		errs = append(errs, fmt.Errorf("impl mode maps a cluster's sectors onto a 4 KiB cluster: sectors must be 1, 2, 4 or 8, not %d", c.Sectors))
	}
	if c.Mode != ExploreImpl && c.Replay != "" {
		errs = append(errs, errors.New("a schedule can be replayed only in impl mode"))
	}
	if err := c.Shard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Replay != "" && !c.Shard.Whole() {
		errs = append(errs, errors.New("a replayed schedule is one order: it cannot be sharded"))
	}
	return errors.Join(errs...)
}

// String renders the configuration: "model, 3 requests, 2 L1 x 2
// clusters x 2 sectors, no backing, reopen".
func (c ExploreConfig) String() string {
	mode := c.Mode
	if mode == "" {
		mode = ExploreModel
	}
	return string(mode) + ", " + c.protocolConfig().String()
}

// Outcome is the outcome of an exploration.
type Outcome uint8

const (
	// Holds: every invariant held in every state explored, and the whole
	// space was explored.
	Holds Outcome = iota
	// Violated: an invariant was broken; the result has a trace.
	Violated
	// Incomplete: a bound stopped the search before it found a violation
	// or explored everything. It is never a pass.
	Incomplete
)

var outcomeNames = [...]string{"holds", "violated", "incomplete"}

// String returns "holds", "violated" or "incomplete".
func (v Outcome) String() string {
	if int(v) < len(outcomeNames) {
		return outcomeNames[v]
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// ExploreFacts are the reachability facts of an exploration: how much
// concurrency it covered, so that "holds" always comes with "and this
// much was explored".
type ExploreFacts struct {
	// MaxAllocInFlight is the most allocating writes seen in flight at
	// once.
	MaxAllocInFlight int
	// Freeze: the policy froze some request.
	Freeze bool
	// Restart: a frozen request was woken and restarted from its lookup.
	Restart bool
	// RestartProceed: a woken request was admitted on restart.
	RestartProceed bool
	// Reopen: the image was reopened with data on it.
	Reopen bool
	// MaxLeaks is the most clusters leaked (referenced by no table on
	// disk) in a quiescent state.
	MaxLeaks int
}

// String renders the facts on one line.
func (f ExploreFacts) String() string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprintf("max allocating writes in flight %d; frozen request woken and restarted: %s (admitted on restart: %s); reopened: %s; max leaked clusters %d",
		f.MaxAllocInFlight, yes(f.Restart), yes(f.RestartProceed), yes(f.Reopen), f.MaxLeaks)
}

// ExploreViolation is a broken invariant with the trace that breaks it.
type ExploreViolation struct {
	// Invariant names the invariant ("linearizability", ...).
	Invariant string
	// Message says what went wrong, in domain words.
	Message string
	// Trace lists the steps from the initial state, one per line.
	Trace []string
	// Steps is the number of transitions in the trace.
	Steps int
	// Schedule (impl mode) is the order that replays it, for -replay.
	Schedule string
	// Workload lists the requests of the trace, in submission order.
	Workload []model.WorkloadOp
	// Events are the trace's steps as data, for a sequence diagram:
	// requests submitted, I/Os issued and completed, requests frozen,
	// woken and completed, reopens (and in model mode the decisions in
	// between, as notes).
	Events []TraceEvent
}

// TraceEvent is one step of a trace.
type TraceEvent struct {
	// Kind is "submit", "issue", "complete", "frozen", "woken", "done",
	// "reopen", "end" (impl mode: the checks after the last request) or
	// "note" (model mode: a decision with no I/O).
	Kind string
	// Req is the request (1-based) the event concerns, or 0 for the
	// engine's own I/O and for reopen and end.
	Req int
	// IO is the I/O issued or completed, or 0.
	IO uint64
	// Text says what happened, in domain words.
	Text string
}

// ExploreResult is the outcome of exploring one policy.
type ExploreResult struct {
	// Policy and Expect are the policy's name and the verdict it declares
	// for the configuration's table-write scheme (TableWrites).
	Policy string
	Expect model.Claim
	// Config is the configuration explored.
	Config ExploreConfig
	// Verdict is the outcome; Reason says why for Incomplete.
	Verdict Outcome
	Reason  string
	// States counts distinct states (model) or engine states visited
	// along explored paths (impl); Transitions the transitions taken.
	States, Transitions int64
	// Depth is the deepest level reached.
	Depth int
	// Elapsed is the wall time of the exploration.
	Elapsed time.Duration
	// Facts are the reachability facts.
	Facts ExploreFacts
	// Violation is set when Verdict is Violated.
	Violation *ExploreViolation
	// MemoryBytes is the memory the visited set took (model mode).
	MemoryBytes int64

	// Impl mode: Workloads explored, Paths run to an end state, Pruned
	// the orders the sleep sets skipped, and Judged the end states
	// checked (identical end states are judged once).
	Workloads, Paths, Pruned, Judged int64
	// Trace and TraceHash (impl mode, replay only) are the steps of the
	// replayed schedule and the hash of everything the engine did: every
	// I/O issued and completed, and the history. Replaying the same
	// schedule twice gives the same hash.
	Trace     []string
	TraceHash uint64
	// Shard says which part of a split search this result covers (a
	// shard's result), or which parts it combines (MergeExploreShards);
	// nil for a whole search.
	Shard *ExploreShard `json:",omitempty"`

	// stored is the visited set a model-mode shard keeps for WriteStates.
	stored *stateStore
}

// StatesPerSecond returns the rate of distinct states found.
func (r *ExploreResult) StatesPerSecond() float64 { return r.StatesPerMinute() / 60 }

// StatesPerMinute returns the rate of distinct states found.
func (r *ExploreResult) StatesPerMinute() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.States) / r.Elapsed.Minutes()
}

// Explore explores reg's policy under cfg.
func Explore(reg model.Registration, cfg ExploreConfig) (*ExploreResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("explore %s: %w", reg.Name, err)
	}
	if cfg.Mode == ExploreImpl {
		return exploreImpl(reg, cfg)
	}
	return exploreModel(reg, cfg)
}

// modelSucc is one successor found while expanding a level.
type modelSucc struct {
	parent uint32
	hash   uint64
	out    model.Outcome
	quiet  bool
	leaks  int
	alloc  int
}

// exploreModel searches the protocol model breadth first, level by level.
func exploreModel(reg model.Registration, cfg ExploreConfig) (*ExploreResult, error) {
	p, err := model.NewProtocol(cfg.protocolConfig(), reg.Policy)
	if err != nil {
		return nil, fmt.Errorf("explore %s: %w", reg.Name, err)
	}
	res := &ExploreResult{Policy: reg.Name, Expect: reg.Claim(cfg.TableWrites()), Config: cfg}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()

	words := p.Words()
	st := newStateStore(words)
	s0 := p.Initial()
	key := make([]uint64, words)
	p.Pack(&s0, key)
	st.insert(key, hashWords(key), noParent)

	workers := max(1, cfg.Workers)
	var bad *modelSucc
	var badKey []uint64
	var split *modelSplit
	if !cfg.Shard.Whole() {
		res.Shard = &ExploreShard{Spec: cfg.Shard, Split: -1, ViolationUnit: -1}
	}
	lo, hi := 0, 1
	for depth := 0; lo < hi; depth++ {
		res.Depth = depth
		if cfg.MaxDepth > 0 && depth >= cfg.MaxDepth {
			res.Verdict, res.Reason = Incomplete, fmt.Sprintf("depth bound %d reached with %d states unexpanded", cfg.MaxDepth, hi-lo)
			break
		}
		var skip func(int) bool
		if res.Shard != nil && split == nil && hi-lo >= unitsPerShard*cfg.Shard.N {
			if split, err = splitLevel(res, depth, lo, hi); err != nil {
				return nil, fmt.Errorf("explore %s: %w", reg.Name, err)
			}
			skip = split.skip
		}
		var limitHit bool
		bad, badKey, limitHit = expand(p, st, lo, hi, res, cfg.MaxStates, workers, skip)
		if bad != nil {
			res.Depth = depth + 1
			break
		}
		if limitHit {
			res.Verdict, res.Reason = Incomplete, fmt.Sprintf("state limit %d reached at depth %d", cfg.MaxStates, depth+1)
			break
		}
		lo, hi = hi, st.Len()
	}
	res.States = int64(st.Len())
	if split != nil {
		res.States -= int64(split.notOwned)
	}
	res.MemoryBytes = st.bytes()
	if res.Shard != nil {
		res.stored = st
	}
	if bad != nil {
		if res.Shard != nil {
			res.Shard.ViolationUnit = 0
		}
		res.Verdict = Violated
		v := bad.out.Violation
		res.Violation = &ExploreViolation{Invariant: v.Invariant, Message: v.Message}
		x := res.Violation
		x.Trace, x.Steps, x.Workload, x.Events = modelTrace(p, st, bad.parent, badKey)
	}
	return res, nil
}

// note folds a successor's facts into res.
func note(res *ExploreResult, sc *modelSucc) {
	f := &res.Facts
	o := sc.out.Facts
	f.Freeze = f.Freeze || o&model.FactFreeze != 0
	f.Restart = f.Restart || o&model.FactRestart != 0
	f.RestartProceed = f.RestartProceed || o&model.FactRestartProceed != 0
	f.Reopen = f.Reopen || o&model.FactReopen != 0
	f.MaxAllocInFlight = max(f.MaxAllocInFlight, sc.alloc)
	if sc.quiet {
		f.MaxLeaks = max(f.MaxLeaks, sc.leaks)
	}
}

// successor makes n a copy of s with m applied (by step), canonicalized,
// and packs it into key, from sKey, s's packed form (s as Unpack gave
// it). n is the caller's, so that no state escapes to the heap.
func successor(p *model.Protocol, step *model.Stepper, s *model.ProtocolState, sKey []uint64, m model.Move, key []uint64, n *model.ProtocolState) model.Outcome {
	*n = *s
	out := step.Apply(n, m)
	p.Canonicalize(n)
	p.PackDelta(n, s, sKey, key)
	return out
}

// expander enumerates the successors of stored states, with its own
// scratch: one per goroutine.
type expander struct {
	p     *model.Protocol
	step  *model.Stepper
	st    *stateStore
	s     model.ProtocolState // the state being expanded, as unpacked from prev
	prev  []uint64            // its packed form (aliasing the store), or nil
	next  model.ProtocolState // the successor being visited
	moves []model.Move
	key   []uint64 // the packed form of the successor being visited
}

func newExpander(p *model.Protocol, st *stateStore) *expander {
	return &expander{p: p, step: p.NewStepper(), st: st, moves: make([]model.Move, 0, 32), key: make([]uint64, st.words)}
}

// each calls visit with every successor of stored state i, in move order,
// and the move's outcome; the successor and e.key, its packed form, are
// valid until the next call: visit must not keep them. It stops at the first visit that returns false and
// reports whether it visited every successor.
func (e *expander) each(i int, visit func(n *model.ProtocolState, out model.Outcome) bool) bool {
	key := e.st.state(uint32(i))
	if e.prev == nil {
		e.p.Unpack(key, &e.s)
	} else {
		e.p.UnpackDelta(key, e.prev, &e.s)
	}
	e.prev = key
	e.moves = e.p.Moves(&e.s, e.moves[:0])
	for _, m := range e.moves {
		out := successor(e.p, e.step, &e.s, key, m, e.key, &e.next)
		if !visit(&e.next, out) {
			return false
		}
	}
	return true
}

// fillFacts sets what sc records of its state n: the allocating writes in
// flight and, when n is quiescent, its leaks.
func fillFacts(p *model.Protocol, sc *modelSucc, n *model.ProtocolState) {
	sc.alloc = p.AllocatingInFlight(n)
	if sc.quiet = p.Quiescent(n); sc.quiet {
		sc.leaks = p.Leaks(n)
	}
}

// admitted notes in res a successor that was inserted into st, a new
// state (fresh) with its facts filled, or a known one whose move had
// facts of its own, and reports whether st has reached limit.
func admitted(res *ExploreResult, st *stateStore, sc *modelSucc, fresh bool, limit int64) bool {
	if !fresh {
		if sc.out.Facts != 0 {
			note(res, sc)
		}
		return false
	}
	note(res, sc)
	return limit > 0 && int64(st.Len()) >= limit
}

// expand expands states [lo, hi) in chunks: workers goroutines (or,
// with one worker, the caller) each produce the successors of a
// contiguous run of states with their facts and hashes, then the chunk's
// successors are inserted in state order, so the result does not depend
// on the number of workers. Inserting a batch at once lets the store
// fetch the buckets of the successors ahead of the one it inserts
// (stateStore.insertAll): the visited set is far larger than the caches,
// and waiting for each bucket in turn was the search's largest cost.
//
// skip, if not nil, leaves out the states it returns true for: those
// another shard expands.
func expand(p *model.Protocol, st *stateStore, lo, hi int, res *ExploreResult, limit int64, workers int, skip func(int) bool) (*modelSucc, []uint64, bool) {
	const chunk = 4096
	type part struct {
		keys  []uint64
		succ  []modelSucc
		trans int64
	}
	parts := make([]part, workers)
	expanders := make([]*expander, workers)
	for w := range expanders {
		expanders[w] = newExpander(p, st)
	}
	run := func(w, from, to int) {
		pt := &parts[w]
		pt.keys, pt.succ, pt.trans = pt.keys[:0], pt.succ[:0], 0
		e := expanders[w]
		for i := from; i < to; i++ {
			if skip != nil && skip(i) {
				continue
			}
			ok := e.each(i, func(n *model.ProtocolState, out model.Outcome) bool {
				pt.trans++
				sc := modelSucc{parent: uint32(i), out: out, hash: hashWords(e.key)}
				if out.Violation == nil {
					fillFacts(p, &sc, n)
				}
				pt.keys = append(pt.keys, e.key...)
				pt.succ = append(pt.succ, sc)
				return out.Violation == nil
			})
			if !ok {
				return
			}
		}
	}
	for base := lo; base < hi; base += chunk * workers {
		if workers == 1 {
			run(0, base, min(base+chunk, hi))
		} else {
			var wg sync.WaitGroup
			for w := range workers {
				from := base + w*chunk
				to := min(from+chunk, hi)
				if from >= to {
					parts[w].keys, parts[w].succ = parts[w].keys[:0], parts[w].succ[:0]
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					run(w, from, to)
				}()
			}
			wg.Wait()
		}
		for w := range parts {
			pt := &parts[w]
			if bad, key, limitHit := st.insertAll(pt.keys, pt.succ, res, limit); bad != nil || limitHit {
				return bad, key, limitHit
			}
		}
	}
	return nil, nil, false
}

// modelTrace rebuilds the path from the initial state to the state
// reached from parent with packed form last, in domain words. The stored
// states are canonical; the trace replays concrete states from the
// initial one, choosing at each step the move whose canonical successor
// is the next state on the path, so the printed addresses are the ones a
// real run would allocate.
func modelTrace(p *model.Protocol, st *stateStore, parent uint32, last []uint64) ([]string, int, []model.WorkloadOp, []TraceEvent) {
	var path [][]uint64
	path = append(path, last)
	for i := parent; i != noParent; i = st.parent[i] {
		path = append(path, st.state(i))
	}
	// path runs from the end back to the initial state.
	cur := p.Initial()
	key := make([]uint64, st.words)
	var lines []string
	var events []model.Event
	steps := 0
	for j := len(path) - 2; j >= 0; j-- {
		want := path[j]
		found := false
		for _, m := range p.Moves(&cur, nil) {
			n := cur
			var log []string
			p.Apply(&n, m, &log)
			c := n
			p.Canonicalize(&c)
			p.Pack(&c, key)
			if equalWords(key, want) {
				steps++
				before := cur
				p.ApplyEvents(&before, m, &events)
				for k, l := range log {
					if k == 0 {
						lines = append(lines, fmt.Sprintf("%3d. %s", steps, l))
					} else {
						lines = append(lines, "     "+l)
					}
				}
				cur, found = n, true
				break
			}
		}
		if !found {
			lines = append(lines, fmt.Sprintf("%3d. (trace reconstruction failed: no move reaches the next state)", steps+1))
			break
		}
	}
	return lines, steps, p.Workload(&cur), traceEvents(events)
}

// traceEvents numbers the model's I/Os in the order they are issued, as
// the engine numbers its own, and draws each completion on the lane of
// the request that issued the I/O.
func traceEvents(events []model.Event) []TraceEvent {
	type issued struct {
		n   uint64
		req int
	}
	inFlight := map[string]issued{}
	var next uint64
	out := make([]TraceEvent, 0, len(events))
	for _, e := range events {
		te := TraceEvent{Kind: e.Kind.String(), Req: e.Req, Text: e.Text}
		switch e.Kind {
		case model.EventIssue:
			next++
			inFlight[e.IO] = issued{next, e.Req}
			te.IO = next
		case model.EventComplete:
			if is, ok := inFlight[e.IO]; ok {
				te.IO, te.Req = is.n, is.req
				delete(inFlight, e.IO)
			}
		}
		out = append(out, te)
	}
	return out
}

// fmtDuration renders a duration in seconds: "0.021s", "12.3s".
func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// ExploreAll explores every registration in regs under cfg, in order.
func ExploreAll(regs []model.Registration, cfg ExploreConfig) ([]*ExploreResult, error) {
	out := make([]*ExploreResult, 0, len(regs))
	for _, reg := range regs {
		r, err := Explore(reg, cfg)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		runtime.GC() // the visited set of one policy is garbage now
	}
	return out, nil
}

// Summary renders the one-line summary of results: "explore: 5
// policies: 4 hold, 1 violated (freeze-l2), 0 incomplete".
func Summary(results []*ExploreResult) string {
	var hold, viol, inc []string
	for _, r := range results {
		switch r.Verdict {
		case Holds:
			hold = append(hold, r.Policy)
		case Violated:
			viol = append(viol, r.Policy)
		default:
			inc = append(inc, r.Policy)
		}
	}
	list := func(names []string) string {
		if len(names) == 0 {
			return ""
		}
		return " (" + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf("explore: %d policies: %d hold%s, %d violated%s, %d incomplete%s",
		len(results), len(hold), list(hold), len(viol), list(viol), len(inc), list(inc))
}
