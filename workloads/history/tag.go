package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// SectorSize is the size of one tagged sector: 512 bytes.
const SectorSize = model.SectorSize

// A tagged sector carries one 32-byte record in its first and in its last
// 32 bytes:
//
//	offset  size  field
//	0       6     magic "qedtag"
//	6       1     kind (model.TagKind: 1 backing, 2 write)
//	7       1     version, 1
//	8       8     write id, little-endian (0 for backing)
//	16      8     sector index, little-endian
//	24      8     checksum of bytes 0..23 (see recordSum)
//
// A sector whose first and last records differ mixes the bytes of more
// than one write (torn, or a stale tail copied from elsewhere). The bytes
// in between are not checked: EncodeTag fills them with more copies of
// the record, StampWrite leaves them as the caller wrote them, so that
// stamping a 4 KiB write costs 16 records, not 4 KiB of stores.
const (
	recordSize   = 32
	tagVersion   = 1
	tagMagic     = "qedtag"
	sumOffset    = 24
	kindOffset   = 6
	versOffset   = 7
	writeOffset  = 8
	sectorOffset = 16
	tailOffset   = SectorSize - recordSize
	// magicWord is the first word of a record without its kind byte.
	magicWord = uint64('q') | uint64('e')<<8 | uint64('d')<<16 | uint64('t')<<24 |
		uint64('a')<<32 | uint64('g')<<40 | uint64(tagVersion)<<56
)

// Fault says why a sector's bytes are not a valid tag.
type Fault uint8

const (
	// FaultNone: the sector decoded to a tag (zeros decode to TagZero).
	FaultNone Fault = iota
	// FaultCorrupt: the record has a wrong magic, version, kind or
	// checksum, so the bytes were never written by a tagged write.
	FaultCorrupt
	// FaultTorn: the first and last records differ, so the sector mixes
	// the bytes of more than one write.
	FaultTorn
)

var faultNames = [...]string{"ok", "corrupt", "torn"}

// String returns "ok", "corrupt" or "torn".
func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", f)
}

// Decoded is what a read found in one sector: a tag, or a fault. When
// Fault is not FaultNone, Tag is meaningless.
type Decoded struct {
	Tag   model.Tag
	Fault Fault
}

// String renders the tag, or the fault ("corrupt").
func (d Decoded) String() string {
	if d.Fault != FaultNone {
		return d.Fault.String()
	}
	return d.Tag.String()
}

// recordSum is the checksum of a record's first three words: a
// multiply-xorshift mix that any change of a word alters.
func recordSum(w0, w1, w2 uint64) uint64 { return sumFinish(sumBase(w0, w1), w2) }

// sumBase and sumFinish split recordSum so that the records of one write,
// which differ only in their sector word w2, share the work on w0 and w1.
func sumBase(w0, w1 uint64) uint64 {
	return w0 ^ bits.RotateLeft64(w1, 17) ^ 0x243f6a8885a308d3
}

func sumFinish(base, w2 uint64) uint64 {
	h := (base ^ bits.RotateLeft64(w2, 41)) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>32
}

// record returns the four words of t's record.
func record(t model.Tag) (w0, w1, w2, w3 uint64) {
	w0 = magicWord | uint64(t.Kind)<<48
	w1, w2 = t.Write, t.Sector
	return w0, w1, w2, recordSum(w0, w1, w2)
}

func putRecord(b []byte, w0, w1, w2, w3 uint64) {
	_ = b[recordSize-1]
	binary.LittleEndian.PutUint64(b[0:], w0)
	binary.LittleEndian.PutUint64(b[8:], w1)
	binary.LittleEndian.PutUint64(b[16:], w2)
	binary.LittleEndian.PutUint64(b[24:], w3)
}

// EncodeTag fills sector, which must be SectorSize bytes, with t: the
// record repeated 16 times. A zero tag is encoded as zeros.
func EncodeTag(sector []byte, t model.Tag) {
	_ = sector[SectorSize-1]
	if t.Kind == model.TagZero {
		clear(sector[:SectorSize])
		return
	}
	w0, w1, w2, w3 := record(t)
	for i := 0; i < SectorSize; i += recordSize {
		putRecord(sector[i:], w0, w1, w2, w3)
	}
}

// DecodeTag decodes one SectorSize-byte sector from its first and last
// records. Records that differ make the sector torn if either of them is a
// valid record or zeros, and corrupt otherwise.
func DecodeTag(sector []byte) Decoded {
	_ = sector[SectorSize-1]
	le := binary.LittleEndian
	w0, w1, w2, w3 := le.Uint64(sector[0:]), le.Uint64(sector[8:]), le.Uint64(sector[16:]), le.Uint64(sector[24:])
	t := sector[tailOffset:]
	t0, t1, t2, t3 := le.Uint64(t[0:]), le.Uint64(t[8:]), le.Uint64(t[16:]), le.Uint64(t[24:])
	if t0 != w0 || t1 != w1 || t2 != w2 || t3 != w3 {
		if wellFormed(w0, w1, w2, w3) || wellFormed(t0, t1, t2, t3) {
			return Decoded{Fault: FaultTorn}
		}
		return Decoded{Fault: FaultCorrupt}
	}
	if w0|w1|w2|w3 == 0 {
		return Decoded{Tag: model.ZeroTag()}
	}
	if !validRecord(w0, w1, w2, w3) {
		return Decoded{Fault: FaultCorrupt}
	}
	return Decoded{Tag: model.Tag{Kind: model.TagKind(w0 >> 48 & 0xff), Write: w1, Sector: w2}}
}

// validRecord reports whether the words are a record EncodeTag writes.
func validRecord(w0, w1, w2, w3 uint64) bool {
	kind := model.TagKind(w0 >> 48 & 0xff)
	return w0&^(0xff<<48) == magicWord && (kind == model.TagBacking || kind == model.TagWrite) && w3 == recordSum(w0, w1, w2)
}

// wellFormed reports whether the words are a valid record or zeros.
func wellFormed(w0, w1, w2, w3 uint64) bool {
	return w0|w1|w2|w3 == 0 || validRecord(w0, w1, w2, w3)
}

// StampWrite stamps buf, whose length must be a multiple of SectorSize,
// with the tags write w stamps on sectors first, first+1, ...: it writes
// each sector's first and last records and leaves the bytes between them
// as they were.
func StampWrite(buf []byte, w, first uint64) {
	w0 := magicWord | uint64(model.TagWrite)<<48
	base := sumBase(w0, w)
	for i := 0; i+SectorSize <= len(buf); i += SectorSize {
		s := first + uint64(i/SectorSize)
		sec := buf[i : i+SectorSize : i+SectorSize]
		w3 := sumFinish(base, s)
		putRecord(sec[:recordSize], w0, w, s, w3)
		putRecord(sec[tailOffset:], w0, w, s, w3)
	}
}

// DecodeSectors appends the decoded tag of each whole sector of buf to dst
// and returns it.
func DecodeSectors(dst []Decoded, buf []byte) []Decoded {
	for i := 0; i+SectorSize <= len(buf); i += SectorSize {
		dst = append(dst, DecodeTag(buf[i:i+SectorSize]))
	}
	return dst
}

// BackingContent returns a backing file of n sectors, each holding its
// backing tag, so a read of never-written sector s returns BackingTag(s).
func BackingContent(n uint64) []byte {
	b := make([]byte, n*SectorSize)
	for s := range n {
		EncodeTag(b[s*SectorSize:(s+1)*SectorSize], model.BackingTag(s))
	}
	return b
}

// FillBacking fills p with the tagged backing content at byte offset off:
// the bytes BackingContent would hold there, computed without it.
func FillBacking(p []byte, off uint64) {
	var sector [SectorSize]byte
	for len(p) > 0 {
		s, in := off/SectorSize, off%SectorSize
		if in == 0 && len(p) >= SectorSize {
			EncodeTag(p[:SectorSize], model.BackingTag(s))
			p, off = p[SectorSize:], off+SectorSize
			continue
		}
		EncodeTag(sector[:], model.BackingTag(s))
		n := copy(p, sector[in:])
		p, off = p[n:], off+uint64(n)
	}
}

// BackingStorage returns a read-only backing file of size bytes holding
// the tagged backing content (sector s holds model.BackingTag(s)),
// computed on each read so that it costs no memory.
func BackingStorage(size int64) impl.Storage {
	return impl.ReadOnlyStorage{ReaderAt: backingReader(size), N: size}
}

// backingReader reads the tagged backing content of a file of its size.
type backingReader int64

// ReadAt fills p with the content at off, like os.File.ReadAt.
func (r backingReader) ReadAt(p []byte, off int64) (int, error) {
	size := int64(r)
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if int64(n) > size-off {
		n, err = int(size-off), io.EOF
	}
	FillBacking(p[:n], uint64(off))
	return n, err
}
