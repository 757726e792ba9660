package impl

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// l2EntryOffset returns the file offset of the L2 entry mapping guest
// offset off, reading the L1 table from the raw image.
func l2EntryOffset(t *testing.T, st Storage, off uint64) uint64 {
	t.Helper()
	hb := make([]byte, HeaderLen)
	st.ReadAt(hb, 0)
	h, err := DecodeHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	g := GeometryOf(&h)
	e := make([]byte, 8)
	st.ReadAt(e, int64(h.L1TableOffset+8*g.L1Index(off)))
	l2 := binary.LittleEndian.Uint64(e)
	if l2 == 0 {
		t.Fatalf("no L2 table for offset %d", off)
	}
	return l2 + 8*g.L2Index(off)
}

func TestZeroClusterEntries(t *testing.T) {
	backing := bytes.Repeat([]byte{0xbb}, 64<<10)
	im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096, TableSize: 1}, backing, Options{})
	// Allocate cluster 2, then turn its entry into a zero cluster by hand.
	if _, err := im.WriteAt([]byte{1}, 2*4096); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	entry := make([]byte, 8)
	binary.LittleEndian.PutUint64(entry, ZeroCluster)
	files.Image.WriteAt(entry, int64(l2EntryOffset(t, files.Image, 2*4096)))
	// Cluster 3 stays unallocated: it reads the backing file.
	im, err := Open(files, NewMemBackend(files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*4096)
	if _, err := im.ReadAt(buf, 2*4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:4096], make([]byte, 4096)) {
		t.Error("zero cluster does not read as zeros")
	}
	if !bytes.Equal(buf[4096:], backing[:4096]) {
		t.Error("unallocated cluster does not read the backing file")
	}
	// A partial write into the zero cluster allocates one filled with
	// zeros, as the spec says (QEMU 7.2 fills from the backing file).
	if _, err := im.WriteAt([]byte{7, 7}, 2*4096+100); err != nil {
		t.Fatal(err)
	}
	im = reopen(t, im, files, Options{})
	if _, err := im.ReadAt(buf[:4096], 2*4096); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 4096)
	want[100], want[101] = 7, 7
	if !bytes.Equal(buf[:4096], want) {
		t.Error("write into zero cluster did not fill the rest with zeros")
	}
	im.Close()
}

func TestNeedCheckBit(t *testing.T) {
	header := func(st Storage) Header {
		b := make([]byte, HeaderLen)
		st.ReadAt(b, 0)
		h, _ := DecodeHeader(b)
		return h
	}
	t.Run("no backing: set before first allocating write, cleared on close", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
		if header(files.Image).Features&FeatureNeedCheck != 0 {
			t.Fatal("fresh image has need-check set")
		}
		im.WriteAt([]byte{1}, 0)
		if header(files.Image).Features&FeatureNeedCheck == 0 {
			t.Error("need-check not set on disk after an allocating write")
		}
		if st := im.Stats(); st.IOs[PurposeHeader] != 1 || st.IOs[PurposeFlush] != 1 {
			t.Errorf("%d header writes and %d flushes, want 1 and 1 (the bit is made durable first)", st.IOs[PurposeHeader], st.IOs[PurposeFlush])
		}
		im.WriteAt([]byte{1}, 8192)
		if st := im.Stats(); st.IOs[PurposeHeader] != 1 {
			t.Errorf("second allocating write wrote the header again (%d)", st.IOs[PurposeHeader])
		}
		im.Close()
		if header(files.Image).Features&FeatureNeedCheck != 0 {
			t.Error("need-check still set after a clean close")
		}
	})
	t.Run("no backing: cleared by a flush once no allocation is in flight, set again by the next", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
		im.WriteAt([]byte{1}, 0)
		if err := im.Flush(); err != nil {
			t.Fatal(err)
		}
		im.Run() // the clearing header write goes out after the flush completes
		if header(files.Image).Features&FeatureNeedCheck != 0 {
			t.Error("need-check still set after a flush with nothing allocating")
		}
		im.WriteAt([]byte{2}, 8192)
		if header(files.Image).Features&FeatureNeedCheck == 0 {
			t.Error("need-check not set again by the next allocating write")
		}
		if st := im.Stats(); st.IOs[PurposeHeader] != 3 {
			t.Errorf("%d header writes, want 3 (set, clear, set)", st.IOs[PurposeHeader])
		}
		im.Close()
	})
	t.Run("no backing: a flush issued beside an allocating write leaves the bit set", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
		im.WriteAt([]byte{1}, 0) // the bit is set and durable
		// An allocating write and a flush in flight together: the flush
		// covers none of the write's metadata, so it must not clear.
		var errs []error
		done := func(r *Request) { errs = append(errs, r.Err) }
		im.Submit(&Request{Op: ReqWrite, Off: 4 * 4096, Buf: []byte{3}, Done: done})
		im.Submit(&Request{Op: ReqFlush, Done: done})
		im.Run()
		if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
			t.Fatalf("requests: %v", errs)
		}
		if header(files.Image).Features&FeatureNeedCheck == 0 {
			t.Error("need-check cleared by a flush issued while an allocating write was in flight")
		}
		im.Close()
	})
	t.Run("backing: never set", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, make([]byte, 4096), Options{})
		im.WriteAt([]byte{1}, 0)
		if header(files.Image).Features&FeatureNeedCheck != 0 {
			t.Error("need-check set with a backing file (QEMU flushes before the L2 update instead)")
		}
		// One flush before the L2 update (data before metadata, as QEMU
		// does) and one between the new L2 table and its L1 link.
		if st := im.Stats(); st.IOs[PurposeFlush] != 2 {
			t.Errorf("%d flushes for the first allocating write, want 2", st.IOs[PurposeFlush])
		}
		im.Close()
	})
	t.Run("open with need-check set repairs leaks", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
		im.WriteAt([]byte{1}, 0)
		// Crash: drop the image without closing, leaving the bit set
		// and the tail the image grew, and leak a cluster at the end of
		// the file. The repair cuts both.
		res, err := Check(files.Image, false)
		if err != nil {
			t.Fatal(err)
		}
		sz := int64(res.ImageEndOffset)
		grown, _ := files.Image.Size()
		files.Image.Truncate(grown + 4096)
		im2, err := Open(files, NewMemBackend(files), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if header(files.Image).Features&FeatureNeedCheck != 0 {
			t.Error("need-check still set after the check on open")
		}
		if got, _ := files.Image.Size(); got != sz {
			t.Errorf("leaked cluster not repaired: size %d, want %d", got, sz)
		}
		b := make([]byte, 1)
		im2.ReadAt(b, 0)
		if b[0] != 1 {
			t.Error("data lost by the repair")
		}
		im2.Close()
	})
	t.Run("read-only open leaves the bit", func(t *testing.T) {
		im, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
		im.WriteAt([]byte{1}, 0)
		before := files.Image.(*MemStorage).Bytes()
		im2, err := Open(files, NewMemBackend(files), Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		im2.Close()
		if !bytes.Equal(before, files.Image.(*MemStorage).Bytes()) {
			t.Error("read-only open and close changed the file")
		}
	})
}

func TestSmallL2CacheEvicts(t *testing.T) {
	// 4 KiB clusters, table size 1: each L2 table maps 2 MiB. Touch 8
	// tables with a cache of 2 so tables are evicted and read back.
	im, files := testImage(t, 16<<20, CreateOptions{ClusterSize: 4096, TableSize: 1}, nil, Options{L2CacheTables: 2})
	rng := rand.New(rand.NewPCG(3, 3))
	ref := make([]byte, 16<<20)
	// Writes in flight together may land in either order, so no two of
	// them overlap: each takes its own 128-byte slot.
	slots := rng.Perm(16 << 20 / 128)
	for i := range 400 {
		off := uint64(slots[i]) * 128
		d := pattern(rng, 100)
		copy(ref[off:], d)
		im.Submit(&Request{Op: ReqWrite, Off: off, Buf: d})
	}
	im.Run()
	// A flush writes back the dirty tables, which stay pinned until then;
	// with nothing in flight, each new table then evicts down to capacity.
	if err := im.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := im.ReadAt(make([]byte, 1), int64(i)<<21); err != nil {
			t.Fatal(err)
		}
		if n := len(im.eng.cache.tables); n > 2 {
			t.Errorf("cache holds %d tables with capacity 2", n)
		}
	}
	got := make([]byte, 16<<20)
	im.ReadAt(got, 0)
	if !bytes.Equal(got, ref) {
		t.Fatal("content wrong with a small cache")
	}
	if st := im.Stats(); st.IOs[PurposeL2Read] == 0 {
		t.Error("no L2 table was ever read back: eviction not exercised")
	}
	im = reopen(t, im, files, Options{})
	im.ReadAt(got, 0)
	if !bytes.Equal(got, ref) {
		t.Fatal("content wrong after reopen")
	}
	im.Close()
}
