package history

import (
	"encoding/binary"
	"math"

	"github.com/qedharness/qedharness/model"
)

// seenRun is what a read found in n consecutive sectors, in 24 bytes: the
// same fault, or tags of one kind and write whose sector index steps by
// one from sector (zero tags and faults carry sector 0 throughout). A read
// of sectors one write or the backing file put there is a single run.
type seenRun struct {
	write, sector uint64
	n             uint32
	kind          model.TagKind
	fault         Fault
}

// at returns the Decoded of the run's i-th sector.
func (r *seenRun) at(i uint32) Decoded {
	if r.fault != FaultNone {
		return Decoded{Fault: r.fault}
	}
	t := model.Tag{Kind: r.kind, Write: r.write, Sector: r.sector}
	if r.kind != model.TagZero {
		t.Sector += uint64(i)
	}
	return Decoded{Tag: t}
}

// expand writes the Decoded of each of the run's sectors to dst, which
// must hold at least r.n, and returns the rest of dst.
func (r *seenRun) expand(dst []Decoded) []Decoded {
	for i := range r.n {
		dst[i] = r.at(i)
	}
	return dst[r.n:]
}

// appendDecoded appends d, which the sector after the last run held, to
// runs, extending the last run when d is what its next sector would hold.
func appendDecoded(runs []seenRun, d Decoded) []seenRun {
	if n := len(runs); n > 0 && runs[n-1].n < math.MaxUint32 && runs[n-1].at(runs[n-1].n) == d {
		runs[n-1].n++
		return runs
	}
	r := seenRun{n: 1, fault: d.Fault}
	if d.Fault == FaultNone {
		r.write, r.sector, r.kind = d.Tag.Write, d.Tag.Sector, d.Tag.Kind
	}
	return append(runs, r)
}

// decodeRuns appends what each whole sector of buf, which holds at most
// 2^32-1 sectors, holds to runs, as DecodeTag decodes it, and returns
// them. A sector whose two records are equal and are the next record of
// the last run's write only extends the run, which costs one checksum and
// no general decoding.
func decodeRuns(runs []seenRun, buf []byte) []seenRun {
	le := binary.LittleEndian
	// The words the next sector holds if it extends the last run, when
	// that is a run of tags, and the sectors it has gained here.
	var w0, w1, next, base uint64
	tagRun, more := false, uint32(0)
	for i := 0; i+SectorSize <= len(buf); i += SectorSize {
		sec := buf[i : i+SectorSize : i+SectorSize]
		h0, h1, h2, h3 := le.Uint64(sec[0:]), le.Uint64(sec[8:]), le.Uint64(sec[16:]), le.Uint64(sec[24:])
		t := sec[tailOffset:]
		t0, t1, t2, t3 := le.Uint64(t[0:]), le.Uint64(t[8:]), le.Uint64(t[16:]), le.Uint64(t[24:])
		if tagRun && h0 == w0 && h1 == w1 && h2 == next && h0 == t0 && h1 == t1 && h2 == t2 && h3 == t3 &&
			h3 == sumFinish(base, h2) {
			more++
			next++
			continue
		}
		if more > 0 {
			runs[len(runs)-1].n += more
			more = 0
		}
		runs = appendDecoded(runs, DecodeTag(sec))
		last := &runs[len(runs)-1]
		tagRun = last.fault == FaultNone && last.kind != model.TagZero
		if tagRun {
			w0, w1 = magicWord|uint64(last.kind)<<48, last.write
			base, next = sumBase(w0, w1), last.sector+uint64(last.n)
		}
	}
	if more > 0 {
		runs[len(runs)-1].n += more
	}
	return runs
}
