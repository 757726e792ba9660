package workloads

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// This file holds fio's offset modifier, the ":N" after rw's value
// (HOWTO "rw" and "rw_sequencer"; fio's get_next_seq_offset and
// get_next_offset in io_u.c), with the region taken for fio's file: it
// starts at the region's start and is the region's size.
//
// After a sequential rw (rw=write:112k, rw=read:-8k) N is bytes added to
// where each request would start after the previous one's end: holes
// between requests, or strides backwards. A request that would start
// past the region's end wraps to its start (N > 0) or to the region's
// end plus N (N < 0); the first request of each pass starts at the
// region's start. A pass ends, as fio's loop does, after its requests
// (size/bs, or io_size/bs) or at the first request that would not fit,
// and the next pass starts again at the region's start.
//
// After a random rw (rw=randread:8) N is how many requests share a
// random draw: the first of every N is random, the N-1 after it follow
// the previous request of the same direction (rw_sequencer=sequential,
// fio's default: at its end, or a new random draw past the region's
// end) or repeat its offset (identical). With the random map (fio's
// default) every request marks its block, so that random draws take
// blocks not yet touched in the pass, as fio's map does.

// RWSequencer is how a random rw's offset modifier places the requests
// between random draws (key rw_sequencer).
type RWSequencer string

// The sequencers.
const (
	// SequencerSequential starts each request where the previous one of
	// its direction ended (fio's default).
	SequencerSequential RWSequencer = "sequential"
	// SequencerIdentical repeats the previous request's offset.
	SequencerIdentical RWSequencer = "identical"
)

// parseRW parses rw's value: a base (readwrite is rw) with an optional
// offset modifier, as fio's str_rw_cb: bytes (with fio's k, m, g
// suffixes, negative allowed) after a sequential base, a count in
// [1, 2^32-1] after a random one.
func parseRW(v string) (rw RW, add int64, run uint64, err error) {
	base, mod, hasMod := strings.Cut(v, ":")
	if base == "readwrite" {
		base = string(RWMixed)
	}
	if !validRW(RW(base)) {
		return "", 0, 0, badRW(v)
	}
	rw = RW(base)
	if !hasMod {
		return rw, 0, 0, nil
	}
	if rw.Random() {
		n, err := ParseSize(mod)
		if err != nil || n == 0 || n > math.MaxUint32 {
			return "", 0, 0, fmt.Errorf("the offset modifier :%s of a random rw is how many requests share a random offset: want a whole number in [1, %d]", mod, uint32(math.MaxUint32))
		}
		return rw, 0, n, nil
	}
	neg := strings.HasPrefix(mod, "-")
	n, err := ParseSize(strings.TrimPrefix(mod, "-"))
	if err != nil || n > math.MaxInt64 {
		return "", 0, 0, fmt.Errorf("the offset modifier :%s of a sequential rw is bytes added after each request: want a size, negative to go backwards", mod)
	}
	add = int64(n)
	if neg {
		add = -add
	}
	return rw, add, 0, nil
}

// formatRW renders what parseRW parses.
func formatRW(rw RW, add int64, run uint64) string {
	switch {
	case add > 0:
		return string(rw) + ":" + FormatSize(uint64(add))
	case add < 0:
		return string(rw) + ":-" + FormatSize(uint64(-add))
	case run > 0:
		return fmt.Sprintf("%s:%d", rw, run)
	}
	return string(rw)
}

// checkOffsetModifier checks the keys an offset modifier needs: fixed
// block sizes, plain or rewrite, no iolog; a sequential one not mixed
// (fio keeps a position for reads and one for writes, which a pass's
// end would need apart); a random one with whole blocks in the region.
func (j *Job) checkOffsetModifier() error {
	if j.OffsetAdd == 0 && j.RandomRun <= 1 {
		if j.RWSequencer != "" && j.RWSequencer != SequencerSequential && j.RWSequencer != SequencerIdentical {
			return j.keyError("rw_sequencer", errors.New("want sequential or identical"))
		}
		return nil
	}
	switch {
	case j.RWSequencer != "" && j.RWSequencer != SequencerSequential && j.RWSequencer != SequencerIdentical:
		return j.keyError("rw_sequencer", errors.New("want sequential or identical"))
	case j.OffsetAdd > maxOffsetAdd || j.OffsetAdd < -maxOffsetAdd:
		return j.keyError("rw", fmt.Errorf("the offset modifier is too large (at most %s either way)", FormatSize(maxOffsetAdd)))
	case j.OffsetAdd != 0 && j.RW.Random(), j.RandomRun > 0 && !j.RW.Random():
		return j.keyError("rw", errors.New("an offset modifier is bytes after a sequential rw and a count after a random one"))
	case j.IOLog != nil:
		return j.keyError("rw", errors.New("an offset modifier places generated requests: an iolog replay has none"))
	case j.BSSplit != "" || j.BSRange != "" || j.WriteBlockSize != 0:
		return j.keyError("rw", errors.New("not supported: an offset modifier with block sizes that vary (bssplit, bsrange, bs=READ,WRITE)"))
	case j.BlockAlign != 0 && j.BlockAlign != j.BlockSize:
		return j.keyError("rw", errors.New("not supported: an offset modifier with a blockalign other than bs"))
	case j.Pattern != Plain && j.Pattern != Rewrite:
		return j.keyError("rw", fmt.Errorf("an offset modifier places plain requests: pattern=%s places its own", j.Pattern))
	case j.RW == RWMixed:
		return j.keyError("rw", errors.New("not supported: an offset modifier with rw=rw: fio keeps a position for reads and one for writes, and ends a pass when either runs out"))
	case j.RW.trimWrite() || j.TrimBlockSize != 0:
		return j.keyError("rw", fmt.Errorf("not supported: an offset modifier with rw=%s or a trim block size (bs=READ,WRITE,TRIM)", j.RW))
	case j.RandomRun > 1 && j.Size%j.BlockSize != 0:
		return j.keyError("size", fmt.Errorf("not supported: an offset modifier of a random rw needs a size that is a multiple of bs=%s", FormatSize(j.BlockSize)))
	}
	return nil
}

// maxOffsetAdd bounds a sequential offset modifier, so that the
// arithmetic on it cannot overflow (fio's would wrap far past any file).
const maxOffsetAdd = 1 << 56

// seqAddNext returns where the request after one ending at last starts
// (last 0: the pass's first), in the region of size bytes with requests
// of bs and modifier add, as fio's get_next_seq_offset; false when it
// would not fit, which ends fio's pass.
func seqAddNext(last, size, bs uint64, add int64) (uint64, bool) {
	if last >= size {
		return 0, false
	}
	pos := last
	if pos != 0 && add != 0 {
		pos += uint64(add) // two's complement: a negative add subtracts
		if pos >= size {   // past the end, or below the start
			if add > 0 {
				pos = 0
			} else {
				pos = size + uint64(add)
			}
		}
	}
	if pos >= size || pos+bs > size {
		return 0, false
	}
	return pos, true
}

// seqAddRun returns how many requests of a pass fit before the first
// that would not (math.MaxUint64: all of them, the offsets wrapping for
// ever), as seqAddNext places them from the region's start. size >= bs.
func seqAddRun(size, bs uint64, add int64) uint64 {
	switch {
	case add > 0 || add < 0 && int64(bs)+add > 0:
		step := uint64(int64(bs) + add)
		m := (size-bs)/step + 1 // requests at k*step that fit
		last := (m - 1) * step
		if add > 0 && last+bs < size && m*step >= size {
			return math.MaxUint64 // the next wraps to the start
		}
		return m
	case size == bs:
		return 1 // the first ends at the region's end
	case int64(bs)+add == 0:
		return math.MaxUint64 // every request at the start
	case size < uint64(-add):
		return 1 // the second would start below the region
	}
	return math.MaxUint64 // backwards, wrapping to size+add
}

// modGen is the state of a stream's offset modifier.
type modGen struct {
	last  [2]uint64 // by direction (OpRead, OpWrite): where its previous request ended; 0 at a pass's start
	start [2]uint64 // by direction: where its previous request started
	used  map[uint64]struct{}
}

// nextSeqAdd returns the offset, in the region, of a sequential
// request with the offset modifier, starting a pass afresh after
// Plan.seqPass requests.
func (g *blockGen) nextSeqAdd(s *Stream) uint64 {
	p, j := s.p, &s.p.job
	if s.seq%p.seqPass == 0 {
		g.mod.last = [2]uint64{}
	}
	off, ok := seqAddNext(g.mod.last[0], j.Size, j.BlockSize, j.OffsetAdd)
	if !ok {
		off = 0 // Plan.seqPass ends a pass before this happens
	}
	g.mod.last[0] = off + j.BlockSize
	return off
}

// nextRandomRun returns the block of a random request with the offset
// modifier: a random draw for the first of every RandomRun requests,
// the others following the previous one of kind as rw_sequencer says.
// With the random map every request marks its block, and a pass
// (lay.units requests) starts the map afresh.
func (g *blockGen) nextRandomRun(s *Stream, kind OpKind) uint64 {
	p, j := s.p, &s.p.job
	units, bs := p.lay.units, j.BlockSize
	mapped := p.dist == nil && !j.NoRandomMap && j.BlockAlign == 0
	d := 0
	if kind == OpWrite {
		d = 1
	}
	var block uint64
	drawn := false
	if s.seq%units == 0 { // a pass starts, as fio's loop resets its file
		g.mod.last, g.mod.start = [2]uint64{}, [2]uint64{}
		if mapped {
			g.perm.reset()
			clear(g.mod.used)
		}
	}
	if s.seq%j.RandomRun != 0 {
		switch {
		case j.RWSequencer == SequencerIdentical:
			block, drawn = g.mod.start[d]/bs, true
		case g.mod.last[d] < j.Size:
			block, drawn = g.mod.last[d]/bs, true
		}
	}
	if !drawn {
		switch {
		case p.dist != nil:
			block = p.dist.block(g.dist, s.rng, s.seq)
		case !mapped:
			block = s.rng.Uint64N(units)
		default:
			for {
				block = g.perm.next(s.rng)
				if _, ok := g.mod.used[block]; !ok {
					break
				}
			}
		}
	}
	if mapped {
		if g.mod.used == nil {
			g.mod.used = make(map[uint64]struct{})
		}
		g.mod.used[block] = struct{}{}
	}
	g.mod.start[d], g.mod.last[d] = block*bs, block*bs+bs
	return block
}
