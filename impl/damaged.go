package impl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// fileSpan is the file byte range [start, end).
type fileSpan struct{ start, end uint64 }

// scanReferences reads the L1 table l1 of the image in st and every L2
// table it references inside the file, and returns the cluster-aligned
// ranges that an entry references at or past end, the allocation point:
// the clusters that a damaged image (a file cut short, a flipped bit)
// references where no cluster exists. Handing them out again would make
// two guest offsets share one cluster, so the allocator skips them. The
// ranges are sorted and merged; a healthy image has none. It also returns
// usedEnd, the end of the last cluster below end that the header, the L1
// table or a table entry uses: what lies between it and end is a leaked
// tail (a crash left it: space grown ahead, or clusters whose L2 update
// never landed). The scan reads each L2 table once.
func scanReferences(st Storage, h *Header, l1 []uint64, end uint64) (spans []fileSpan, usedEnd uint64, err error) {
	g := GeometryOf(h)
	usedEnd = max(uint64(h.HeaderSize)*g.ClusterSize, g.ClusterSize, h.L1TableOffset+g.TableBytes)
	use := func(off, n uint64) {
		if off < end && n <= end-off {
			usedEnd = max(usedEnd, off+n)
		}
	}
	// add records the part at or past end of the n bytes at off.
	add := func(off, n uint64) {
		e := off + n
		if e < off {
			e = ^uint64(0) &^ (g.ClusterSize - 1) // saturate
		}
		spans = append(spans, fileSpan{max(off, end), e})
	}
	var buf []byte
	for i, t := range l1 {
		if t == 0 || t%g.ClusterSize != 0 {
			continue // unallocated, or invalid: no lookup goes through it
		}
		if t >= end || g.TableBytes > end-t {
			add(t, g.TableBytes) // not read: the file does not hold it
			if t < end {
				use(t, end-t) // its part inside the file is referenced too
			}
			continue
		}
		use(t, g.TableBytes)
		if buf == nil {
			buf = make([]byte, min(g.TableBytes, checkChunk))
		}
		for base := uint64(0); base < g.TableBytes; base += uint64(len(buf)) {
			if err := checkRead(st, buf, t+base); err != nil {
				return nil, 0, fmt.Errorf("L1 entry %d: read L2 table at %#x: %w", i, t, err)
			}
			for k := 0; k < len(buf); k += 8 {
				d := binary.LittleEndian.Uint64(buf[k:])
				switch {
				case d == 0 || d == ZeroCluster || d%g.ClusterSize != 0:
				case d >= end:
					add(d, g.ClusterSize)
				default:
					use(d, g.ClusterSize)
				}
			}
		}
	}
	usedEnd = min((usedEnd+g.ClusterSize-1)&^(g.ClusterSize-1), max(end, usedEnd))
	if len(spans) == 0 {
		return nil, usedEnd, nil
	}
	slices.SortFunc(spans, func(a, b fileSpan) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	merged := spans[:1]
	for _, s := range spans[1:] {
		last := &merged[len(merged)-1]
		if s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged, usedEnd, nil
}

// alloc returns the file offset of size bytes of new clusters and moves
// the allocation point past them, skipping the damaged ranges (clusters a
// table referenced past the end of file at open).
func (e *Engine) alloc(size uint64) uint64 {
	off := e.fileSize
	for e.skip < len(e.damaged) {
		d := e.damaged[e.skip]
		if d.start >= off+size {
			break
		}
		if d.end > off {
			off = d.end
		}
		e.skip++
	}
	e.fileSize = off + size
	return off
}

// pastEndAtOpen reports whether [off, off+n) overlaps a damaged range: a
// reference there was past the end of file when the image opened, and no
// allocation since has put a cluster there.
func (e *Engine) pastEndAtOpen(off, n uint64) bool {
	for _, d := range e.damaged {
		if d.start < off+n && off < d.end {
			return true
		}
	}
	return false
}

// ReadBackingName returns the backing file name that h, read from st,
// stores, as QEMU reads it: the name ends at its first NUL byte, and an
// empty name means no backing file.
func ReadBackingName(st Storage, h *Header) (string, error) {
	if h.Features&FeatureBackingFile == 0 || h.BackingNameSize == 0 {
		return "", nil
	}
	name := make([]byte, h.BackingNameSize)
	if err := checkRead(st, name, uint64(h.BackingNameOffset)); err != nil {
		return "", fmt.Errorf("read backing file name: %w", err)
	}
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name), nil
}
