package workloads

import "fmt"

// FirstTouch makes every write hit clusters no earlier write touched,
// so every write allocates: sequentially (rw=write) or in a random order
// of clusters at a random block within each (rw=randwrite).
const FirstTouch PatternName = "first-touch"

func init() { registerPattern(2, firstTouch{}) }

// firstTouch is the FirstTouch pattern.
type firstTouch struct{}

// Name returns FirstTouch.
func (firstTouch) Name() PatternName { return FirstTouch }

// Summary says what FirstTouch does.
func (firstTouch) Summary() string { return "every write allocates" }

// layout divides the region into units of fresh clusters, as many as a
// block of bs spans.
func (firstTouch) layout(j *Job) (layout, error) {
	if err := checkFresh(j); err != nil {
		return layout{}, err
	}
	cs := uint64(j.ClusterSize)
	perUnit := (j.BlockSize + cs - 1) / cs
	l := layout{units: j.Size / cs / perUnit, unitBytes: perUnit * cs, fresh: true}
	if l.units == 0 {
		return layout{}, j.keyError("size", fmt.Errorf("holds no run of %d fresh clusters for bs=%s", perUnit, FormatSize(j.BlockSize)))
	}
	return l, nil
}

// newGen starts a stream over the region's units.
func (firstTouch) newGen(s *Stream) opGen {
	return &firstTouchGen{perm: lazyPerm{n: s.p.lay.units}}
}

// firstTouchGen writes each unit once: in order, or in a random order at
// a random block of the unit's first cluster when bs is smaller than a
// cluster.
type firstTouchGen struct {
	perm lazyPerm // the random order of units
}

func (g *firstTouchGen) next(s *Stream) Op {
	j := &s.p.job
	bs := j.BlockSize
	unit := s.seq
	if j.RW.Random() {
		unit = g.perm.next(s.rng)
	}
	off := s.base + unit*s.p.lay.unitBytes
	if cs := uint64(j.ClusterSize); bs < cs && j.RW.Random() {
		off += s.rng.Uint64N(cs/bs) * bs
	}
	return Op{Kind: OpWrite, Off: off, Len: bs}
}
