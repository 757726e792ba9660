package checker

import (
	"cmp"
	"math"
	"slices"

	"github.com/qedharness/qedharness/model"
)

// zoneSegment accepts a segment of one sector's history without a search,
// by the characterization of linearizable read/write registers whose
// writes all write distinct values (Gibbons and Korach, SIAM J. Comput.
// 1997; in this form Golab, Li and Shah, PODC 2011). Group each write
// with the reads that returned its value (a cluster; the value the sector
// starts from is written by a virtual write before everything). A
// cluster's zone runs from the earliest return to the latest call among
// its operations: forward if that return comes first, backward otherwise.
// The history is linearizable if and only if every read returned a value
// whose write does not follow it in real time, no two forward zones
// intersect, and no backward zone lies inside a forward zone.
//
// Every write of a sector writes its own tag (model.WriteTag), so the
// condition holds for the sector histories model.Disk judges. A segment
// that does not start the sector starts from one of the values assumed;
// it is linearizable if it is from one of them, since the segment before
// ends at a quiescent point and can be ordered to leave any of them.
//
// It returns Ok or Unknown, never Illegal: a segment it does not accept
// goes to porcupine, which finds the failure and its counterexample.
func (c *partitionCheck) zoneSegment(seg segment, assumed []model.Tag) CheckResult {
	list := c.hist.secOps[seg.idx][seg.lo:seg.hi]
	if len(list) == 0 || !c.distinctTimes(list) {
		return Unknown
	}
	starts := assumed
	if assumed == nil {
		starts = []model.Tag{c.hist.disk.Initial(seg.sector)}
	}
	for _, v := range starts {
		if c.zonesHold(seg.sector, list, v, nil) == Ok {
			return Ok
		}
	}
	return Unknown
}

// zoneFinal says whether seg, found linearizable from assumed, can leave
// the sector holding t: whether it stays linearizable with a read of t
// after all its operations. It answers Ok or Illegal by the zone
// conditions, which are exact, and Unknown where they do not apply.
func (c *partitionCheck) zoneFinal(seg segment, assumed []model.Tag, t model.Tag) CheckResult {
	list := c.hist.secOps[seg.idx][seg.lo:seg.hi]
	if len(list) == 0 || !c.distinctTimes(list) {
		return Unknown
	}
	last := int64(0)
	for _, k := range list {
		last = max(last, c.hist.ops[k].ret)
	}
	probe := &zoneRead{tag: t, call: last + 1, ret: last + 2}
	starts := assumed
	if assumed == nil {
		starts = []model.Tag{c.hist.disk.Initial(seg.sector)}
	}
	v := Illegal
	for _, start := range starts {
		switch c.zonesHold(seg.sector, list, start, probe) {
		case Ok:
			return Ok
		case Unknown:
			v = Unknown
		}
	}
	return v
}

// zoneRead is a read added to a segment: of tag, from call to ret.
type zoneRead struct {
	tag       model.Tag
	call, ret int64
}

// distinctTimes reports whether the operations' calls and returns are
// all different, but for the shared return of pending writes (c.hist.end),
// which never ends a zone before another begins.
func (c *partitionCheck) distinctTimes(list []int32) bool {
	times := make([]int64, 0, 2*len(list))
	for _, k := range list {
		o := &c.hist.ops[k]
		times = append(times, o.call)
		if o.ret != c.hist.end {
			times = append(times, o.ret)
		}
	}
	slices.Sort(times)
	for i := 1; i < len(times); i++ {
		if times[i] == times[i-1] {
			return false
		}
	}
	return true
}

// zoneCluster is a write and the reads of its value: the write's call,
// the earliest return (first) and the latest call (last) of them all.
type zoneCluster struct {
	writeCall   int64
	first, last int64
	reads       bool
}

// zone is an interval of time [from, to].
type zone struct{ from, to int64 }

// zonesHold says whether the operations list of sector s, starting from
// value start, with the read extra if it is not nil, meet the zone
// conditions: Ok or Illegal, or Unknown if the conditions do not apply
// (two writes of one value, or a zone without length).
func (c *partitionCheck) zonesHold(s uint64, list []int32, start model.Tag, extra *zoneRead) CheckResult {
	const never = math.MinInt64
	clusters := make(map[model.Tag]*zoneCluster, len(list)/2+1)
	clusters[start] = &zoneCluster{writeCall: never, first: never, last: never}
	for _, k := range list {
		o := &c.hist.ops[k]
		if !o.action.Writes() {
			continue
		}
		t := o.action.Wrote(o.id, s)
		if clusters[t] != nil {
			return Unknown // not distinct: the characterization does not apply
		}
		clusters[t] = &zoneCluster{writeCall: o.call, first: o.ret, last: o.call}
	}
	for _, k := range list {
		o := &c.hist.ops[k]
		if o.action.Writes() {
			continue
		}
		z := clusters[o.seen[s-o.sector].Tag]
		if z == nil || o.ret < z.writeCall {
			return Illegal // a value never written, or written after the read
		}
		z.first, z.last, z.reads = min(z.first, o.ret), max(z.last, o.call), true
	}
	if extra != nil {
		z := clusters[extra.tag]
		if z == nil || extra.ret < z.writeCall {
			return Illegal
		}
		z.first, z.last, z.reads = min(z.first, extra.ret), max(z.last, extra.call), true
	}
	var forward, backward []zone
	for t, z := range clusters {
		switch {
		case t == start && !z.reads:
			// The virtual first write, never read: no constraint.
		case z.first < z.last:
			forward = append(forward, zone{z.first, z.last})
		case z.last < z.first:
			backward = append(backward, zone{z.last, z.first})
		default:
			return Unknown
		}
	}
	slices.SortFunc(forward, func(a, b zone) int { return cmp.Compare(a.from, b.from) })
	for i := 1; i < len(forward); i++ {
		if forward[i].from <= forward[i-1].to {
			return Illegal // two forward zones intersect
		}
	}
	for _, b := range backward {
		// Forward zones are disjoint and sorted: only the last one
		// starting before b can hold it.
		i, _ := slices.BinarySearchFunc(forward, b.from, func(z zone, t int64) int { return cmp.Compare(z.from, t) })
		if i > 0 && b.to <= forward[i-1].to {
			return Illegal // a backward zone inside a forward zone
		}
	}
	return Ok
}
