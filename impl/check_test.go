package impl

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/qemutest"
)

// Geometry of the hand-built test images: 4 KiB clusters, 2-cluster tables
// (1024 entries, so one L2 table maps 4 MiB), 16 MiB guest. QEMU 7.2 cannot
// open table_size 1, so 2 is the smallest size both sides check. A case
// may ask for larger tables (chkCase.tableSize).
const (
	chkCS        = 4096
	chkTS        = 2
	chkEntries   = chkCS * chkTS / 8
	chkImageSize = 16 << 20
)

// chkBackingName is the raw backing file that images of a case with
// backing name, and chkBackingFill what every byte of it holds; the QEMU
// tests write it next to the image.
const (
	chkBackingName = "base.raw"
	chkBackingFill = 0xb5
	chkBackingSize = 1 << 20
)

// chkImage lays out a QED image by hand: header cluster(s), the L1 table
// right after them, then L2 tables and data clusters appended in the order
// they are asked for. want records what each guest cluster should read
// after a repair (a fill byte; 0 for zeros).
type chkImage struct {
	h    Header
	ts   uint64 // clusters per table
	buf  []byte
	want map[uint64]byte
}

// newChkImage starts an image with the default geometry.
func newChkImage(headerClusters uint32) *chkImage {
	return newChkImageOf(headerClusters, chkTS, chkImageSize)
}

// newChkImageOf starts an image of tableSize-cluster tables and a guest of
// imageSize bytes.
func newChkImageOf(headerClusters, tableSize uint32, imageSize uint64) *chkImage {
	h := Header{
		ClusterSize:   chkCS,
		TableSize:     tableSize,
		HeaderSize:    headerClusters,
		L1TableOffset: uint64(headerClusters) * chkCS,
		ImageSize:     imageSize,
	}
	m := &chkImage{h: h, ts: uint64(tableSize), want: map[uint64]byte{}}
	m.buf = make([]byte, (uint64(headerClusters)+m.ts)*chkCS)
	copy(m.buf[HeaderLen:], "extra header bytes that a repair must preserve")
	return m
}

// backed names chkBackingName as the image's raw backing file, in the
// header cluster after the extra bytes.
func (m *chkImage) backed() {
	const at = 1024
	m.h.Features |= FeatureBackingFile | FeatureBackingFormatNoProbe
	m.h.BackingNameOffset, m.h.BackingNameSize = at, uint32(len(chkBackingName))
	copy(m.buf[at:], chkBackingName)
}

// entries returns the number of entries per table.
func (m *chkImage) entries() uint64 { return chkCS * m.ts / 8 }

// bytes returns the image with its header encoded.
func (m *chkImage) bytes() []byte {
	copy(m.buf, m.h.Encode())
	return append([]byte(nil), m.buf...)
}

func (m *chkImage) end() uint64 { return uint64(len(m.buf)) }

func (m *chkImage) get(off uint64) uint64 { return binary.LittleEndian.Uint64(m.buf[off:]) }

func (m *chkImage) put(off, v uint64) { binary.LittleEndian.PutUint64(m.buf[off:], v) }

// cluster appends a cluster filled with fill and returns its offset.
func (m *chkImage) cluster(fill byte) uint64 {
	off := m.end()
	m.buf = append(m.buf, bytes.Repeat([]byte{fill}, chkCS)...)
	return off
}

// table appends an empty L2 table for L1 entry i and returns its offset.
func (m *chkImage) table(i uint64) uint64 {
	off := m.end()
	m.buf = append(m.buf, make([]byte, chkCS*m.ts)...)
	m.setL1(i, off)
	return off
}

func (m *chkImage) l1(i uint64) uint64 { return m.get(m.h.L1TableOffset + 8*i) }

func (m *chkImage) setL1(i, v uint64) { m.put(m.h.L1TableOffset+8*i, v) }

// entryOff returns the file offset of guest cluster gc's L2 entry,
// appending its L2 table if the L1 entry is empty.
func (m *chkImage) entryOff(gc uint64) uint64 {
	t := m.l1(gc / m.entries())
	if t == 0 {
		t = m.table(gc / m.entries())
	}
	return t + 8*(gc%m.entries())
}

// entry returns guest cluster gc's L2 entry; its table must exist.
func (m *chkImage) entry(gc uint64) uint64 {
	return m.get(m.l1(gc/m.entries()) + 8*(gc%m.entries()))
}

// setEntry stores v raw in guest cluster gc's L2 entry; after repair gc
// should read after (a fill byte, or 0 for zeros).
func (m *chkImage) setEntry(gc, v uint64, after byte) {
	m.put(m.entryOff(gc), v)
	m.want[gc] = after
}

// write allocates guest cluster gc, filled with fill: its L2 table first
// when missing, then the data cluster.
func (m *chkImage) write(gc uint64, fill byte) {
	e := m.entryOff(gc)
	m.put(e, m.cluster(fill))
	m.want[gc] = fill
}

// writeDataFirst allocates guest cluster gc as QEMU does: the data cluster
// first, then its L2 table when missing, so the table ends up last.
func (m *chkImage) writeDataFirst(gc uint64, fill byte) {
	d := m.cluster(fill)
	m.put(m.entryOff(gc), d)
	m.want[gc] = fill
}

// leak appends a cluster nothing references.
func (m *chkImage) leak() { m.cluster(0xee) }

// chkBase lays out the valid image every case starts from: L1 at
// cluster 1, table T0 at clusters 3-4 with guest clusters 0, 1 and 2 at
// clusters 5, 6 and 10, table T1 at clusters 7-8 with guest cluster 1025
// at cluster 9; 11 clusters in all.
func chkBase(m *chkImage) {
	m.write(0, 'a')
	m.write(1, 'b')
	m.write(1025, 'c')
	m.write(2, 'd')
}

// chkCounts are the counts a case expects.
type chkCounts struct {
	Corruptions, Leaks, CorruptionsFixed, LeaksFixed int
}

func chkCountsOf(r CheckResult) chkCounts {
	return chkCounts{r.Corruptions, r.Leaks, r.CorruptionsFixed, r.LeaksFixed}
}

// chkCase is a fixture pair: build lays out the valid image (name-ok);
// corrupt breaks it (name-bad). check is what Check finds in the bad image,
// repair what Check with repair reports for it.
type chkCase struct {
	name           string
	headerClusters uint32
	tableSize      uint32 // clusters per table; 0 means chkTS
	imageSize      uint64 // guest bytes; 0 means chkImageSize
	backing        bool   // the header names chkBackingName
	build          func(m *chkImage)
	corrupt        func(m *chkImage)
	check, repair  chkCounts
	problem        string // a line Check must report for the bad image
}

var chkCases = []chkCase{
	{
		name:  "clean",
		build: chkBase,
	},
	{
		name:    "leak-end",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.leak() },
		check:   chkCounts{Leaks: 1},
		repair:  chkCounts{LeaksFixed: 1},
		problem: "clusters 0xb000-0xbfff (1) are leaked: nothing references them",
	},
	{
		name:  "leak-end-many",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.leak()
			m.leak()
		},
		check:  chkCounts{Leaks: 3},
		repair: chkCounts{LeaksFixed: 3},
	},
	{
		// The data cluster after the hole moves into it.
		name:  "leak-middle",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.write(3, 'e')
		},
		check:  chkCounts{Leaks: 1},
		repair: chkCounts{LeaksFixed: 1},
	},
	{
		// Two holes, two data clusters after them.
		name:  "leak-middle-two",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.write(3, 'e')
			m.leak()
			m.write(1026, 'f')
		},
		check:  chkCounts{Leaks: 2},
		repair: chkCounts{LeaksFixed: 2},
	},
	{
		// The last cluster is an L2 table and the hole holds all of it;
		// then the data cluster before it needs no move.
		name:  "leak-middle-table",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.leak()
			m.writeDataFirst(2048, 'f')
		},
		check:  chkCounts{Leaks: 2},
		repair: chkCounts{LeaksFixed: 2},
	},
	{
		// The last cluster is an L2 table and the hole is too small for
		// it: the data cluster below the table moves into the hole, then
		// the table, overlapping its old place, by way of the end of file.
		name:  "leak-middle-small-hole",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.writeDataFirst(2048, 'f')
		},
		check:  chkCounts{Leaks: 1},
		repair: chkCounts{LeaksFixed: 1},
	},
	{
		// The hole is right below the last table: it moves by way of the
		// end of file at once.
		name:  "leak-hole-below-table",
		build: chkBase,
		corrupt: func(m *chkImage) {
			e := m.cluster('e')
			m.leak()
			m.setEntry(2*chkEntries, e, 'e')
		},
		check:  chkCounts{Leaks: 1},
		repair: chkCounts{LeaksFixed: 1},
	},
	{
		// One-cluster holes below and between the last two tables, no
		// data cluster between them: the first table moves down by way
		// of the end of file, then the last into the run now below it.
		name:  "leak-holes-between-tables",
		build: chkBase,
		corrupt: func(m *chkImage) {
			e, f := m.cluster('e'), m.cluster('f')
			m.leak()
			m.table(2)
			m.leak()
			m.table(3)
			m.setEntry(2*chkEntries+1, e, 'e')
			m.setEntry(3*chkEntries+2, f, 'f')
		},
		check:  chkCounts{Leaks: 2},
		repair: chkCounts{LeaksFixed: 2},
	},
	{
		// A table in the middle, with a hole on either side and data
		// clusters after it: the data gathers the holes below the last
		// table, and the table in the middle stays.
		name:  "leak-table-in-middle",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.write(2*chkEntries, 'e')
			m.leak()
			m.write(3, 'f')
			m.writeDataFirst(3*chkEntries, 'g')
		},
		check:  chkCounts{Leaks: 2},
		repair: chkCounts{LeaksFixed: 2},
	},
	{
		// Three one-cluster holes, each followed by a data cluster, below
		// the last table.
		name:  "leak-several-small-holes",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.leak()
			m.write(3, 'e')
			m.leak()
			m.write(1026, 'f')
			m.leak()
			m.writeDataFirst(2048, 'g')
		},
		check:  chkCounts{Leaks: 3},
		repair: chkCounts{LeaksFixed: 3},
	},
	{
		// Three free clusters below a four-cluster table.
		name:      "leak-small-hole-ts4",
		tableSize: 4,
		build:     func(m *chkImage) { m.write(0, 'a'); m.write(1, 'b') },
		corrupt: func(m *chkImage) {
			m.leak()
			m.leak()
			m.leak()
			m.writeDataFirst(m.entries(), 'c')
		},
		check:  chkCounts{Leaks: 3},
		repair: chkCounts{LeaksFixed: 3},
	},
	{
		// Sixteen-cluster tables over a backing file: fifteen free
		// clusters in five holes between data clusters, below the last
		// table. The guest clusters nothing maps still read the backing
		// file after repair.
		name:      "leak-small-holes-ts16-backed",
		tableSize: 16,
		imageSize: 64 << 20,
		backing:   true,
		build:     func(m *chkImage) { m.write(0, 'a'); m.write(5, 'b') },
		corrupt: func(m *chkImage) {
			for i := uint64(0); i < 5; i++ {
				m.leak()
				m.leak()
				m.leak()
				m.write(10+i, byte('c'+i))
			}
			m.writeDataFirst(m.entries()+3, 'x')
		},
		check:  chkCounts{Leaks: 15},
		repair: chkCounts{LeaksFixed: 15},
	},
	{
		name:    "l2-past-eof",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(3, 100*chkCS, 0) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
		problem: "L2 table at 0x3000 entry 3: cluster offset 0x64000 is past end of file (45056 bytes)",
	},
	{
		// An entry one cluster past the last: the file ends right there.
		name:    "l2-at-eof",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(3, m.end(), 0) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
	},
	{
		name:    "l2-misaligned",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(3, 5*chkCS+0x123, 0) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
		problem: "L2 table at 0x3000 entry 3: cluster offset 0x5123 is not cluster-aligned",
	},
	{
		// The old data cluster of guest cluster 1 becomes a leak.
		name:    "l2-misaligned-replaces",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(1, m.entry(1)|0x200, 0) },
		check:   chkCounts{Corruptions: 1, Leaks: 1},
		repair:  chkCounts{CorruptionsFixed: 1, LeaksFixed: 1},
	},
	{
		name:           "l2-in-header-clusters",
		headerClusters: 2,
		build:          chkBase,
		corrupt:        func(m *chkImage) { m.setEntry(3, chkCS, 0) },
		check:          chkCounts{Corruptions: 1},
		repair:         chkCounts{CorruptionsFixed: 1},
		problem:        "L2 table at 0x4000 entry 3: cluster offset 0x1000 lies inside the header (8192 bytes)",
	},
	{
		// Even a reference into the L1 table stays: a damaged header
		// (table_size, l1_table_offset) can put the L1 table over data.
		name:  "l2-in-l1",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.setEntry(3, m.h.L1TableOffset, 0)
			delete(m.want, 3) // reads the L1 table's bytes
		},
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{Corruptions: 1},
		problem: "L2 table at 0x3000 entry 3: cluster 0x1000 is already in use",
	},
	{
		// Whether the entry or the L1 entry of its table is wrong cannot
		// be told: the repair writes nothing into the table.
		name:  "l2-in-own-table",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.setEntry(3, m.l1(0)+chkCS, 0)
			delete(m.want, 3) // reads the table's bytes
		},
		check:  chkCounts{Corruptions: 1},
		repair: chkCounts{Corruptions: 1},
	},
	{
		name:    "l1-misaligned",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, 3*chkCS+8) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
		problem: "L1 table at 0x1000 entry 2: L2 table offset 0x3008 is not cluster-aligned",
	},
	{
		name:    "l1-zero-cluster-value",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, ZeroCluster) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
	},
	{
		// The table would start inside the file but end past it, and a
		// second entry points far beyond it.
		name:  "l1-past-eof",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.setL1(2, m.end()-chkCS)
			m.setL1(3, 1<<40)
		},
		check:   chkCounts{Corruptions: 2},
		repair:  chkCounts{CorruptionsFixed: 2},
		problem: "L1 table at 0x1000 entry 2: L2 table at 0xa000 (8192 bytes) extends past end of file (45056 bytes)",
	},
	{
		name:           "l1-in-header",
		headerClusters: 2,
		build:          chkBase,
		corrupt:        func(m *chkImage) { m.setL1(2, chkCS) },
		check:          chkCounts{Corruptions: 1},
		repair:         chkCounts{CorruptionsFixed: 1},
	},
	{
		// One corruption per cluster of the table that is in use already.
		name:    "l1-self",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, m.h.L1TableOffset) },
		check:   chkCounts{Corruptions: 2},
		repair:  chkCounts{Corruptions: 2},
		problem: "L1 table at 0x1000 entry 2: L2 table at 0x1000 overlaps 2 cluster(s) already in use",
	},
	{
		// Cross-links stay as they are in a repair, as in QEMU: either
		// reference may be the right one.
		name:    "l2-table-twice",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, m.l1(0)) },
		check:   chkCounts{Corruptions: 2},
		repair:  chkCounts{Corruptions: 2},
	},
	{
		// Half of the table is free: it counts as used, as in QEMU, so it
		// is no leak; the table overlaps data, so a repair leaves it.
		name:    "l2-table-half-overlap",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, m.end()-chkCS); m.leak() },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{Corruptions: 1},
	},
	{
		name:    "l2-table-over-data",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setL1(2, m.entry(1025)) },
		check:   chkCounts{Corruptions: 2},
		repair:  chkCounts{Corruptions: 2},
	},
	{
		// Both references keep the cluster: a repair cannot tell which
		// guest offset the data belongs to.
		name:    "data-twice",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(3, m.entry(0), 'a') },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{Corruptions: 1},
		problem: "L2 table at 0x3000 entry 3: cluster 0x5000 is already in use",
	},
	{
		name:    "data-twice-across-tables",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.setEntry(1026, m.entry(1), 'b') },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{Corruptions: 1},
	},
	{
		// A data entry pointing into the second table, read before it: as
		// in QEMU the table is the later reference, so it is not read and
		// its other cluster and its data look leaked. A repair keeps the
		// table (it may be the right one: guest cluster 1025 still reads
		// its data), and moves no leak while the corruption remains.
		name:  "data-in-later-table",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.setEntry(3, m.l1(1), 0)
			delete(m.want, 3) // reads the table's bytes
		},
		check:  chkCounts{Corruptions: 1, Leaks: 1},
		repair: chkCounts{Corruptions: 1, Leaks: 1},
	},
	{
		// Value 1 is a zero cluster, not an offset; value 2 is neither.
		name: "zero-cluster",
		build: func(m *chkImage) {
			chkBase(m)
			m.setEntry(3, ZeroCluster, 0)
			m.setEntry(3*chkEntries+5, ZeroCluster, 0) // a table holding only a zero cluster
		},
		corrupt: func(m *chkImage) { m.setEntry(4, 2, 0) },
		check:   chkCounts{Corruptions: 1},
		repair:  chkCounts{CorruptionsFixed: 1},
	},
	{
		// Need-check is not a finding; a repair clears it.
		name:    "need-check",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.h.Features |= FeatureNeedCheck },
	},
	{
		name:  "need-check-leak",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.h.Features |= FeatureNeedCheck
			m.leak()
			m.write(3, 'e')
		},
		check:  chkCounts{Leaks: 1},
		repair: chkCounts{LeaksFixed: 1},
	},
	{
		name:  "need-check-corrupt",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.h.Features |= FeatureNeedCheck
			m.setEntry(3, 1<<30, 0)
			m.setL1(3, 7)
		},
		check:  chkCounts{Corruptions: 2},
		repair: chkCounts{CorruptionsFixed: 2},
	},
	{
		// Bytes after the last whole cluster are neither used nor leaked.
		name: "tail",
		build: func(m *chkImage) {
			chkBase(m)
			m.buf = append(m.buf, "trailing"...)
		},
		corrupt: func(m *chkImage) {
			m.buf = m.buf[:len(m.buf)-len("trailing")]
			m.leak()
			m.buf = append(m.buf, "trailing"...)
		},
		check:  chkCounts{Leaks: 1},
		repair: chkCounts{LeaksFixed: 1},
	},
	{
		// A bit flip in an L1 entry points it into the second cluster of
		// a later table and the data cluster after it: the bogus table is
		// read first, and its "entries" are that data. A repair writes
		// into neither table (clearing the bogus table's invalid entries
		// would write zeros over the data) and keeps the real table.
		name: "crosslink-l1-bitflip",
		build: func(m *chkImage) {
			chkBase(m)
			m.write(3*chkEntries+600, 'x') // table for L1 entry 3, then its data
		},
		corrupt: func(m *chkImage) { m.setL1(2, m.l1(3)+chkCS) },
		check:   chkCounts{Corruptions: 514},
		repair:  chkCounts{Corruptions: 514},
	},
	{
		// QEMU takes the file's length rounded up to a sector: a file one
		// byte short of its last cluster still holds it.
		name:  "short-by-one",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.buf = m.buf[:len(m.buf)-1]
			delete(m.want, 2) // its last byte reads as zero
		},
	},
	{
		// Header fields QEMU accepts: header_size 0 (the header cluster
		// is then leaked, and no repair moves anything into it), image
		// size 0, the backing-file feature with an empty name (no
		// backing file), unknown compatible and autoclear features (a
		// repair clears the autoclear bits, as QEMU's writable open).
		name:    "header-size-0",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.h.HeaderSize = 0 },
		check:   chkCounts{Leaks: 1},
		repair:  chkCounts{Leaks: 1},
	},
	{
		name:  "image-size-0",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.h.ImageSize = 0
			clear(m.want) // the guest has no bytes to read
		},
	},
	{
		name:  "backing-name-empty",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.h.Features |= FeatureBackingFile
			m.h.BackingNameOffset, m.h.BackingNameSize = 0, 0
		},
	},
	{
		name:    "feature-bits-unknown",
		build:   chkBase,
		corrupt: func(m *chkImage) { m.h.CompatFeatures, m.h.AutoclearFeatures = 0xff00, 1<<63|5 },
	},
	{
		name:  "everything",
		build: chkBase,
		corrupt: func(m *chkImage) {
			m.h.Features |= FeatureNeedCheck
			m.setEntry(3, m.entry(2), 'd')     // twice
			m.setEntry(4, 1<<33, 0)            // past EOF
			m.setEntry(5, 0x1234, 0)           // misaligned
			m.setL1(2, m.l1(1))                // table twice
			m.setL1(1000, m.h.L1TableOffset+1) // misaligned table
			m.leak()
			m.write(1027, 'g')
			m.leak()
			m.leak()
			m.writeDataFirst(3*chkEntries, 'h')
			m.leak()
		},
		check:  chkCounts{Corruptions: 6, Leaks: 4},
		repair: chkCounts{Corruptions: 3, CorruptionsFixed: 3, Leaks: 4},
	},
}

// chkVariant is one image of a fixture pair.
type chkVariant struct {
	name          string
	img           []byte
	want          map[uint64]byte
	check, repair chkCounts
	problem       string
}

func chkVariants(tc chkCase) []chkVariant {
	hc := tc.headerClusters
	if hc == 0 {
		hc = 1
	}
	ts, size := tc.tableSize, tc.imageSize
	if ts == 0 {
		ts = chkTS
	}
	if size == 0 {
		size = chkImageSize
	}
	m := newChkImageOf(hc, ts, size)
	if tc.backing {
		m.backed()
	}
	tc.build(m)
	vs := []chkVariant{{name: tc.name + "-ok", img: m.bytes(), want: chkCopyWant(m.want)}}
	if tc.corrupt != nil {
		tc.corrupt(m)
		vs = append(vs, chkVariant{
			name: tc.name + "-bad", img: m.bytes(), want: chkCopyWant(m.want),
			check: tc.check, repair: tc.repair, problem: tc.problem,
		})
	}
	return vs
}

func chkCopyWant(w map[uint64]byte) map[uint64]byte {
	c := make(map[uint64]byte, len(w))
	for k, v := range w {
		c[k] = v
	}
	return c
}

func TestCheckFixtures(t *testing.T) {
	for _, tc := range chkCases {
		for _, v := range chkVariants(tc) {
			t.Run(v.name, func(t *testing.T) { testCheckVariant(t, v) })
		}
	}
}

func testCheckVariant(t *testing.T, v chkVariant) {
	// Check alone reports and writes nothing.
	st := NewMemStorageFrom(v.img)
	got, err := Check(st, false)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if c := chkCountsOf(got); c != v.check {
		t.Errorf("Check found %+v, want %+v; problems:\n%s", c, v.check, strings.Join(got.Problems, "\n"))
	}
	if got.CheckErrors != 0 {
		t.Errorf("Check: %d check errors: %q", got.CheckErrors, got.Problems)
	}
	if (v.check == chkCounts{}) != (len(got.Problems) == 0) {
		t.Errorf("Check problems %q do not match counts %+v", got.Problems, v.check)
	}
	if v.problem != "" && !chkHas(got.Problems, v.problem) {
		t.Errorf("Check problems lack %q:\n%s", v.problem, strings.Join(got.Problems, "\n"))
	}
	if h, _ := DecodeHeader(v.img); got.TotalClusters != h.ImageSize/chkCS {
		t.Errorf("TotalClusters = %d, want %d", got.TotalClusters, h.ImageSize/chkCS)
	}
	if !bytes.Equal(st.Bytes(), v.img) {
		t.Errorf("Check without repair changed the image")
	}
	wantExit := 0
	switch {
	case v.check.Corruptions > 0:
		wantExit = 2
	case v.check.Leaks > 0:
		wantExit = 3
	}
	if got.ExitCode() != wantExit || got.Clean() != (wantExit == 0) {
		t.Errorf("ExitCode() = %d, Clean() = %v; want %d", got.ExitCode(), got.Clean(), wantExit)
	}

	// Repair, then a second check finds only the leaks the repair left.
	st = NewMemStorageFrom(v.img)
	rep, err := Check(st, true)
	if err != nil {
		t.Fatalf("Check with repair: %v", err)
	}
	if c := chkCountsOf(rep); c != v.repair {
		t.Errorf("repair reported %+v, want %+v; problems:\n%s", c, v.repair, strings.Join(rep.Problems, "\n"))
	}
	if rep.CheckErrors != 0 {
		t.Errorf("repair: %d check errors: %q", rep.CheckErrors, rep.Problems)
	}
	fixed := st.Bytes()
	again, err := Check(st, false)
	if err != nil {
		t.Fatalf("second Check: %v", err)
	}
	if again.Corruptions != rep.Corruptions || again.CheckErrors != 0 || again.Leaks != rep.Leaks {
		t.Errorf("second Check found %+v, want the %d corruptions and %d leaks the repair left; problems:\n%s",
			chkCountsOf(again), rep.Corruptions, rep.Leaks, strings.Join(again.Problems, "\n"))
	}
	if rep.Leaks == 0 && rep.Corruptions == 0 && !again.Clean() {
		t.Errorf("second Check is not clean: %q", again.Problems)
	}
	if rep.Leaks == 0 && rep.Corruptions == 0 && again.ImageEndOffset != usableLength(uint64(len(fixed)), chkCS) {
		t.Errorf("after repair the file has %d bytes, image end offset is %d", len(fixed), again.ImageEndOffset)
	}
	if again.AllocatedClusters != rep.AllocatedClusters {
		t.Errorf("AllocatedClusters: repair reported %d, second check %d", rep.AllocatedClusters, again.AllocatedClusters)
	}
	if v.check == (chkCounts{}) && !chkNeedCheck(v.img) && !bytes.Equal(fixed, chkNoAutoclear(v.img)) {
		t.Errorf("repair changed a consistent image beyond its autoclear bits")
	}
	if v.check.Leaks > 0 && v.check.Corruptions == 0 && rep.Leaks == 0 {
		if wantLen := len(v.img) - v.check.Leaks*chkCS; len(fixed) > wantLen {
			t.Errorf("after repair the file has %d bytes, want at most %d", len(fixed), wantLen)
		}
	}

	// The header's first sector is unchanged but for need-check, which a
	// repair clears unless corruptions remain, and the autoclear bits,
	// which it clears.
	if chkNeedCheck(fixed) != (chkNeedCheck(v.img) && rep.Corruptions > 0) {
		t.Errorf("need-check after repair is %v; before %v, with %d corruptions left", chkNeedCheck(fixed), chkNeedCheck(v.img), rep.Corruptions)
	}
	if ac := binary.LittleEndian.Uint64(fixed[32:]); ac != 0 {
		t.Errorf("autoclear bits %#x left after repair", ac)
	}
	if !bytes.Equal(fixed[:16], v.img[:16]) || !bytes.Equal(fixed[24:32], v.img[24:32]) || !bytes.Equal(fixed[40:SectorSize], v.img[40:SectorSize]) {
		t.Errorf("repair changed the header beyond need-check and autoclear")
	}
	if f := binary.LittleEndian.Uint64(fixed[16:]) | FeatureNeedCheck; f != binary.LittleEndian.Uint64(v.img[16:])|FeatureNeedCheck {
		t.Errorf("repair changed features other than need-check: %#x", f)
	}

	// Guest data of the valid entries survives; cleared entries read zeros.
	for gc, fill := range v.want {
		if got := chkReadGuest(fixed, gc); !bytes.Equal(got, bytes.Repeat([]byte{fill}, chkCS)) {
			t.Errorf("guest cluster %d after repair reads %q..., want %q", gc, got[:8], fill)
		}
	}
	// A repair of leaks alone changes no guest cluster: each is mapped to
	// the same bytes, to a zero cluster, or (to the backing file) to
	// nothing, as before.
	if v.check.Corruptions == 0 && !chkSameGuest(v.img, fixed) {
		t.Errorf("the guest reads otherwise after repair")
	}
}

// chkGuestMap returns what each guest cluster that img maps holds: its
// bytes, or "zero" for a zero cluster. It reads the tables without the code
// under test and assumes every entry is valid.
func chkGuestMap(img []byte) map[uint64]string {
	h, err := DecodeHeader(img)
	if err != nil {
		panic(err)
	}
	g := GeometryOf(&h)
	le := binary.LittleEndian
	out := map[uint64]string{}
	for i := uint64(0); i < g.TableEntries; i++ {
		t := le.Uint64(img[h.L1TableOffset+8*i:])
		if t == 0 {
			continue
		}
		for j := uint64(0); j < g.TableEntries; j++ {
			switch d := le.Uint64(img[t+8*j:]); d {
			case 0:
			case ZeroCluster:
				out[i*g.TableEntries+j] = "zero"
			default:
				out[i*g.TableEntries+j] = string(img[d : d+g.ClusterSize])
			}
		}
	}
	return out
}

// TestCheckQEMU checks every fixture with qemu-img as well: it must find
// what Check finds, before and after Check's repair, and qemu-io must read
// the repaired image's guest data back.
func TestCheckQEMU(t *testing.T) {
	qimg, qio := qemutest.Tools(t)
	for _, tc := range chkCases {
		for _, v := range chkVariants(tc) {
			t.Run(v.name, func(t *testing.T) {
				st := NewMemStorageFrom(v.img)
				got, err := Check(st, false)
				if err != nil {
					t.Fatal(err)
				}
				chkQEMUCheck(t, qimg, "before repair", v.img, got)
				rep, err := Check(st, true)
				if err != nil {
					t.Fatal(err)
				}
				chkQEMURepair(t, qimg, v.img, rep)
				again, err := Check(st, false)
				if err != nil {
					t.Fatal(err)
				}
				chkQEMUCheck(t, qimg, "after repair", st.Bytes(), again)
				chkQEMURead(t, qio, st.Bytes(), v.want)
				if v.check.Corruptions == 0 {
					chkQEMUCompare(t, qimg, v.img, st.Bytes())
				}
			})
		}
	}
}

func chkHas(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// chkNoAutoclear returns a copy of img with the autoclear bits cleared.
func chkNoAutoclear(img []byte) []byte {
	c := append([]byte(nil), img...)
	binary.LittleEndian.PutUint64(c[32:], 0)
	return c
}

func chkNeedCheck(img []byte) bool {
	return binary.LittleEndian.Uint64(img[16:])&FeatureNeedCheck != 0
}

// chkReadGuest reads guest cluster gc of img through its tables, without
// the code under test.
func chkReadGuest(img []byte, gc uint64) []byte {
	h, err := DecodeHeader(img)
	if err != nil {
		panic(err)
	}
	g := GeometryOf(&h)
	out := make([]byte, g.ClusterSize)
	at := func(off uint64) uint64 {
		if off+8 > uint64(len(img)) {
			return 0
		}
		return binary.LittleEndian.Uint64(img[off:])
	}
	t := at(h.L1TableOffset + 8*(gc/g.TableEntries))
	if t == 0 {
		return out
	}
	d := at(t + 8*(gc%g.TableEntries))
	if d == 0 || d == ZeroCluster || d >= uint64(len(img)) {
		return out
	}
	copy(out, img[d:])
	return out
}

// chkWriteImage writes img to name in dir, and the backing file it names
// next to it, and returns the image's path.
func chkWriteImage(t *testing.T, dir, name string, img []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if h, err := DecodeHeader(img); err == nil && h.Features&FeatureBackingFile != 0 {
		back := bytes.Repeat([]byte{chkBackingFill}, chkBackingSize)
		if err := os.WriteFile(filepath.Join(dir, chkBackingName), back, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// chkQEMUCompare checks with qemu-img compare that the guest reads the
// same from images a and b, backing file included: a repair of leaks
// alone must not change what the guest sees.
func chkQEMUCompare(t *testing.T, qimg string, a, b []byte) {
	t.Helper()
	dir := t.TempDir()
	pa, pb := chkWriteImage(t, dir, "before.qed", a), chkWriteImage(t, dir, "after.qed", b)
	if out, err := exec.Command(qimg, "compare", "-f", "qed", "-F", "qed", pa, pb).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare before and after repair: %v\n%s", err, out)
	}
}

// chkQEMUJSON is the part of `qemu-img check --output=json` we compare.
type chkQEMUJSON struct {
	Corruptions       int    `json:"corruptions"`
	Leaks             int    `json:"leaks"`
	CheckErrors       int    `json:"check-errors"`
	AllocatedClusters uint64 `json:"allocated-clusters"`
	TotalClusters     uint64 `json:"total-clusters"`
}

// chkQEMUCheck runs qemu-img check on img and compares its findings with ours.
func chkQEMUCheck(t *testing.T, qimg, when string, img []byte, ours CheckResult) {
	t.Helper()
	path := chkWriteImage(t, t.TempDir(), "image.qed", img)
	out, err := exec.Command(qimg, "check", "--output=json", "-f", "qed", path).Output()
	code := 0
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatalf("qemu-img check: %v", err)
	}
	var q chkQEMUJSON
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatalf("qemu-img check %s: exit %d, output %q: %v", when, code, out, err)
	}
	if q.Corruptions != ours.Corruptions || q.Leaks != ours.Leaks || q.CheckErrors != ours.CheckErrors ||
		q.AllocatedClusters != ours.AllocatedClusters || q.TotalClusters != ours.TotalClusters || code != ours.ExitCode() {
		t.Errorf("%s: qemu-img check found %+v (exit %d), we found %+v (exit %d)", when, q, code,
			chkQEMUJSON{ours.Corruptions, ours.Leaks, ours.CheckErrors, ours.AllocatedClusters, ours.TotalClusters}, ours.ExitCode())
	}
}

// chkQEMURepair runs qemu-img check -r all on img. QEMU clears invalid
// entries but leaves doubly referenced clusters and leaks alone, so what it
// fixed plus what its second pass still finds must be the corruptions our
// repair fixed.
func chkQEMURepair(t *testing.T, qimg string, img []byte, ours CheckResult) {
	t.Helper()
	path := chkWriteImage(t, t.TempDir(), "image.qed", img)
	out, err := exec.Command(qimg, "check", "-r", "all", "--output=json", "-f", "qed", path).Output()
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		t.Fatalf("qemu-img check -r all: %v", err)
	}
	var q struct {
		Corruptions      int `json:"corruptions"`
		CorruptionsFixed int `json:"corruptions-fixed"`
		CheckErrors      int `json:"check-errors"`
	}
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatalf("qemu-img check -r all: output %q: %v", out, err)
	}
	if q.CheckErrors != 0 || q.Corruptions+q.CorruptionsFixed != ours.Corruptions+ours.CorruptionsFixed {
		t.Errorf("qemu-img check -r all fixed %d corruptions and left %d (%d check errors); we fixed %d and left %d",
			q.CorruptionsFixed, q.Corruptions, q.CheckErrors, ours.CorruptionsFixed, ours.Corruptions)
	}
}

// chkQEMURead reads the guest clusters in want with qemu-io and checks
// their pattern.
func chkQEMURead(t *testing.T, qio string, img []byte, want map[uint64]byte) {
	t.Helper()
	path := chkWriteImage(t, t.TempDir(), "image.qed", img)
	args := []string{"-f", "qed", "-r"}
	for gc, fill := range want {
		args = append(args, "-c", fmt.Sprintf("read -P %#x %d %d", fill, gc*chkCS, chkCS))
	}
	out, err := exec.Command(qio, append(args, path)...).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("failed")) || bytes.Contains(out, []byte("rror")) {
		t.Errorf("qemu-io read back after repair: %v\n%s", err, out)
	}
}

func TestCheckInvalidHeader(t *testing.T) {
	base := func() *chkImage {
		m := newChkImage(1)
		chkBase(m)
		return m
	}
	cases := []struct {
		name string
		img  func() []byte
		want string
	}{
		{"empty", func() []byte { return nil }, "not a QED image"},
		{"short", func() []byte { return base().bytes()[:40] }, "not a QED image"},
		{"magic", func() []byte { b := base().bytes(); b[0] = 'X'; return b }, "magic"},
		{"cluster-size", func() []byte { m := base(); m.h.ClusterSize = 1 << 27; return m.bytes() }, "cluster size"},
		{"huge-tables", func() []byte {
			m := base()
			m.h.ClusterSize, m.h.TableSize, m.h.L1TableOffset = 1<<26, 16, 1<<26
			return m.bytes()
		}, "past end of file"},
		{"table-size", func() []byte { m := base(); m.h.TableSize = 3; return m.bytes() }, "table size"},
		{"header-size", func() []byte { m := base(); m.h.HeaderSize = 1 << 31; return m.bytes() }, "header size"},
		{"l1-in-header", func() []byte { m := base(); m.h.L1TableOffset = 0; return m.bytes() }, "inside the header"},
		{"l1-past-eof", func() []byte { m := base(); m.h.L1TableOffset = 10 * chkCS; return m.bytes() }, "past end of file"},
		{"l1-far", func() []byte { m := base(); m.h.L1TableOffset = 1 << 63; return m.bytes() }, "past end of file"},
		{"truncated", func() []byte { return base().bytes()[:2*chkCS] }, "past end of file"},
		{"features", func() []byte { m := base(); m.h.Features = 1 << 40; return m.bytes() }, "feature"},
		{"image-size", func() []byte { m := base(); m.h.ImageSize = 1<<63 + 512; return m.bytes() }, "image size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, repair := range []bool{false, true} {
				st := NewMemStorageFrom(tc.img())
				before := st.Bytes()
				_, err := Check(st, repair)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Check(repair=%v) error = %v, want one naming %q", repair, err, tc.want)
				}
				if !bytes.Equal(st.Bytes(), before) {
					t.Errorf("Check(repair=%v) changed an image it could not check", repair)
				}
			}
		})
	}
}

// chkFailStorage fails reads and writes that touch [failOff, failOff+n).
type chkFailStorage struct {
	*MemStorage
	failOff, n int64
	writes     bool // fail writes instead of reads
}

var errChkInjected = errors.New("injected I/O error")

func (s *chkFailStorage) hits(p []byte, off int64) bool {
	return off < s.failOff+s.n && off+int64(len(p)) > s.failOff
}

func (s *chkFailStorage) ReadAt(p []byte, off int64) (int, error) {
	if !s.writes && s.hits(p, off) {
		return 0, errChkInjected
	}
	return s.MemStorage.ReadAt(p, off)
}

func (s *chkFailStorage) WriteAt(p []byte, off int64) (int, error) {
	if s.writes && s.hits(p, off) {
		return 0, errChkInjected
	}
	return s.MemStorage.WriteAt(p, off)
}

func TestCheckIOErrors(t *testing.T) {
	m := newChkImage(1)
	chkBase(m)
	m.setEntry(1030, 0x123, 0) // a misaligned entry in table T1
	m.leak()
	img := m.bytes()
	t1 := int64(m.l1(1))

	t.Run("l1-read", func(t *testing.T) {
		st := &chkFailStorage{MemStorage: NewMemStorageFrom(img), failOff: int64(m.h.L1TableOffset), n: 8}
		_, err := Check(st, false)
		if !errors.Is(err, errChkInjected) || !strings.Contains(err.Error(), "L1 table") {
			t.Errorf("Check error = %v, want the injected error, naming the L1 table", err)
		}
	})
	t.Run("l2-read", func(t *testing.T) {
		// Leaks are neither counted nor repaired when a table is unreadable.
		for _, repair := range []bool{false, true} {
			st := &chkFailStorage{MemStorage: NewMemStorageFrom(img), failOff: t1, n: 8}
			r, err := Check(st, repair)
			if err != nil {
				t.Fatal(err)
			}
			if r.CheckErrors != 1 || r.Leaks != 0 || r.LeaksFixed != 0 || r.ExitCode() != 1 || r.Clean() {
				t.Errorf("repair=%v: got %+v", repair, r)
			}
			if int64(len(st.Bytes())) != int64(len(img)) || chkNeedCheck(st.Bytes()) != chkNeedCheck(img) {
				t.Errorf("repair=%v: file changed despite an unreadable table", repair)
			}
		}
	})
	t.Run("l2-write", func(t *testing.T) {
		st := &chkFailStorage{MemStorage: NewMemStorageFrom(img), failOff: t1, n: chkCS * chkTS, writes: true}
		r, err := Check(st, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.CheckErrors != 1 || r.LeaksFixed != 0 || r.ExitCode() != 1 {
			t.Errorf("got %+v", r)
		}
		if len(st.Bytes()) != len(img) {
			t.Errorf("leak repair ran despite a failed table write")
		}
	})
}

// TestCheckLeakRepairIOErrors fails each step of a leak repair that moves
// a table by way of the end of file: the repair stops with a check error,
// the image stays consistent and reads the same, and a repair without
// errors then removes every leak.
func TestCheckLeakRepairIOErrors(t *testing.T) {
	// Clusters 0-10 as in chkBase, a hole at 11, guest cluster 2048's data
	// at 12 and its table at 13-14.
	m := newChkImage(1)
	chkBase(m)
	m.leak()
	m.writeDataFirst(2048, 'f')
	img := m.bytes()
	const cs = chkCS
	cases := []struct {
		name    string
		off, n  int64
		writes  bool
		unfixed int // leaks the failed repair leaves
	}{
		{name: "read-data", off: 12 * cs, n: 8, unfixed: 1},
		{name: "write-data", off: 11 * cs, n: cs, writes: true, unfixed: 1},
		{name: "write-past-end", off: 15 * cs, n: 1 << 30, writes: true, unfixed: 1},
		{name: "write-l1-entry", off: cs, n: SectorSize, writes: true, unfixed: 3},
		{name: "write-table-back", off: 12 * cs, n: cs, writes: true, unfixed: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &chkFailStorage{MemStorage: NewMemStorageFrom(img), failOff: tc.off, n: tc.n, writes: tc.writes}
			r, err := Check(st, true)
			if err != nil {
				t.Fatal(err)
			}
			if r.CheckErrors != 1 || r.Corruptions != 0 || r.Leaks != tc.unfixed || r.ExitCode() != 1 {
				t.Errorf("repair: got %+v, want 1 check error and %d leaks", r, tc.unfixed)
			}
			after := st.MemStorage
			if r, err := Check(after, false); err != nil || r.Corruptions != 0 || r.CheckErrors != 0 || r.Leaks != tc.unfixed {
				t.Errorf("check after the failed repair: %+v, %v", r, err)
			}
			if !chkSameGuest(img, after.Bytes()) {
				t.Errorf("the guest reads otherwise after the failed repair")
			}
			if r, err := Check(after, true); err != nil || r.Leaks != 0 || r.LeaksFixed != tc.unfixed || r.CheckErrors != 0 {
				t.Errorf("second repair: %+v, %v", r, err)
			}
			if r, err := Check(after, false); err != nil || !r.Clean() || !chkSameGuest(img, after.Bytes()) {
				t.Errorf("after the second repair: %+v, %v", r, err)
			}
		})
	}
}

// chkCrashStorage crashes after a number of writes, truncates and syncs:
// from then on every call fails. durable is the state as of the last Sync,
// what survives a crash that loses every write not yet synced.
type chkCrashStorage struct {
	*MemStorage
	durable []byte
	left    int // calls before the crash
}

var errChkCrash = errors.New("crashed")

func (s *chkCrashStorage) op() error {
	if s.left == 0 {
		return errChkCrash
	}
	s.left--
	return nil
}

func (s *chkCrashStorage) WriteAt(p []byte, off int64) (int, error) {
	if err := s.op(); err != nil {
		return 0, err
	}
	return s.MemStorage.WriteAt(p, off)
}

func (s *chkCrashStorage) Truncate(size int64) error {
	if err := s.op(); err != nil {
		return err
	}
	return s.MemStorage.Truncate(size)
}

func (s *chkCrashStorage) Sync() error {
	if err := s.op(); err != nil {
		return err
	}
	s.durable = s.MemStorage.Bytes()
	return nil
}

// TestCheckRepairCrash crashes every repair of the fixtures after each of
// its writes, truncates and syncs in turn. Whether the writes not yet
// synced are lost or all landed, the image must be no more corrupt than
// before, the data of its valid entries intact, and a new repair must
// leave it without corruptions.
func TestCheckRepairCrash(t *testing.T) {
	for _, tc := range chkCases {
		for _, v := range chkVariants(tc) {
			t.Run(v.name, func(t *testing.T) {
				full := &chkCrashStorage{MemStorage: NewMemStorageFrom(v.img), durable: v.img, left: -1}
				if _, err := Check(full, true); err != nil {
					t.Fatal(err)
				}
				ops := -1 - full.left
				t.Logf("repair makes %d calls", ops)
				for k := 0; k < ops; k++ {
					st := &chkCrashStorage{MemStorage: NewMemStorageFrom(v.img), durable: v.img, left: k}
					if _, err := Check(st, true); err != nil {
						t.Fatalf("crash after %d of %d calls: %v", k, ops, err)
					}
					for _, img := range []struct {
						name string
						b    []byte
					}{{"unsynced writes lost", st.durable}, {"unsynced writes landed", st.Bytes()}} {
						chkAfterCrash(t, fmt.Sprintf("crash after %d of %d calls, %s", k, ops, img.name), img.b, v)
					}
				}
			})
		}
	}
}

func chkAfterCrash(t *testing.T, what string, img []byte, v chkVariant) {
	t.Helper()
	st := NewMemStorageFrom(img)
	r, err := Check(st, false)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if r.Corruptions > v.check.Corruptions || (v.check.Corruptions == 0 && r.Corruptions != 0) {
		t.Errorf("%s: %d corruptions, the image had %d: %q", what, r.Corruptions, v.check.Corruptions, r.Problems)
	}
	for gc, fill := range v.want {
		if fill == 0 {
			continue // a cleared entry reads zeros or what it read before
		}
		if got := chkReadGuest(img, gc); !bytes.Equal(got, bytes.Repeat([]byte{fill}, chkCS)) {
			t.Errorf("%s: guest cluster %d reads %q..., want %q", what, gc, got[:8], fill)
		}
	}
	if v.check.Corruptions == 0 && r.Corruptions == 0 && !chkSameGuest(v.img, img) {
		t.Errorf("%s: the guest reads otherwise than before the repair", what)
	}
	if _, err := Check(st, true); err != nil {
		t.Fatalf("%s: repair: %v", what, err)
	}
	// A new repair finishes the job: only the corruptions a repair leaves,
	// and no leaks where the interrupted repair would have left none.
	if r, err := Check(st, false); err != nil || r.Corruptions != v.repair.Corruptions || r.CheckErrors != 0 || (v.repair.Leaks == 0 && r.Leaks != 0) {
		t.Errorf("%s: after a new repair: %+v, %v", what, r, err)
	}
}

// chkGuestReads opens img read-only, without a backing file, and returns
// a hash of each guest cluster (of the first 16 MiB) that reads without an
// error and is not all zeros; nil when it does not open.
func chkGuestReads(img []byte) map[uint64][32]byte {
	st := NewMemStorageFrom(img)
	files := Files{Image: st}
	if h, err := DecodeHeader(img); err == nil && h.HasBacking() {
		files.Backing = NewMemStorage()
	}
	im, err := Open(files, NewMemBackend(files), Options{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer im.Close()
	g := im.Geometry()
	out := map[uint64][32]byte{}
	buf := make([]byte, g.ClusterSize)
	zero := make([]byte, g.ClusterSize)
	for off := uint64(0); off < min(g.ImageSize, 16<<20); off += g.ClusterSize {
		b := buf[:min(g.ClusterSize, g.ImageSize-off)]
		if _, err := im.ReadAt(b, int64(off)); err == nil && !bytes.Equal(b, zero[:len(b)]) {
			out[off] = sha256.Sum256(b)
		}
	}
	return out
}

// chkSameGuest reports whether images a and b, whose entries are all
// valid, map the same guest clusters to the same contents.
func chkSameGuest(a, b []byte) bool {
	ma, mb := chkGuestMap(a), chkGuestMap(b)
	if len(ma) != len(mb) {
		return false
	}
	for gc, x := range ma {
		if y, ok := mb[gc]; !ok || x != y {
			return false
		}
	}
	return true
}

func TestCheckExitCode(t *testing.T) {
	cases := []struct {
		r     CheckResult
		code  int
		clean bool
	}{
		{CheckResult{}, 0, true},
		{CheckResult{CorruptionsFixed: 3, LeaksFixed: 2}, 0, true},
		{CheckResult{Leaks: 1}, 3, false},
		{CheckResult{Corruptions: 1, Leaks: 1}, 2, false},
		{CheckResult{CheckErrors: 1, Corruptions: 1}, 1, false},
	}
	for _, tc := range cases {
		if got := tc.r.ExitCode(); got != tc.code {
			t.Errorf("%+v.ExitCode() = %d, want %d", tc.r, got, tc.code)
		}
		if got := tc.r.Clean(); got != tc.clean {
			t.Errorf("%+v.Clean() = %v, want %v", tc.r, got, tc.clean)
		}
	}
}

// TestCheckProblemsBounded checks that a table full of garbage yields a
// bounded list of problems.
func TestCheckProblemsBounded(t *testing.T) {
	m := newChkImage(1)
	chkBase(m)
	for gc := uint64(3); gc < chkEntries; gc++ {
		m.setEntry(gc, gc*7, 0)
	}
	r, err := Check(NewMemStorageFrom(m.bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Corruptions != chkEntries-3 || len(r.Problems) != checkMaxProblems+1 {
		t.Errorf("got %d corruptions and %d problem lines", r.Corruptions, len(r.Problems))
	}
	if last := r.Problems[len(r.Problems)-1]; last != fmt.Sprintf("%d more findings not listed", chkEntries-3-checkMaxProblems) {
		t.Errorf("last problem line = %q", last)
	}
}

// FuzzCheck mutates small images: Check must not panic, must not write
// without repair, and a repair must leave an image whose second check
// finds only the corruptions it reported left and nothing more to repair,
// and in which every guest cluster that read before reads the same.
func FuzzCheck(f *testing.F) {
	for _, tc := range chkCases {
		for _, v := range chkVariants(tc) {
			f.Add(v.img)
		}
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		st := NewMemStorageFrom(img)
		if _, err := Check(st, false); err != nil {
			return
		}
		if !bytes.Equal(st.Bytes(), img) {
			t.Fatal("Check without repair changed the image")
		}
		before := chkGuestReads(img)
		rep, err := Check(st, true)
		if err != nil {
			if !strings.Contains(err.Error(), "refusing to repair") || !bytes.Equal(st.Bytes(), img) {
				t.Fatalf("Check with repair: %v (the image changed: %v)", err, !bytes.Equal(st.Bytes(), img))
			}
			return
		}
		again, err := Check(st, false)
		if err != nil {
			t.Fatalf("Check after repair: %v", err)
		}
		if again.Corruptions != rep.Corruptions || again.CheckErrors != 0 || again.Leaks != rep.Leaks {
			t.Fatalf("after repair %+v, second check %+v", rep, again)
		}
		after := chkGuestReads(st.Bytes())
		for off, sum := range before {
			if got, ok := after[off]; !ok || got != sum {
				t.Fatalf("guest cluster at %#x read before the repair and reads otherwise after it (readable: %v)", off, ok)
			}
		}
		if rep2, err := Check(st, true); err != nil || rep2.CorruptionsFixed != 0 || rep2.LeaksFixed != 0 {
			t.Fatalf("second repair: %+v, %v", rep2, err)
		}
	})
}

// TestCheckFragmentedClusters counts fragmentation as QEMU's QED check
// does: per L2 table, each entry referencing a data cluster that is not
// the one just past the table's previous such entry.
func TestCheckFragmentedClusters(t *testing.T) {
	const cs = 64 << 10
	for _, tc := range []struct {
		name     string
		clusters []uint64 // guest clusters written, in allocation order
		want     uint64
	}{
		{"none", nil, 0},
		// The first write allocates its data cluster, then the L2
		// table after it (as QEMU does): the table sits between the
		// first data cluster and the second.
		{"in order", []uint64{0, 1, 2}, 1},
		{"table first, then in order", []uint64{0, 1, 2, 3}, 1},
		{"as qemu-io writes 0, 1M, 64k", []uint64{0, 16, 1}, 2},
		{"reversed", []uint64{2, 1, 0}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewMemStorage()
			if err := Create(st, 64<<20, CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			files := Files{Image: st}
			im, err := Open(files, NewMemBackend(files), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.clusters {
				mustWrite(t, im, c*cs, 0x5a, 4096)
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
			res, err := Check(st, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.FragmentedClusters != tc.want || res.AllocatedClusters != uint64(len(tc.clusters)) {
				t.Errorf("%d fragmented of %d allocated; want %d of %d", res.FragmentedClusters, res.AllocatedClusters, tc.want, len(tc.clusters))
			}
		})
	}
}
