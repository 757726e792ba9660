package history

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/model"
)

func TestTagRoundTrip(t *testing.T) {
	tags := []model.Tag{model.ZeroTag(), model.BackingTag(0), model.BackingTag(1 << 40), model.WriteTag(1, 0), model.WriteTag(^uint64(0), 12345)}
	sector := make([]byte, SectorSize)
	for _, tag := range tags {
		EncodeTag(sector, tag)
		if got := DecodeTag(sector); got != (Decoded{Tag: tag}) {
			t.Errorf("DecodeTag(EncodeTag(%v)) = %v", tag, got)
		}
	}
}

// TestTagFaults damages tagged sectors and requires the damage to be
// named, never decoded as some other tag. Only the first and last records
// are checked, so damage between them goes unnoticed by design.
func TestTagFaults(t *testing.T) {
	tests := []struct {
		name   string
		damage func(s []byte)
		want   Fault
	}{
		{"intact", func([]byte) {}, FaultNone},
		{"checksum flipped in every copy", func(s []byte) {
			for i := sumOffset; i < SectorSize; i += recordSize {
				s[i] ^= 1
			}
		}, FaultCorrupt},
		{"middle overwritten", func(s []byte) { clear(s[64:448]) }, FaultNone},
		{"head from another write, tail damaged", func(s []byte) {
			EncodeTag(s, model.WriteTag(8, 3))
			s[SectorSize-1] ^= 1
		}, FaultTorn},
		{"write id changed in every copy", func(s []byte) {
			for i := writeOffset; i < SectorSize; i += recordSize {
				s[i] ^= 0x80
			}
		}, FaultCorrupt},
		{"bad magic everywhere", func(s []byte) {
			for i := 0; i < SectorSize; i += recordSize {
				s[i] = 'X'
			}
		}, FaultCorrupt},
		{"bad kind everywhere", func(s []byte) {
			for i := kindOffset; i < SectorSize; i += recordSize {
				s[i] = 9
			}
		}, FaultCorrupt},
		{"random bytes", func(s []byte) {
			for i := range s {
				s[i] = byte(i*7 + 3)
			}
		}, FaultCorrupt},
		{"tail zeroed", func(s []byte) { clear(s[SectorSize/2:]) }, FaultTorn},
		{"head zeroed", func(s []byte) { clear(s[:SectorSize/2]) }, FaultTorn},
		{"last byte changed", func(s []byte) { s[SectorSize-1] ^= 1 }, FaultTorn},
		{"tail from another write", func(s []byte) {
			other := make([]byte, SectorSize)
			EncodeTag(other, model.WriteTag(8, 3))
			copy(s[256:], other[256:])
		}, FaultTorn},
	}
	for _, tc := range tests {
		s := make([]byte, SectorSize)
		EncodeTag(s, model.WriteTag(7, 3))
		tc.damage(s)
		got := DecodeTag(s)
		if got.Fault != tc.want || (tc.want == FaultNone && got.Tag != model.WriteTag(7, 3)) {
			t.Errorf("%s: DecodeTag = %v, want fault %v", tc.name, got, tc.want)
		}
	}
}

func TestStampAndDecodeSectors(t *testing.T) {
	buf := make([]byte, 3*SectorSize)
	for i := range buf {
		buf[i] = byte(i) // the caller's data stays between the records
	}
	StampWrite(buf, 5, 10)
	got := DecodeSectors(nil, buf)
	want := []Decoded{{Tag: model.WriteTag(5, 10)}, {Tag: model.WriteTag(5, 11)}, {Tag: model.WriteTag(5, 12)}}
	if len(got) != len(want) {
		t.Fatalf("DecodeSectors = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sector %d: %v, want %v", i, got[i], want[i])
		}
	}
	b := BackingContent(4)
	for s := range uint64(4) {
		if d := DecodeTag(b[s*SectorSize:]); d.Tag != model.BackingTag(s) || d.Fault != FaultNone {
			t.Errorf("backing sector %d decodes to %v", s, d)
		}
	}
}

// BenchmarkDecodeTag measures decoding one tagged sector, the per-sector
// cost a recorded read adds.
func BenchmarkDecodeTag(b *testing.B) {
	s := make([]byte, SectorSize)
	EncodeTag(s, model.WriteTag(7, 3))
	b.SetBytes(SectorSize)
	for range b.N {
		if DecodeTag(s).Fault != FaultNone {
			b.Fatal("fault")
		}
	}
}

// TestDecodeRuns requires the runs a recorded read keeps to expand to
// exactly what DecodeSectors decodes, sector by sector, for reads mixing
// runs of write, backing and zero tags with corrupt and torn sectors,
// sectors stamped out of order and repeated sectors.
func TestDecodeRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := 1 + rng.IntN(40)
		buf := make([]byte, n*SectorSize)
		for s := 0; s < n; {
			k := min(n-s, 1+rng.IntN(8))
			part := buf[s*SectorSize : (s+k)*SectorSize]
			base := uint64(rng.IntN(4)) * 8
			switch rng.IntN(8) {
			case 0: // a write's run
				StampWrite(part, uint64(1+rng.IntN(3)), base)
			case 1: // backing content
				for i := range k {
					EncodeTag(part[i*SectorSize:], model.BackingTag(base+uint64(i)))
				}
			case 2: // zeros
				clear(part)
			case 3: // one sector corrupt
				StampWrite(part, 1, base)
				part[rng.IntN(len(part))/SectorSize*SectorSize+sumOffset] ^= 1
			case 4: // one sector torn
				StampWrite(part, 1, base)
				i := rng.IntN(k) * SectorSize
				StampWrite(part[i:i+SectorSize], 2, base)
				copy(part[i:i+SectorSize/2], make([]byte, SectorSize/2))
			case 5: // the same sector again and again
				for i := range k {
					StampWrite(part[i*SectorSize:(i+1)*SectorSize], 1, base)
				}
			case 6: // random bytes
				for i := range part {
					part[i] = byte(rng.Uint32())
				}
			case 7: // the same write, sectors going backwards
				for i := range k {
					StampWrite(part[i*SectorSize:(i+1)*SectorSize], 1, base+uint64(k-i))
				}
			}
			s += k
		}
		want := DecodeSectors(nil, buf)
		runs := decodeRuns(nil, buf)
		got := make([]Decoded, n)
		rest := got
		for i := range runs {
			rest = runs[i].expand(rest)
		}
		if len(rest) != 0 {
			t.Fatalf("trial %d: runs %v cover %d sectors, want %d", trial, runs, n-len(rest), n)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: runs %v expand to\n%v, want\n%v", trial, runs, got, want)
		}
		// Runs are maximal: no run continues the one before it.
		for i := 1; i < len(runs); i++ {
			if len(appendDecoded(slices.Clone(runs[:i]), runs[i].at(0))) == i {
				t.Fatalf("trial %d: run %d (%v) continues run %d (%v)", trial, i, runs[i], i-1, runs[i-1])
			}
		}
	}
}

// BenchmarkDecodeRuns measures decoding a 4 KiB read of one write's
// sectors as a recorded read does.
func BenchmarkDecodeRuns(b *testing.B) {
	buf := make([]byte, 4096)
	StampWrite(buf, 7, 24)
	runs := make([]seenRun, 0, 8)
	b.SetBytes(int64(len(buf)))
	for range b.N {
		if runs = decodeRuns(runs[:0], buf); len(runs) != 1 {
			b.Fatal(runs)
		}
	}
}

// BenchmarkStampWrite measures stamping a 4 KiB write.
func BenchmarkStampWrite(b *testing.B) {
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	for i := range b.N {
		StampWrite(buf, uint64(i), 24)
	}
}
