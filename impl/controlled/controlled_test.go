package controlled

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// TestControlledLandingOrder submits two writes to the same bytes: the
// one completed last is what storage holds, in either order.
func TestControlledLandingOrder(t *testing.T) {
	for _, order := range [][2]uint64{{1, 2}, {2, 1}} {
		st := impl.NewMemStorage()
		b := New(impl.Files{Image: st})
		b.Submit(&impl.IO{ID: 1, Op: impl.OpWrite, Off: 0, Buf: bytes.Repeat([]byte{1}, 512)})
		b.Submit(&impl.IO{ID: 2, Op: impl.OpWrite, Off: 0, Buf: bytes.Repeat([]byte{2}, 512)})
		if got := len(b.Pending()); got != 2 {
			t.Fatalf("pending = %d, want 2", got)
		}
		if sz, _ := st.Size(); sz != 0 {
			t.Fatal("a write took effect before it completed")
		}
		for _, id := range order {
			if err := b.Complete(id); err != nil {
				t.Fatal(err)
			}
			if io := b.Next(); io == nil || io.ID != id {
				t.Fatalf("Next returned %v, want io %d", io, id)
			}
		}
		got := make([]byte, 1)
		st.ReadAt(got, 0)
		if got[0] != byte(order[1]) {
			t.Errorf("order %v: storage holds %d, want the last completed write's %d", order, got[0], order[1])
		}
	}
}

func TestControlledNextAndClose(t *testing.T) {
	st := impl.NewMemStorage()
	b := New(impl.Files{Image: st})
	if b.Next() != nil {
		t.Fatal("Next on an idle backend returned an I/O")
	}
	if err := b.Complete(7); err == nil {
		t.Fatal("Complete of an unknown I/O succeeded")
	}
	b.Submit(&impl.IO{ID: 1, Op: impl.OpWrite, Buf: []byte{1}})
	b.Submit(&impl.IO{ID: 2, Op: impl.OpRead, Buf: make([]byte, 1)})
	// Without a choice, Next completes in submission order.
	if io := b.Next(); io.ID != 1 {
		t.Fatalf("Next = io %d, want 1", io.ID)
	}
	if io := b.Next(); io.ID != 2 || io.Buf[0] != 1 {
		t.Fatalf("Next = io %d reading %v, want io 2 reading [1]", io.ID, io.Buf)
	}
	b.Close()
	b.Submit(&impl.IO{ID: 3, Op: impl.OpWrite, Buf: []byte{3}})
	if io := b.Next(); io == nil || io.Err == nil {
		t.Fatalf("I/O submitted after Close: %v, want it failed", io)
	}
}

// runControlled runs two concurrent allocating writes on an image with
// the controlled backend, completing at each step the pending I/O pick
// chooses, and returns the trace hash and the image's content.
func runControlled(t *testing.T, pick func(p []PendingIO) uint64) (uint64, []byte) {
	t.Helper()
	st := impl.NewMemStorage()
	if err := impl.Create(st, 4<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	files := impl.Files{Image: st}
	b := New(files)
	im, err := impl.Open(files, b, impl.Options{Policy: model.Overlap{}})
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(im.Engine())
	for i, off := range []uint64{0, 4096, 2 << 20} {
		im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: bytes.Repeat([]byte{byte(i + 1)}, 512)})
	}
	for steps := 0; len(b.Pending()) > 0; steps++ {
		if steps > 100 {
			t.Fatal("no end after 100 steps")
		}
		if err := b.Complete(pick(b.Pending())); err != nil {
			t.Fatal(err)
		}
		im.Step()
	}
	if im.InFlight() != 0 {
		t.Fatalf("%d requests still in flight with no I/O pending", im.InFlight())
	}
	return b.TraceHash(), st.Bytes()
}

// TestControlledDeterminism is the determinism gate at the backend: the
// same completion order gives the same trace hash and image, a different
// order a different hash.
func TestControlledDeterminism(t *testing.T) {
	first := func(p []PendingIO) uint64 { return p[0].ID }
	last := func(p []PendingIO) uint64 { return p[len(p)-1].ID }
	h1, img1 := runControlled(t, first)
	h2, img2 := runControlled(t, first)
	if h1 != h2 || !bytes.Equal(img1, img2) {
		t.Fatalf("same order, different runs: hashes %x and %x, images equal %v", h1, h2, bytes.Equal(img1, img2))
	}
	h3, _ := runControlled(t, last)
	if h3 == h1 {
		t.Fatal("a different completion order gave the same trace hash")
	}
}

func TestFootprintCommutes(t *testing.T) {
	w := func(off, n uint64) impl.Footprint {
		return impl.Footprint{File: impl.ImageFile, Off: off, Len: n, Write: true}
	}
	r := func(off, n uint64) impl.Footprint { return impl.Footprint{File: impl.ImageFile, Off: off, Len: n} }
	with := func(f impl.Footprint, mod func(*impl.Footprint)) impl.Footprint { mod(&f); return f }
	tests := []struct {
		name string
		a, b impl.Footprint
		want bool
	}{
		{"disjoint writes", w(0, 512), w(512, 512), true},
		{"overlapping writes", w(0, 1024), w(512, 512), false},
		{"read and write of the same bytes", r(0, 512), w(0, 512), false},
		{"two reads of the same bytes", r(0, 512), r(0, 512), true},
		{"same offset, other file", w(0, 512), impl.Footprint{File: impl.BackingFile, Len: 512}, true},
		{"lookup and table update", impl.EngineFootprint(), with(w(0, 512), func(f *impl.Footprint) { f.MetaOff, f.MetaLen = 8192, 512 }), false},
		{"lookup and storage only", impl.EngineFootprint(), w(0, 512), true},
		{"two finishes", impl.Footprint{Finish: true}, impl.Footprint{Finish: true}, true},
		{"finish and allocation", impl.Footprint{Finish: true}, impl.Footprint{Alloc: true}, true},
		{"two allocations", impl.Footprint{Alloc: true}, impl.Footprint{Alloc: true}, false},
		{"updates of one table sector", impl.Footprint{MetaOff: 8192, MetaLen: 512}, impl.Footprint{MetaOff: 8192, MetaLen: 512}, false},
		{"updates of two tables", impl.Footprint{MetaOff: 8192, MetaLen: 512}, impl.Footprint{MetaOff: 12288, MetaLen: 512}, true},
	}
	for _, tc := range tests {
		if got := tc.a.Commutes(tc.b); got != tc.want {
			t.Errorf("%s: Commutes = %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.b.Commutes(tc.a); got != tc.want {
			t.Errorf("%s (swapped): Commutes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestControlledDescribe checks the domain words of the I/Os of one
// allocating write.
func TestControlledDescribe(t *testing.T) {
	var seen []string
	st := impl.NewMemStorage()
	impl.Create(st, 4<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1})
	files := impl.Files{Image: st}
	b := New(files)
	im, err := impl.Open(files, b, impl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(im.Engine())
	im.Submit(&impl.Request{Op: impl.ReqWrite, Off: 4096, Buf: make([]byte, 512)})
	for len(b.Pending()) > 0 {
		p := b.Pending()[0]
		seen = append(seen, b.Describe(p.ID))
		b.Complete(p.ID)
		im.Step()
	}
	text := strings.Join(seen, "\n")
	for _, want := range []string{
		"header write setting the need-check bit",
		"growth of the image file to",
		"data write into the new cluster at 0x2000 (bytes 0x2000+512; the rest reads as zeros)",
		"write of the new L2 table at 0x3000 (L2[1] = 0x2000)",
		"write of the L1 table sector (L1[0] = 0x3000)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("descriptions lack %q:\n%s", want, text)
		}
	}
	if b.EngineHash() == New(files).EngineHash() {
		t.Error("EngineHash of an attached engine equals that of none")
	}
}

// raceTableSector runs, under the overlap policy, a write that creates
// the L2 table of guest clusters 0-2 and then two concurrent allocating
// writes of clusters 1 and 2, whose L2 updates fall in one table sector.
// It completes every pending I/O but table sector writes while it can,
// and returns the backend and image at that point, with what is pending.
func raceTableSector(t *testing.T, unordered bool) (*Backend, *impl.Image, *impl.MemStorage, []PendingIO) {
	t.Helper()
	st := impl.NewMemStorage()
	if err := impl.Create(st, 4<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	files := impl.Files{Image: st}
	b := New(files)
	im, err := impl.Open(files, b, impl.Options{Policy: model.Overlap{}, UnorderedMetadata: unordered, Metadata: impl.MetaWriteThrough})
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(im.Engine())
	im.Submit(&impl.Request{Op: impl.ReqWrite, Off: 0, Buf: bytes.Repeat([]byte{1}, 512)})
	im.Run()
	for i, off := range []uint64{4096, 8192} {
		im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: bytes.Repeat([]byte{byte(i + 2)}, 512)})
	}
	for steps := 0; ; steps++ {
		if steps > 100 {
			t.Fatal("no end after 100 steps")
		}
		var next *PendingIO
		tableWrites := map[uint64]int{}
		for _, p := range b.Pending() {
			if p.Purpose == impl.PurposeL2Write {
				tableWrites[p.Off]++
			} else if next == nil {
				next = &p
			}
		}
		for off, n := range tableWrites {
			if n > 1 && !unordered {
				t.Fatalf("the ordered writer has %d writes of the table sector at %#x in flight", n, off)
			}
		}
		if next == nil {
			return b, im, st, b.Pending()
		}
		if err := b.Complete(next.ID); err != nil {
			t.Fatal(err)
		}
		im.Step()
	}
}

// TestControlledUnorderedMetadata: without the ordered metadata writer,
// two updates of one L2 table sector are in flight at once, their
// footprints do not commute (so the explorer tries both orders), and the
// order decides what the table on disk holds: completing the newer write
// first lets the older one hide an entry. With the ordered writer only
// one write of the sector is ever in flight.
func TestControlledUnorderedMetadata(t *testing.T) {
	_, _, _, pending := raceTableSector(t, false)
	if len(pending) != 1 {
		t.Fatalf("ordered writer: %d I/Os pending, want the one table sector write", len(pending))
	}

	entries := func(st *impl.MemStorage, off uint64) int {
		buf := make([]byte, impl.SectorSize)
		st.ReadAt(buf, int64(off))
		n := 0
		for i := 0; i < len(buf); i += 8 {
			if binary.LittleEndian.Uint64(buf[i:]) != 0 {
				n++
			}
		}
		return n
	}
	for _, newerFirst := range []bool{false, true} {
		b, im, st, pending := raceTableSector(t, true)
		if len(pending) != 2 || pending[0].Off != pending[1].Off || pending[0].Purpose != impl.PurposeL2Write {
			t.Fatalf("unordered writer: pending %+v, want two writes of one table sector", pending)
		}
		if pending[0].Footprint.Commutes(pending[1].Footprint) {
			t.Fatalf("two writes of the table sector at %#x commute: %+v, %+v", pending[0].Off, pending[0].Footprint, pending[1].Footprint)
		}
		order := []uint64{pending[0].ID, pending[1].ID}
		if newerFirst {
			order[0], order[1] = order[1], order[0]
		}
		for _, id := range order {
			if err := b.Complete(id); err != nil {
				t.Fatal(err)
			}
			im.Step()
		}
		n := entries(st, pending[0].Off)
		if want := map[bool]int{false: 3, true: 2}[newerFirst]; n != want {
			t.Errorf("newer write first %v: the table sector on disk has %d entries, want %d", newerFirst, n, want)
		}
	}
}

// TestControlledUnorderedFootprintLooksUp: an unordered metadata write
// that ends a segment of a request with more to do resumes the request's
// lookup, so its footprint claims the engine (Requests); the write that
// ends the request's last segment only finishes it.
func TestControlledUnorderedFootprintLooksUp(t *testing.T) {
	st := impl.NewMemStorage()
	if err := impl.Create(st, 4<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	files := impl.Files{Image: st}
	b := New(files)
	im, err := impl.Open(files, b, impl.Options{UnorderedMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(im.Engine())
	// Two segments: the last sector under L1[0] and the first under L1[1].
	im.Submit(&impl.Request{Op: impl.ReqWrite, Off: 2<<20 - 512, Buf: make([]byte, 1024)})
	var metaWrites []impl.Footprint
	for steps := 0; len(b.Pending()) > 0; steps++ {
		if steps > 100 {
			t.Fatal("no end after 100 steps")
		}
		p := b.Pending()[0]
		if p.Purpose == impl.PurposeL1Write {
			metaWrites = append(metaWrites, p.Footprint)
		}
		b.Complete(p.ID)
		im.Step()
	}
	if len(metaWrites) != 2 {
		t.Fatalf("%d L1 writes, want 2", len(metaWrites))
	}
	if !metaWrites[0].Requests || metaWrites[1].Requests {
		t.Errorf("L1 write footprints claim the engine: %v then %v, want true then false", metaWrites[0].Requests, metaWrites[1].Requests)
	}
}
