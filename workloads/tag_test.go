package workloads

import (
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
