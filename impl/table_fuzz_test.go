package impl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
)

// FuzzDecodeTable feeds arbitrary table bytes, under an arbitrary geometry
// and file size, to the table decoders and the entry validators directly
// (FuzzOpenReadCheck reaches them only through a whole image):
//
//   - decodeTable and encodeTable round-trip the bytes;
//   - the checker's walkTable, reading through a buffer of any size from a
//     sector to checkChunk, visits exactly the decoded entries, in order,
//     and with write set stores back exactly the entries its visit
//     changed, writing only the sectors that hold one;
//   - the engine (checkTableOffset, checkDataOffset) and the checker
//     (tableProblem, clusterProblem) accept the same entries, and an entry
//     is accepted exactly when it is cluster-aligned, past the header, and
//     its whole table or cluster lies inside the file.
//
// The table holds the input's first tableFuzzMaxWords 8-byte words, spread
// evenly over it so that every chunk and sector may hold some; the rest is
// zeros. Tables are at most tableFuzzMaxBytes, and the words few, to keep
// executions and minimization (quadratic in the input's length) fast; a
// small buffer gives walkTable many chunks all the same.
func FuzzDecodeTable(f *testing.F) {
	for _, s := range tableFuzzSeeds() {
		f.Add(s.clusterShift, s.tableShift, s.headerClusters, s.chunkShift, s.fileSize, s.table)
	}
	f.Fuzz(fuzzDecodeTable)
}

// tableFuzzMaxBytes bounds the tables FuzzDecodeTable builds, and
// tableFuzzMaxWords the input words it puts in them.
const (
	tableFuzzMaxBytes = checkChunk
	tableFuzzMaxWords = 32
)

// tableFuzzSeed is one input of FuzzDecodeTable: cluster size 4 KiB <<
// clusterShift%5, table size 1 << tableShift%5 clusters (halved while the
// table would exceed tableFuzzMaxBytes), header of 1+headerClusters%4
// clusters, and walkTable reading through a buffer of 512 <<
// chunkShift%8 bytes, at most the table.
type tableFuzzSeed struct {
	clusterShift, tableShift, headerClusters, chunkShift uint8
	fileSize                                             uint64
	table                                                []byte
}

func tableFuzzSeeds() []tableFuzzSeed {
	le := func(v ...uint64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		return b
	}
	// The L1 table and first L2 table of the check fixtures' base image,
	// with its real size.
	m := newChkImage(1)
	chkBase(m)
	img := m.bytes()
	l1 := img[m.h.L1TableOffset : m.h.L1TableOffset+chkCS*chkTS]
	l2 := img[m.l1(0) : m.l1(0)+chkCS*chkTS]
	return []tableFuzzSeed{
		{0, 1, 0, 7, uint64(len(img)), bytes.TrimRight(l1, "\x00")},
		{0, 1, 0, 7, uint64(len(img)), bytes.TrimRight(l2, "\x00")},
		// Each kind of bad entry, in a file with a partial last cluster,
		// read a sector at a time.
		{0, 1, 1, 0, 0x10800, le(0x2000, 0x3000, ZeroCluster, 2, 0x5123, 0x1000, 0xf000, 0x10000, 1<<40)},
		// Entries whose end overflows.
		{0, 0, 0, 7, 1<<64 - 1, le(1<<64-0x1000, 1<<64-0x2000, 1<<63)},
		// A 64 KiB cluster and table, read in 4 KiB chunks.
		{4, 0, 3, 3, 64 << 20, le(0x40000, 0x50000, 0x3f0000, 0x3ff0000, 0x4000000)},
	}
}

func fuzzDecodeTable(t *testing.T, clusterShift, tableShift, headerClusters, chunkShift uint8, fileSize uint64, raw []byte) {
	cs := uint64(MinClusterSize) << (clusterShift % 5)
	ts := uint64(1) << (tableShift % 5)
	for cs*ts > tableFuzzMaxBytes {
		ts /= 2
	}
	h := Header{
		ClusterSize:   uint32(cs),
		TableSize:     uint32(ts),
		HeaderSize:    1 + uint32(headerClusters%4),
		L1TableOffset: 0, // not used: tables are read from their own storage
		ImageSize:     cs,
	}
	g := GeometryOf(&h)
	hdrBytes := uint64(h.HeaderSize) * cs

	table := make([]byte, g.TableBytes)
	words := min(uint64(len(raw)/8), tableFuzzMaxWords)
	for k := uint64(0); k < words; k++ {
		at := k * (g.TableEntries / max(words, 1)) * 8
		copy(table[at:at+8], raw[8*k:])
	}

	// decodeTable and encodeTable round-trip.
	entries := make([]uint64, g.TableEntries)
	decodeTable(entries, table)
	again := make([]byte, len(table))
	encodeTable(again, entries)
	if !bytes.Equal(again, table) {
		t.Fatal("encodeTable(decodeTable(b)) differs from b")
	}
	want := make([]uint64, len(entries)) // later, what walkTable should store
	decodeTable(want, again)
	if !slices.Equal(entries, want) {
		t.Fatal("decodeTable(encodeTable(x)) differs from x")
	}

	// The validators agree with each other and with the contract.
	c := &imageChecker{h: h, g: g, size: fileSize, hdrBytes: hdrBytes}
	eng := &Engine{g: g, headerEnd: hdrBytes, fileSize: g.StartOfCluster(fileSize)}
	fits := func(off, n uint64) bool { return off <= fileSize && n <= fileSize-off }
	for i, e := range entries {
		if e == 0 {
			continue // unallocated, in an L1 or an L2 table
		}
		ok := e%cs == 0 && e >= hdrBytes && fits(e, g.TableBytes)
		why, err := c.tableProblem(e), eng.checkTableOffset(e)
		if (why == "") != ok || (err == nil) != ok {
			t.Fatalf("entry %d = %#x as an L2 table offset (cluster %d, table %d bytes, header %d, file %d): contract says ok=%v, checker %q, engine %v",
				i, e, cs, g.TableBytes, hdrBytes, fileSize, ok, why, err)
		}
		if e == ZeroCluster {
			continue // a zero cluster, in an L2 table
		}
		ok = e%cs == 0 && e >= hdrBytes && fits(e, cs)
		why, err = c.clusterProblem(e), eng.checkDataOffset(e)
		if (why == "") != ok || (err == nil) != ok {
			t.Fatalf("entry %d = %#x as a data cluster offset (cluster %d, header %d, file %d): contract says ok=%v, checker %q, engine %v",
				i, e, cs, hdrBytes, fileSize, ok, why, err)
		}
	}

	// walkTable reads the table in chunks and visits each entry once, in
	// order; with write, it stores back what visit returns (here: invalid
	// data entries cleared, as a repair does), sector by sector.
	st := &sectorLog{MemStorage: NewMemStorageFrom(table)}
	c.st = st
	buf := make([]byte, min(g.TableBytes, SectorSize<<(chunkShift%8)))
	next := uint64(0)
	rerr, werr := c.walkTable(0, buf, true, false, func(i, e uint64) uint64 {
		if i != next || e != entries[i] {
			t.Fatalf("walkTable visited entry %d = %#x, want entry %d = %#x", i, e, next, entries[next])
		}
		next++
		if e != 0 && e != ZeroCluster && c.clusterProblem(e) != "" {
			want[i] = 0
		}
		return want[i]
	})
	if rerr != nil || werr != nil || next != g.TableEntries {
		t.Fatalf("walkTable: read %v, write %v, visited %d of %d entries", rerr, werr, next, g.TableEntries)
	}
	stored := st.Bytes()
	encodeTable(again, want)
	if !bytes.Equal(stored, again) {
		t.Fatal("walkTable stored other entries than visit returned")
	}
	for _, off := range st.writes {
		sec := table[off : off+SectorSize]
		if bytes.Equal(sec, stored[off:off+SectorSize]) {
			t.Fatalf("walkTable rewrote the sector at %#x, which holds no changed entry", off)
		}
	}
}

// sectorLog is a MemStorage that records the offset of each write, and
// fails the test's contract (by panicking) on a write that is not one
// whole, aligned sector.
type sectorLog struct {
	*MemStorage
	writes []int64
}

func (s *sectorLog) WriteAt(p []byte, off int64) (int, error) {
	if len(p) != SectorSize || off%SectorSize != 0 {
		panic(fmt.Sprintf("table write of %d bytes at %#x is not one aligned sector", len(p), off))
	}
	s.writes = append(s.writes, off)
	return s.MemStorage.WriteAt(p, off)
}
