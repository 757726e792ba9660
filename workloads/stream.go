package workloads

import (
	"fmt"
	"math/rand/v2"
)

// OpKind is the kind of a generated operation.
type OpKind uint8

const (
	// OpRead reads Len bytes at Off.
	OpRead OpKind = iota
	// OpWrite writes Len bytes at Off.
	OpWrite
	// OpFlush flushes; Off and Len are 0.
	OpFlush
	// OpTrim trims Len bytes at Off: the image's write-zeroes request
	// (QED has no discard).
	OpTrim
)

// String returns "read", "write", "flush" or "trim".
func (k OpKind) String() string {
	switch k {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpFlush:
		return "flush"
	case OpTrim:
		return "trim"
	}
	return fmt.Sprintf("opkind(%d)", k)
}

// Op is one generated operation, in guest bytes.
type Op struct {
	Kind     OpKind
	Off, Len uint64
}

// String renders the op as "write 0x10000+4096".
func (o Op) String() string {
	if o.Kind == OpFlush {
		return "flush"
	}
	return fmt.Sprintf("%s %#x+%d", o.Kind, o.Off, o.Len)
}

// Stream generates the operations of one job instance. Its sequence
// depends only on the plan, the seed and the instance number, never on
// when operations complete, with one exception: the instances of a
// zonemode=zbd job with shared_region share one file's zones (zbd.go),
// so each one's requests depend on the order in which the instances'
// Next calls come, the driver's issue order (as fio's clones depend on
// theirs), which the sim backend makes deterministic. A Stream is not
// safe for concurrent use; the streams of one Streams call are not
// safe for concurrent use with each other.
type Stream struct {
	p     *Plan
	rng   *rand.Rand
	base  uint64
	left  uint64 // reads and writes still to issue
	bound bool   // left counts down; false: no limit
	bytes uint64 // with a byte budget (Plan.budget), bytes still to issue
	seq   uint64 // reads and writes issued
	write int    // writes since the last flush
	flush bool   // a flush is due next
	gen   opGen  // the pattern's generator of the reads and writes
	at    int64  // the iolog time of the last op, ns; -1 for none
}

// streamSalt separates the PCG streams of instances from each other and
// from other users of the same seed (the sim backend's).
const streamSalt = 0xda942042e4dd58b5

// newRandFrom returns a random source seeded from two draws of r: the
// source of a part of a stream (a file, a zone).
func newRandFrom(r *rand.Rand) *rand.Rand {
	return rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
}

// Streams returns one stream per instance (NumJobs of them), seeded from
// seed.
func (p *Plan) Streams(seed int64) []*Stream {
	if p.members != nil {
		var out []*Stream
		for _, m := range p.members {
			out = append(out, m.Streams(seed)...)
		}
		return out
	}
	out := make([]*Stream, p.job.NumJobs)
	for i := range out {
		out[i] = p.newStream(seed, i)
		if g, ok := out[i].gen.(*zbdGen); ok && i > 0 && p.job.SharedRegion {
			// fio's clones of a job naming one file share its zones.
			g.dev = out[0].gen.(*zbdGen).dev
		}
	}
	return out
}

func (p *Plan) newStream(seed int64, i int) *Stream {
	s := &Stream{
		p:     p,
		rng:   rand.New(rand.NewPCG(uint64(seed), streamSalt^uint64(p.instBase+i+1)*0x9e3779b97f4a7c15)),
		left:  p.opsPerJob,
		bound: p.opsPerJob > 0,
		bytes: p.budget,
		at:    -1,
	}
	s.base, _ = p.Region(i)
	switch {
	case p.files != nil:
		s.gen = newFilesGen(s)
	case p.zone != nil:
		s.gen = newZonesGen(s)
	case p.zbd != nil:
		s.gen = newZBDGen(s, i)
	default:
		s.gen = p.pattern.newGen(s)
	}
	return s
}

// Next returns the instance's next operation, or false when it has
// issued all its reads and writes (and the flush owed after them).
func (s *Stream) Next() (Op, bool) {
	if s.flush {
		s.flush = false
		s.at = -1
		return Op{Kind: OpFlush}, true
	}
	switch {
	case s.bound:
		if s.left == 0 {
			return Op{}, false
		}
		s.left--
	case s.p.budget > 0:
		if s.bytes == 0 {
			return Op{}, false
		}
	case s.exhausted():
		return Op{}, false
	}
	var op Op
	if g, ok := s.gen.(endingGen); ok {
		var more bool
		if op, more = g.nextOK(s); !more {
			s.left, s.bound = 0, true
			return Op{}, false
		}
	} else {
		op = s.gen.next(s)
	}
	if !s.bound && s.p.budget > 0 {
		s.bytes -= min(s.bytes, op.Len)
	}
	s.seq++
	if op.Kind == OpWrite && s.p.job.Fsync > 0 {
		if s.write++; s.write == s.p.job.Fsync {
			s.write, s.flush = 0, true
		}
	}
	return op, true
}

// endingGen is an opGen that may end its stream early, as fio's job
// ends where zbd_adjust_block finds nothing to do (zbd.go).
type endingGen interface {
	nextOK(s *Stream) (Op, bool)
}

// At returns the time the iolog gives the operation Next last returned,
// in nanoseconds after the replay's start, or -1 when it gives none.
func (s *Stream) At() int64 { return s.at }

// exhausted reports whether an unbounded stream has run out of fresh
// units.
func (s *Stream) exhausted() bool {
	return s.p.lay.fresh && s.seq >= s.p.lay.units
}
