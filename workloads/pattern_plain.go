package workloads

// Plain is fio's behaviour on an empty image: writes allocate the
// clusters they touch first, reads of unwritten clusters read zeros or
// the backing file. Blocks come in order (rw=read, write, rw), or at
// random (randread, randwrite, randrw): uniformly, each block once per
// pass unless norandommap is set, or from the zipf distribution.
const Plain PatternName = "plain"

func init() { registerPattern(1, plain{}) }

// plain is the Plain pattern.
type plain struct{}

// Name returns Plain.
func (plain) Name() PatternName { return Plain }

// Summary says what Plain does.
func (plain) Summary() string { return "fio's: writes allocate the clusters they touch first" }

// layout divides the region into blocks of bs.
func (plain) layout(j *Job) (layout, error) {
	return layout{units: j.Size / j.BlockSize, unitBytes: j.BlockSize}, nil
}

// newGen starts a stream over the region's blocks; with zipf offsets it
// draws the stream's scatter of hot blocks first.
func (plain) newGen(s *Stream) opGen {
	g := &blockGen{perm: lazyPerm{n: s.p.lay.units}}
	if s.p.cdf != nil {
		g.zipf = newZipfScatter(s.rng, s.p.lay.units)
	}
	return g
}

// blockGen generates reads and writes of whole blocks as rw and
// random_distribution say: Plain's and Rewrite's operations.
type blockGen struct {
	perm lazyPerm    // the random map's pass over the blocks
	zipf zipfScatter // with zipf offsets: where the hot ranks go
}

func (g *blockGen) next(s *Stream) Op {
	j := &s.p.job
	kind := OpWrite
	switch j.RW {
	case RWRead, RWRandRead:
		kind = OpRead
	case RWMixed, RWRandMixed:
		if s.rng.IntN(100) < j.RWMixRead {
			kind = OpRead
		}
	}
	units := s.p.lay.units
	var block uint64
	switch {
	case !j.RW.Random():
		block = s.seq % units
	case s.p.cdf != nil:
		block = g.zipf.block(s.rng, s.p.cdf, units)
	case j.NoRandomMap:
		block = s.rng.Uint64N(units)
	default:
		block = g.perm.next(s.rng)
	}
	return Op{Kind: kind, Off: s.base + block*j.BlockSize, Len: j.BlockSize}
}
