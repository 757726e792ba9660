package crash

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/qedharness/qedharness/impl"
)

// TestCrashStoreModel checks the images a crash of a Store leaves, whole
// writes and torn, and what a limited and a full Sync make durable.
func TestCrashStoreModel(t *testing.T) {
	mem := impl.NewMemStorageFrom(make([]byte, 4*impl.SectorSize))
	cs, err := NewStore(mem)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, impl.SectorSize)
	b := make([]byte, 2*impl.SectorSize)
	for i := range a {
		a[i] = 0xaa
	}
	for i := range b {
		b[i] = 0xbb
	}
	cs.WriteAt(a, 0)
	if err := cs.Sync(); err != nil {
		t.Fatal(err)
	}
	mark := cs.Mark()
	cs.WriteAt(b, 0)                 // covered by nothing yet
	cs.WriteAt(a, 5*impl.SectorSize) // extends the file
	if got := len(cs.Unflushed()); got != 2 {
		t.Fatalf("%d unflushed writes, want 2", got)
	}
	// Whole writes: 4 images; torn into sectors: 3 units, 8 images.
	seen := map[string]bool{}
	if n := cs.Crashes(nil, false, 16, func(img []byte, _ []Unit, _ []bool) bool {
		seen[fmt.Sprint(len(img), img[0], img[impl.SectorSize])] = true
		return true
	}); n != 4 {
		t.Errorf("visited %d whole-write crash images, want 4", n)
	}
	want := map[string]bool{"2048 170 0": true, "2048 187 187": true, "3072 170 0": true, "3072 187 187": true}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("crash images %v, want %v", seen, want)
	}
	if n := cs.Crashes(nil, true, 16, func([]byte, []Unit, []bool) bool { return true }); n != 8 {
		t.Errorf("visited %d torn crash images, want 8", n)
	}
	// A flush submitted at mark covers only the first write.
	cs.SyncLimit(mark + 1)
	if err := cs.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := len(cs.Unflushed()); got != 1 {
		t.Fatalf("after a limited sync %d unflushed writes, want 1", got)
	}
	d := cs.Durable()
	if d[0] != 0xbb || len(d) != 4*impl.SectorSize {
		t.Errorf("durable image starts %#x, %d bytes; want 0xbb, %d", d[0], len(d), 4*impl.SectorSize)
	}
	if err := cs.Sync(); err != nil || len(cs.Unflushed()) != 0 || len(cs.Durable()) != 6*impl.SectorSize {
		t.Errorf("after a full sync: %v, %d unflushed, %d durable bytes", err, len(cs.Unflushed()), len(cs.Durable()))
	}
}

// TestCrashStoreFingerprint checks that the fingerprint follows what
// crash images depend on: the durable image, the unflushed writes and
// the extra writes, in order, and nothing else.
func TestCrashStoreFingerprint(t *testing.T) {
	build := func(writes ...int64) *Store {
		cs, err := NewStore(impl.NewMemStorageFrom(make([]byte, 8*impl.SectorSize)))
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range writes {
			cs.WriteAt(bytes.Repeat([]byte{byte(off/impl.SectorSize + 1)}, impl.SectorSize), off)
		}
		return cs
	}
	a, b := build(0, impl.SectorSize), build(0, impl.SectorSize)
	if a.Fingerprint(nil) != b.Fingerprint(nil) {
		t.Error("equal stores, different fingerprints")
	}
	if a.Fingerprint(nil) == build(impl.SectorSize, 0).Fingerprint(nil) {
		t.Error("unflushed writes in another order, same fingerprint")
	}
	x := []Write{{Off: 0, Data: make([]byte, 3)}, {Off: 7, Data: make([]byte, 1)}}
	if a.Fingerprint(x) == a.Fingerprint(nil) || a.Fingerprint(x) == a.Fingerprint([]Write{x[1], x[0]}) {
		t.Error("extra writes, or their order, do not change the fingerprint")
	}
	before := a.Fingerprint(nil)
	a.Mark()
	a.Syncs()
	if a.Fingerprint(nil) != before {
		t.Error("reading the store changed its fingerprint")
	}
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint(nil) == before {
		t.Error("a sync did not change the fingerprint")
	}
}
