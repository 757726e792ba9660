package crash

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/qedharness/qedharness/impl"
)

// Tag fills sector buffer p (512 bytes) with the tag of write id for
// guest sector s, so a read of the sector tells which write it saw. Tag
// 0 is the backing file's content for the sector (Backing).
func Tag(p []byte, id, s uint64) {
	for i := 0; i+16 <= len(p); i += 16 {
		binary.LittleEndian.PutUint64(p[i:], id^0x5a5a_0000_0000_0000)
		binary.LittleEndian.PutUint64(p[i+8:], s)
	}
}

// zeroRead is what untag returns for a sector of zeros: the base content
// without a backing file (or past its end), or a write-zeroes
// (Ledger.Holds tells which may be there).
const zeroRead = ^uint64(0)

// untag returns the write id a sector's bytes name (0: the backing
// file's), zeroRead for zeros, or an error for bytes no write produced.
func untag(p []byte, s uint64, backing bool) (uint64, error) {
	if isZero(p) {
		return zeroRead, nil
	}
	id := binary.LittleEndian.Uint64(p) ^ 0x5a5a_0000_0000_0000
	want := make([]byte, len(p))
	Tag(want, id, s)
	if !bytes.Equal(p, want) {
		return 0, fmt.Errorf("sector %d holds bytes no write produced (first word %#x)", s, binary.LittleEndian.Uint64(p))
	}
	return id, nil
}

func isZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

// Backing returns a raw backing file of size bytes holding tag 0 in
// every sector.
func Backing(size uint64) []byte {
	b := make([]byte, size)
	for s := uint64(0); s*impl.SectorSize < size; s++ {
		Tag(b[s*impl.SectorSize:(s+1)*impl.SectorSize], 0, s)
	}
	return b
}

// Data returns the buffer of write id covering guest bytes [off, off+n),
// every sector tagged; off and n are multiples of 512.
func Data(id, off, n uint64) []byte {
	buf := make([]byte, n)
	for p := uint64(0); p < n; p += impl.SectorSize {
		Tag(buf[p:p+impl.SectorSize], id, (off+p)/impl.SectorSize)
	}
	return buf
}
