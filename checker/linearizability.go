// Package checker judges the harness's runs. Check decides with porcupine
// whether a recorded history (history.History) is linearizable against
// model.Disk, sector by sector; on failure it returns the failing sectors
// and the shortest failing sub-history it can find, in readable form, and
// Result.Visualize writes porcupine's HTML view of the failing partition.
// The explorer beside it searches completion orders and the protocol
// model.
package checker

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// Verdict is the outcome of a check, as porcupine's CheckResult.
type CheckResult uint8

const (
	// Ok: every sector's history is linearizable.
	Ok CheckResult = iota
	// Illegal: at least one sector's history is not linearizable.
	Illegal
	// Unknown: the check ran out of time before finding a violation or
	// finishing.
	Unknown
)

var verdictNames = [...]string{"ok", "illegal", "unknown"}

// String returns "ok", "illegal" or "unknown".
func (v CheckResult) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// DefaultMaxSegment is the default Options.MaxSegment.
const DefaultMaxSegment = 64

// batchPartitions bounds the partitions handed to porcupine at once, and
// so the memory and goroutines one call takes.
const batchPartitions = 4096

// Options tune a check. The zero value checks without a time limit.
//
// Every partition goes to porcupine except one whose operations never
// overlap in time: its only linearization is call order, so Check replays
// the model through it, which decides it exactly as porcupine would
// without porcupine's search and goroutines.
type Options struct {
	// Timeout bounds the whole check, minimization included; 0 means no
	// limit. When it expires the verdict is Unknown unless a violation
	// was already found.
	Timeout time.Duration
	// MaxSegment is the length, in single-sector operations, past which a
	// sector's history is split at the next quiescent point (a moment
	// when none of its operations is in flight). Each piece is checked
	// from the values the previous one may have left, which is exact and
	// keeps porcupine's cost, which grows steeply with a partition's
	// length, in check. 0 means DefaultMaxSegment; negative never splits.
	MaxSegment int
	// AllowPending accepts operations that never returned: a write may
	// then take effect at any time after its call, and a read is ignored.
	// Otherwise they are reported as UnmatchedCall. Writes that returned
	// an error are always treated as pending.
	AllowPending bool
	// SearchOnly judges every segment whose operations overlap with
	// porcupine's search, without first trying the zone conditions
	// (zoneSegment). The verdict is the same; this is for cross-checking
	// and for timing the search.
	SearchOnly bool
}

// Result is the outcome of Check.
type Result struct {
	// Verdict is the overall verdict.
	Verdict CheckResult
	// Failing lists the sectors whose histories are not linearizable, in
	// ascending order (empty unless Illegal).
	Failing []uint64
	// Counterexample is the shortest failing sub-history found, for one
	// of the failing sectors (nil unless Illegal).
	Counterexample *Counterexample
	// Ops counts the operations of the history; SectorOps the
	// single-sector reads and writes they amount to; Sectors the sectors
	// touched; Segments the pieces the sectors' histories were checked in.
	Ops, SectorOps, Sectors, Segments int

	disk model.Disk
	// The failing partition as porcupine checked it, for Visualize.
	failing []porcupine.Operation
}

// segment is a piece of one sector's history: secOps[idx][lo:hi], where
// sector is sectors[idx].
type segment struct {
	sector uint64
	idx    int
	lo, hi int
}

// Check decides whether h is linearizable against h.Disk. A history the
// checker cannot judge (unmatched calls or returns, reads of corrupt or
// unknown tags) yields an error joining one *InputError per problem, up to
// 20, and no result.
func Check(h history.History, opts Options) (*Result, error) {
	var deadline time.Time
	if opts.Timeout > 0 {
		deadline = time.Now().Add(opts.Timeout)
	}
	hist, err := prepare(&h, opts.AllowPending)
	if err != nil {
		return nil, err
	}
	c := &partitionCheck{hist: hist, model: h.Disk.Model(), deadline: deadline, noZones: opts.SearchOnly}
	res := &Result{Ops: len(hist.ops), Sectors: len(hist.sectors), disk: h.Disk}
	maxSeg := opts.MaxSegment
	if maxSeg == 0 {
		maxSeg = DefaultMaxSegment
	}
	// Split every sector's history into segments.
	all := make([]segment, 0, len(hist.sectors))
	ends := make([]int, len(hist.sectors))
	for i := range hist.sectors {
		all = c.split(all, i, maxSeg)
		ends[i] = len(all)
		res.SectorOps += len(hist.secOps[i])
	}
	res.Segments = len(all)
	segs := make([][]segment, len(hist.sectors))
	for i, end := range ends {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		segs[i] = all[start:end:end]
	}
	// Check round by round: round r holds the r-th segment of every
	// sector still going, each starting from what its previous segment
	// may have left.
	assumed := make([][]model.Tag, len(hist.sectors))
	live := make([]int, len(hist.sectors))
	for i := range live {
		live[i] = i
	}
	failedSeg := map[uint64][]porcupine.Operation{}
	timedOut := false
	for round := 0; len(live) > 0 && !timedOut; round++ {
		failed := make([]bool, len(live))
		for lo := 0; lo < len(live) && !timedOut; lo += batchPartitions {
			if c.remaining() < 0 {
				timedOut = true // the budget is spent, whoever judges
				break
			}
			batch := live[lo:min(lo+batchPartitions, len(live))]
			// Segments whose operations never overlap are judged by
			// replaySegment as checkAll's replay would judge them, but
			// without making porcupine operations; segments the zone
			// conditions accept need no search either. The rest (and
			// any that fail, for the counterexample) go on as
			// partitions.
			var parts [][]porcupine.Operation
			var at []int // at[j]: the position in batch of parts[j]
			for j, i := range batch {
				if c.replaySegment(segs[i][round], assumed[i]) == Ok || (!c.noZones && c.zoneSegment(segs[i][round], assumed[i]) == Ok) {
					continue
				}
				parts = append(parts, c.operations(segs[i][round], assumed[i]))
				at = append(at, j)
			}
			switch c.checkAll(parts) {
			case Unknown:
				timedOut = true
			case Illegal:
				// Find which partitions failed.
				results := make([]CheckResult, len(parts))
				parallel(len(parts), func(j int) { results[j] = c.check(parts[j]) })
				for j, v := range results {
					switch v {
					case Illegal:
						failed[lo+at[j]] = true
						s := hist.sectors[batch[at[j]]]
						res.Failing = append(res.Failing, s)
						failedSeg[s] = parts[j]
					case Unknown:
						timedOut = true
					}
				}
			}
		}
		if timedOut {
			break
		}
		// Carry the possible final values into the next round.
		var next []int
		for j, i := range live {
			if !failed[j] && round+1 < len(segs[i]) {
				next = append(next, i)
			}
		}
		parallel(len(next), func(j int) {
			i := next[j]
			assumed[i] = c.finals(segs[i][round], assumed[i])
		})
		live = next
	}
	switch {
	case len(res.Failing) > 0:
		res.Verdict = Illegal
		slices.Sort(res.Failing)
		res.Counterexample, res.failing = c.counterexample(res.Failing, failedSeg)
	case timedOut:
		res.Verdict = Unknown
	default:
		res.Verdict = Ok
	}
	return res, nil
}

// run is the state of one Check.
type partitionCheck struct {
	hist     *prepared
	model    porcupine.Model
	deadline time.Time
	noZones  bool // Options.SearchOnly
}

// remaining returns the time left, 0 for no limit, or -1 if none is left.
func (c *partitionCheck) remaining() time.Duration {
	if c.deadline.IsZero() {
		return 0
	}
	d := time.Until(c.deadline)
	if d <= 0 {
		return -1
	}
	return d
}

// checkAll checks many independent partitions: sequential ones by replay,
// the rest in one porcupine call, which runs them in parallel and stops at
// the first failure.
func (c *partitionCheck) checkAll(parts [][]porcupine.Operation) CheckResult {
	var rest [][]porcupine.Operation
	for _, p := range parts {
		switch c.replay(p) {
		case Illegal:
			return Illegal
		case Unknown:
			rest = append(rest, p)
		}
	}
	if len(rest) <= 1 {
		if len(rest) == 0 {
			return Ok
		}
		return c.check(rest[0])
	}
	left := c.remaining()
	if left < 0 {
		return Unknown
	}
	m := c.model
	m.Partition = func([]porcupine.Operation) [][]porcupine.Operation { return rest }
	return verdictOf(porcupine.CheckOperationsTimeout(m, nil, left))
}

// check checks one partition: by replay if it is sequential, else with
// porcupine.
func (c *partitionCheck) check(part []porcupine.Operation) CheckResult {
	if v := c.replay(part); v != Unknown {
		return v
	}
	left := c.remaining()
	if left < 0 {
		return Unknown
	}
	m := c.model
	m.Partition = nil
	return verdictOf(porcupine.CheckOperationsTimeout(m, part, left))
}

// replay judges a partition whose operations, taken in call order, each
// start after every earlier one returned: its only linearization is that
// order, so stepping the model through it decides it exactly as porcupine
// would, without porcupine's search (or its goroutines). It returns
// Unknown for a partition with overlapping operations.
func (c *partitionCheck) replay(part []porcupine.Operation) CheckResult {
	end := int64(-1 << 63)
	for i := range part {
		if part[i].Call <= end {
			return Unknown
		}
		end = part[i].Return
	}
	state := c.model.Init()
	for i := range part {
		ok, next := c.model.Step(state, part[i].Input, part[i].Output)
		if !ok {
			return Illegal
		}
		state = next
	}
	return Ok
}

func verdictOf(r porcupine.CheckResult) CheckResult {
	switch r {
	case porcupine.Ok:
		return Ok
	case porcupine.Illegal:
		return Illegal
	}
	return Unknown
}

// split cuts the operations of sector sectors[idx] into segments of at
// least maxSeg operations each (the last may be shorter), at quiescent
// points, and appends them to out.
func (c *partitionCheck) split(out []segment, idx int, maxSeg int) []segment {
	list, s := c.hist.secOps[idx], c.hist.sectors[idx]
	if maxSeg < 0 || len(list) <= maxSeg {
		return append(out, segment{sector: s, idx: idx, lo: 0, hi: len(list)})
	}
	lo := 0
	maxRet := int64(-1 << 63)
	for k, i := range list {
		o := &c.hist.ops[i]
		if k-lo >= maxSeg && maxRet < o.call {
			out = append(out, segment{sector: s, idx: idx, lo: lo, hi: k})
			lo = k
		}
		maxRet = max(maxRet, o.ret)
	}
	return append(out, segment{sector: s, idx: idx, lo: lo, hi: len(list)})
}

// replaySegment is replay on the partition operations(seg, assumed)
// would make, straight from the history: Unknown if its operations
// overlap in time, else the model's verdict, stepped as model.Disk steps
// a sector (an assume of no value fails; a read must return the value
// held, or one of the values assumed).
func (c *partitionCheck) replaySegment(seg segment, assumed []model.Tag) CheckResult {
	list := c.hist.secOps[seg.idx][seg.lo:seg.hi]
	end := int64(-1 << 63)
	if assumed != nil && len(list) > 0 {
		end = c.hist.ops[list[0]].call - 1 // the assume's return
	}
	for _, k := range list {
		o := &c.hist.ops[k]
		if o.call <= end {
			return Unknown
		}
		end = o.ret
	}
	if assumed != nil && len(assumed) == 0 {
		return Illegal
	}
	possible := assumed // nil: the sector's initial content
	var held model.Tag
	if assumed == nil {
		held = c.hist.disk.Initial(seg.sector)
	} else if len(assumed) == 1 {
		held, possible = assumed[0], nil
	}
	for _, k := range list {
		o := &c.hist.ops[k]
		if o.action.Writes() {
			held, possible = o.action.Wrote(o.id, seg.sector), nil
			continue
		}
		got := o.seen[seg.sector-o.sector].Tag
		if possible != nil {
			if !slices.Contains(possible, got) {
				return Illegal
			}
		} else if got != held {
			return Illegal
		}
		held, possible = got, nil
	}
	return Ok
}

// opMeta is the Metadata of a porcupine operation: the history operation
// it came from (-1 for a synthetic assume or probe).
type opMeta struct{ op int32 }

// operations returns seg as porcupine operations, preceded by an assume
// of the possible values when the segment does not start the sector.
func (c *partitionCheck) operations(seg segment, assumed []model.Tag) []porcupine.Operation {
	list := c.hist.secOps[seg.idx][seg.lo:seg.hi]
	out := make([]porcupine.Operation, 0, len(list)+1)
	if assumed != nil {
		t := c.hist.ops[list[0]].call - 1
		out = append(out, porcupine.Operation{
			Input:    model.SectorInput{Kind: model.SectorAssume, Sector: seg.sector, Possible: assumed},
			Call:     t,
			Return:   t,
			Metadata: opMeta{-1},
		})
	}
	for _, k := range list {
		o := &c.hist.ops[k]
		in, outv := c.hist.sectorInput(k, seg.sector)
		out = append(out, porcupine.Operation{
			ClientId: o.client,
			Input:    in,
			Call:     o.call,
			Output:   outv,
			Return:   o.ret,
			Metadata: opMeta{k},
		})
	}
	return out
}

// finals returns the values the sector may hold after seg, which was
// found linearizable from assumed: the tag of any write that can be
// linearized last, or, without writes, the value the reads saw.
func (c *partitionCheck) finals(seg segment, assumed []model.Tag) []model.Tag {
	list := c.hist.secOps[seg.idx][seg.lo:seg.hi]
	// A write followed in real time by another write is never last.
	var cands []int32
	var lastRead model.Tag
	reads := false
	for _, k := range list {
		o := &c.hist.ops[k]
		if !o.action.Writes() {
			lastRead, reads = o.seen[seg.sector-o.sector].Tag, true
			continue
		}
		maximal := true
		for _, k2 := range list {
			o2 := &c.hist.ops[k2]
			if o2.action.Writes() && o.ret < o2.call {
				maximal = false
				break
			}
		}
		if maximal {
			cands = append(cands, k)
		}
	}
	switch {
	case len(cands) == 1:
		o := &c.hist.ops[cands[0]]
		return []model.Tag{o.action.Wrote(o.id, seg.sector)}
	case len(cands) == 0 && reads:
		return []model.Tag{lastRead} // every read saw it, or seg would have failed
	case len(cands) == 0:
		return assumed
	}
	// Probe: append a read after everything that sees candidate t, and
	// ask the zone conditions, then porcupine.
	var base []porcupine.Operation
	var end int64
	var out []model.Tag
	for _, k := range cands {
		t := c.hist.ops[k].action.Wrote(c.hist.ops[k].id, seg.sector)
		if slices.Contains(out, t) {
			continue // two write-zeroes: one value
		}
		if !c.noZones {
			switch c.zoneFinal(seg, assumed, t) {
			case Ok:
				out = append(out, t)
				continue
			case Illegal:
				continue
			}
		}
		if base == nil {
			base = c.operations(seg, assumed)
			end = base[len(base)-1].Return
			for _, op := range base {
				end = max(end, op.Return)
			}
		}
		probe := append(base[:len(base):len(base)], porcupine.Operation{
			Input:  model.SectorInput{Kind: model.SectorRead, Sector: seg.sector},
			Call:   end + 1,
			Output: t,
			Return: end + 1,
		})
		if c.check(probe) != Illegal { // Unknown keeps t: never lose a value
			out = append(out, t)
		}
	}
	return out
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
