package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// maxMinimized bounds how many failing sectors are minimized to find the
// shortest counterexample; maxContext how many concurrent operations on
// other sectors a counterexample lists.
const (
	maxMinimized = 8
	maxContext   = 8
)

// Step is one operation of a counterexample, seen from its sector.
type Step struct {
	// ID is the operation's ID; a write's tags carry it.
	ID uint64
	// Action is what the operation did; Sector and Sectors the range it
	// covered, of which the counterexample concerns one sector.
	Action  history.Action
	Sector  uint64
	Sectors uint64
	// Client is the queue slot the operation occupied.
	Client int
	// Call and Return are the positions of its call and return in
	// History.Events; CallTime and ReturnTime the clock readings (ns).
	Call, Return         int64
	CallTime, ReturnTime int64
	// Pending is true for a write that never returned or failed: it may
	// take effect at any time after its call.
	Pending bool
	// Wrote is the tag a write stamped on the counterexample's sector;
	// Saw the tag a read returned there.
	Wrote, Saw model.Tag
}

// String renders the step as one line.
func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "op %-4d %-5s s%d+%d  call ev %d t=%s", s.ID, s.Action, s.Sector, s.Sectors, s.Call, fmtNanos(s.CallTime))
	if s.Pending {
		b.WriteString("  never returned")
	} else {
		fmt.Fprintf(&b, "  return ev %d t=%s", s.Return, fmtNanos(s.ReturnTime))
	}
	return b.String()
}

// Counterexample is a shortest failing sub-history found for one sector:
// removing any of its operations makes it linearizable (unless the check
// ran out of time first).
type Counterexample struct {
	// Sector is the sector whose history is not linearizable.
	Sector uint64
	// Assumed is nil when the sub-history starts from the sector's
	// initial content; otherwise the history was split and the piece
	// starts with the sector holding one of these tags.
	Assumed []model.Tag
	// Steps are the operations of the sub-history on Sector, in call
	// order.
	Steps []Step
	// Stale is the index in Steps of the read that went wrong (the last
	// read called), Saw what it returned and Want the tags that would
	// have made the sub-history linearizable.
	Stale int
	Saw   model.Tag
	Want  []model.Tag
	// Concurrent lists operations on other sectors that overlapped the
	// sub-history in time, nearest sectors first: often the write whose
	// allocation raced with the lost one.
	Concurrent []Step
}

// String renders the counterexample for a test log or a terminal.
func (c *Counterexample) String() string {
	var b strings.Builder
	st := c.Steps[c.Stale]
	want := "nothing: no value makes it linearizable"
	if len(c.Want) > 0 {
		want = joinTags(c.Want)
	}
	fmt.Fprintf(&b, "sector %d: op %d (read s%d+%d) saw %v there, but should have seen %s\n", c.Sector, st.ID, st.Sector, st.Sectors, c.Saw, want)
	fmt.Fprintf(&b, "shortest failing history of sector %d (ev = position in the history, t = clock):\n", c.Sector)
	if c.Assumed != nil {
		fmt.Fprintf(&b, "  (history split at a quiescent point: sector %d starts holding %s)\n", c.Sector, joinTags(c.Assumed))
	}
	for i, s := range c.Steps {
		fmt.Fprintf(&b, "  %s  ", s)
		if s.Action.Writes() {
			fmt.Fprintf(&b, "s%d := %v", c.Sector, s.Wrote)
		} else {
			fmt.Fprintf(&b, "s%d -> %v", c.Sector, s.Saw)
		}
		if i == c.Stale {
			b.WriteString("   <- stale")
		}
		b.WriteByte('\n')
	}
	if len(c.Concurrent) > 0 {
		b.WriteString("concurrent operations on other sectors:\n")
		for _, s := range c.Concurrent {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	return b.String()
}

func joinTags(tags []model.Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.String()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "one of {" + strings.Join(parts, ", ") + "}"
}

// fmtNanos renders nanoseconds as microseconds: "120.300µs".
func fmtNanos(ns int64) string {
	return fmt.Sprintf("%d.%03dµs", ns/1000, abs(ns%1000))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// counterexample minimizes the partitions of up to maxMinimized failing
// sectors and returns the shortest, with the unminimized partition it
// came from.
func (c *partitionCheck) counterexample(failing []uint64, parts map[uint64][]porcupine.Operation) (*Counterexample, []porcupine.Operation) {
	var best []porcupine.Operation
	var bestSector uint64
	for _, s := range failing[:min(len(failing), maxMinimized)] {
		m := c.minimize(parts[s])
		if best == nil || len(m) < len(best) {
			best, bestSector = m, s
		}
	}
	return c.describe(bestSector, best), parts[bestSector]
}

// minimize removes operations from a failing partition while it still
// fails, first in halves, then quarters, down to single operations, until
// no single operation can go. An assume is never removed, nor a write
// whose tag a remaining read returned.
func (c *partitionCheck) minimize(part []porcupine.Operation) []porcupine.Operation {
	cur := part
	first := 0
	if len(cur) > 0 && cur[0].Input.(model.SectorInput).Kind == model.SectorAssume {
		first = 1
	}
	try := func(lo, hi int) bool {
		cand := slices.Concat(cur[:lo], cur[hi:])
		if !consistent(cand) || c.check(cand) != Illegal {
			return false
		}
		cur = cand
		return true
	}
	for chunk := (len(cur) - first) / 2; chunk > 1; chunk /= 2 {
		for i := first; i < len(cur); {
			if !try(i, min(i+chunk, len(cur))) {
				i += chunk
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := len(cur) - 1; i >= first; i-- {
			if i < len(cur) && try(i, i+1) {
				changed = true
			}
		}
	}
	return cur
}

// consistent reports whether every read's write tag comes from a write
// (or an assume) of part, so that a sub-history fails for the right
// reason and not because a read saw a write that was removed.
func consistent(part []porcupine.Operation) bool {
	have := map[model.Tag]bool{}
	for _, op := range part {
		in := op.Input.(model.SectorInput)
		switch in.Kind {
		case model.SectorWrite:
			have[in.Tag] = true
		case model.SectorAssume:
			for _, t := range in.Possible {
				have[t] = true
			}
		}
	}
	for _, op := range part {
		if in := op.Input.(model.SectorInput); in.Kind == model.SectorRead {
			if t := op.Output.(model.Tag); t.Kind == model.TagWrite && !have[t] {
				return false
			}
		}
	}
	return true
}

// describe turns a minimized partition of sector s into a Counterexample.
func (c *partitionCheck) describe(s uint64, part []porcupine.Operation) *Counterexample {
	ce := &Counterexample{Sector: s, Stale: -1}
	var ops []porcupine.Operation
	for _, op := range part {
		in := op.Input.(model.SectorInput)
		if in.Kind == model.SectorAssume {
			ce.Assumed = in.Possible
			continue
		}
		ops = append(ops, op)
	}
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	lo, hi := int64(1<<62), int64(-1<<62)
	for i, op := range ops {
		k := op.Metadata.(opMeta).op
		st := c.step(k)
		in := op.Input.(model.SectorInput)
		if in.Kind == model.SectorWrite {
			st.Wrote = in.Tag
		} else {
			st.Saw = op.Output.(model.Tag)
			ce.Stale = i
		}
		ce.Steps = append(ce.Steps, st)
		lo, hi = min(lo, op.Call), max(hi, min(op.Return, c.hist.end-1))
	}
	if ce.Stale < 0 {
		// Only writes fail: impossible for a register, but say so.
		ce.Stale = len(ce.Steps) - 1
	}
	ce.Saw = ce.Steps[ce.Stale].Saw
	ce.Want = c.want(s, part, ce.Steps[ce.Stale])
	ce.Concurrent = c.concurrent(s, lo, hi)
	return ce
}

// want returns the tags the stale read could have returned for part to be
// linearizable.
func (c *partitionCheck) want(s uint64, part []porcupine.Operation, stale Step) []model.Tag {
	cands := []model.Tag{c.hist.disk.Initial(s)}
	idx := -1
	for i, op := range part {
		in := op.Input.(model.SectorInput)
		switch in.Kind {
		case model.SectorWrite:
			cands = append(cands, in.Tag)
		case model.SectorAssume:
			cands = append(cands, in.Possible...)
		case model.SectorRead:
			if op.Call == stale.Call {
				idx = i
			}
		}
	}
	var out []model.Tag
	if idx < 0 {
		return nil
	}
	seen := map[model.Tag]bool{}
	for _, t := range cands {
		if seen[t] || t == stale.Saw {
			continue
		}
		seen[t] = true
		alt := slices.Clone(part)
		alt[idx].Output = t
		if c.check(alt) == Ok {
			out = append(out, t)
		}
	}
	return out
}

// step describes history operation k.
func (c *partitionCheck) step(k int32) Step {
	o := &c.hist.ops[k]
	return Step{
		ID: o.id, Action: o.action, Sector: o.sector, Sectors: o.sectors, Client: o.client,
		Call: o.call, Return: o.ret, CallTime: o.callTime, ReturnTime: o.retTime, Pending: o.pending,
	}
}

// concurrent returns reads and writes not covering sector s that were in
// flight at some time in [lo, hi], nearest sectors first.
func (c *partitionCheck) concurrent(s uint64, lo, hi int64) []Step {
	type near struct {
		k    int32
		dist uint64
	}
	var cands []near
	for k := range c.hist.ops {
		o := &c.hist.ops[k]
		if !o.action.Ranged() {
			continue
		}
		if o.call > hi || o.ret < lo || (s >= o.sector && s < o.sector+o.sectors) {
			continue
		}
		d := o.sector - s
		if o.sector < s {
			d = s - (o.sector + o.sectors - 1)
		}
		cands = append(cands, near{int32(k), d})
	}
	slices.SortStableFunc(cands, func(a, b near) int {
		if a.dist != b.dist {
			return cmp.Compare(a.dist, b.dist)
		}
		return cmp.Compare(c.hist.ops[a.k].call, c.hist.ops[b.k].call)
	})
	var out []Step
	for _, n := range cands[:min(len(cands), maxContext)] {
		out = append(out, c.step(n.k))
	}
	slices.SortFunc(out, func(a, b Step) int { return cmp.Compare(a.Call, b.Call) })
	return out
}
