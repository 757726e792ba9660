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

// plainLayout divides the region for Plain with variable block sizes
// or a blockalign: random offsets are multiples of unit (fixed-size
// requests each fit in the region), and sequential requests follow each
// other, one pass being one per bs (a byte budget, with variable sizes).
func plainLayout(j *Job, unit uint64, sizes *blockSizes) layout {
	switch {
	case sizes != nil:
		return layout{units: j.Size / unit, unitBytes: unit}
	case !j.RW.Random():
		return layout{units: j.Size / j.BlockSize, unitBytes: j.BlockSize}
	case j.Size < j.BlockSize:
		return layout{}
	}
	return layout{units: (j.Size-j.BlockSize)/unit + 1, unitBytes: unit}
}

// newGen starts a stream over the region's blocks; with a skewed
// distribution it draws the stream's scatter of hot blocks first.
func (plain) newGen(s *Stream) opGen {
	g := &blockGen{perm: lazyPerm{n: s.p.lay.units}}
	if s.p.dist != nil {
		g.dist = s.p.dist.newState(s.rng)
	}
	return g
}

// blockGen generates reads, writes and trims of whole blocks as rw and
// random_distribution say: Plain's and Rewrite's operations.
type blockGen struct {
	perm lazyPerm  // the random map's pass over the blocks
	dist distState // with a skewed distribution: where the hot ranks go
	pos  uint64    // sequential with variable sizes: the next offset in the region
	mod  modGen    // with rw's offset modifier
	// trimWrite: the write of the blocks of trimmed, the trim just
	// generated, comes next (rw=trimwrite, randtrimwrite).
	trimmed Op
	owed    bool
}

func (g *blockGen) next(s *Stream) Op {
	p := s.p
	j := &p.job
	if g.owed {
		g.owed = false
		return Op{Kind: OpWrite, Off: g.trimmed.Off, Len: g.trimmed.Len}
	}
	op := g.nextBlock(s)
	if j.RW.trimWrite() {
		g.trimmed, g.owed = op, true
	}
	return op
}

// drawKind returns what the instance's next operation does, as rw says:
// with a mix, a read rwmixread times in 100 (a draw from the stream's
// generator); with trimwrite, the trim (its write follows it).
func (s *Stream) drawKind() OpKind {
	j := &s.p.job
	switch j.RW {
	case RWRead, RWRandRead:
		return OpRead
	case RWMixed, RWRandMixed:
		if s.rng.IntN(100) < j.RWMixRead {
			return OpRead
		}
	case RWTrim, RWRandTrim, RWTrimWrite, RWRandTrimWrite:
		return OpTrim
	}
	return OpWrite
}

// nextBlock generates the next operation that picks a block: every one,
// or with trimwrite the trims (each write follows its trim).
func (g *blockGen) nextBlock(s *Stream) Op {
	p := s.p
	j := &p.job
	kind := s.drawKind()
	// seq counts the blocks picked: with trimwrite, every other op.
	seq := s.seq
	if j.RW.trimWrite() {
		seq /= 2
	}
	units := p.lay.units
	var block uint64
	switch {
	case !j.RW.Random():
		if p.sizes != nil {
			return g.nextSequential(s, kind)
		}
		if j.OffsetAdd != 0 {
			// (checkOffsetModifier refuses it with trimwrite.)
			return Op{Kind: kind, Off: s.base + g.nextSeqAdd(s), Len: j.BlockSize}
		}
		block = seq % units
	case j.RandomRun > 1:
		block = g.nextRandomRun(s, kind)
	case p.dist != nil:
		block = p.dist.block(g.dist, s.rng, seq)
	case j.NoRandomMap || j.BlockAlign > 0:
		block = s.rng.Uint64N(units)
	default:
		block = g.perm.next(s.rng)
	}
	off, n := block*p.lay.unitBytes, j.BlockSize
	if p.sizes != nil {
		n = min(p.sizes.pick(s.rng, kind), j.Size-off)
	}
	return Op{Kind: kind, Off: s.base + off, Len: n}
}

// nextSequential returns the next request of a sequential stream whose
// sizes vary: after the previous one, cut to the region's end, and back
// at the start once not even the smallest size fits.
func (g *blockGen) nextSequential(s *Stream, kind OpKind) Op {
	p := s.p
	size := p.job.Size
	if size-g.pos < p.sizes.min {
		g.pos = 0
	}
	n := min(p.sizes.pick(s.rng, kind), size-g.pos)
	op := Op{Kind: kind, Off: s.base + g.pos, Len: n}
	g.pos += n
	return op
}
