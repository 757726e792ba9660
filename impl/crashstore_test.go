package impl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// crashGeom is the geometry of the crash tests: 4 KiB clusters, one-cluster
// tables (512 entries, 2 MiB per L2 table), 4 MiB of guest space, so a
// small workload allocates data clusters and L2 tables both.
const (
	crashCS   = 4096
	crashSize = 4 << 20
	// crashBackingSize covers the first 16 clusters; the guest reads
	// zeros past it.
	crashBackingSize = 64 << 10
)

func TestCrashStoreModel(t *testing.T) {
	mem := NewMemStorageFrom(make([]byte, 4*SectorSize))
	cs, err := NewCrashStore(mem)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, SectorSize)
	b := make([]byte, 2*SectorSize)
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
	cs.WriteAt(b, 0)            // covered by nothing yet
	cs.WriteAt(a, 5*SectorSize) // extends the file
	if got := len(cs.Unflushed()); got != 2 {
		t.Fatalf("%d unflushed writes, want 2", got)
	}
	// Whole writes: 4 images; torn into sectors: 3 units, 8 images.
	seen := map[string]bool{}
	if n := cs.Crashes(nil, false, 16, func(img []byte, _ []CrashUnit, _ []bool) bool {
		seen[fmt.Sprint(len(img), img[0], img[SectorSize])] = true
		return true
	}); n != 4 {
		t.Errorf("visited %d whole-write crash images, want 4", n)
	}
	want := map[string]bool{"2048 170 0": true, "2048 187 187": true, "3072 170 0": true, "3072 187 187": true}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("crash images %v, want %v", seen, want)
	}
	if n := cs.Crashes(nil, true, 16, func([]byte, []CrashUnit, []bool) bool { return true }); n != 8 {
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
	if d[0] != 0xbb || len(d) != 4*SectorSize {
		t.Errorf("durable image starts %#x, %d bytes; want 0xbb, %d", d[0], len(d), 4*SectorSize)
	}
	if err := cs.Sync(); err != nil || len(cs.Unflushed()) != 0 || len(cs.Durable()) != 6*SectorSize {
		t.Errorf("after a full sync: %v, %d unflushed, %d durable bytes", err, len(cs.Unflushed()), len(cs.Durable()))
	}
}

// crashSeeds returns how many seeds the random crash tests run per policy
// and backing choice: QED_CRASH_SEEDS, or a default that keeps the race
// build well under a minute.
func crashSeeds(t *testing.T, def int) int {
	if s := os.Getenv("QED_CRASH_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("QED_CRASH_SEEDS=%q: want a positive count", s)
		}
		return n
	}
	if testing.Short() {
		return def / 4
	}
	return def
}

// crashSetup creates the image of a crash run: a session that writes a few
// clusters and closes cleanly (so the crashed session rewrites allocated
// clusters as well as allocating), then a CrashStore over the result.
func crashSetup(t testing.TB, backed bool, policy model.Policy, l *CrashLedger) (Files, *CrashStore, []byte) {
	mem := NewMemStorage()
	opts := CreateOptions{ClusterSize: crashCS, TableSize: 1}
	var backing []byte
	files := Files{Image: mem}
	if backed {
		opts.BackingFile = "backing.raw"
		backing = CrashBacking(crashBackingSize)
		files.Backing = NewMemStorageFrom(backing)
	}
	if err := Create(mem, crashSize, opts); err != nil {
		t.Fatal(err)
	}
	im, err := Open(files, NewMemBackend(files), Options{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	l.Backing = backed
	for k, gc := range []uint64{1, 3, 512} {
		id := uint64(1000 + k)
		off := gc * crashCS
		l.Submitted(id, off, crashCS)
		if _, err := im.WriteAt(CrashData(id, off, crashCS), int64(off)); err != nil {
			t.Fatal(err)
		}
		l.Completed(id)
	}
	l.FlushCompleted(l.FlushSubmitted())
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	cs, err := NewCrashStore(mem)
	if err != nil {
		t.Fatal(err)
	}
	files.Image = cs
	return files, cs, backing
}

// crashOp draws a guest request: a sector-aligned write of 1 to 12
// sectors (so some span two clusters) among a few clusters of both L2
// tables, or one time in eight a flush.
func crashOp(rng *rand.Rand) (flush bool, off, n uint64) {
	if rng.IntN(8) == 0 {
		return true, 0, 0
	}
	clusters := []uint64{0, 1, 2, 3, 4, 5, 511, 512, 513, 700}
	gc := clusters[rng.IntN(len(clusters))]
	sec := uint64(rng.IntN(crashCS / SectorSize))
	n = uint64(1+rng.IntN(12)) * SectorSize
	off = gc*crashCS + sec*SectorSize
	if off+n > crashSize {
		n = crashSize - off
	}
	return false, off, n
}

// runCrashSim runs one seeded random workload on the sim backend, crashes
// it at a random I/O completion with a random subset of the unflushed
// writes landing, and recovers. It returns what the crash cost.
func runCrashSim(t *testing.T, reg model.Registration, backed bool, seed uint64) ([]byte, Recovery, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	l := &CrashLedger{}
	files, cs, backing := crashSetup(t, backed, reg.Policy, l)
	dev, _ := DevicePreset("ssd")
	be, err := NewSimBackend(files, dev, int64(seed))
	if err != nil {
		t.Fatal(err)
	}
	im, err := Open(files, be, Options{Policy: reg.Policy, Clock: be.Now})
	if err != nil {
		t.Fatal(err)
	}
	const ops, depth = 40, 4
	submitted, outstanding := 0, 0
	var nextID uint64 = 1
	var failed error
	submit := func() {
		flush, off, n := crashOp(rng)
		submitted++
		outstanding++
		if flush {
			mark := l.FlushSubmitted()
			im.Submit(&Request{Op: ReqFlush, Done: func(r *Request) {
				outstanding--
				if r.Err != nil {
					failed = r.Err
					return
				}
				l.FlushCompleted(mark)
			}})
			return
		}
		id := nextID
		nextID++
		l.Submitted(id, off, n)
		im.Submit(&Request{Op: ReqWrite, Off: off, Buf: CrashData(id, off, n), Done: func(r *Request) {
			outstanding--
			if r.Err != nil {
				failed = r.Err
				return
			}
			l.Completed(id)
		}})
	}
	crashAt := rng.IntN(ops * 6)
	for steps := 0; steps < crashAt; steps++ {
		for outstanding < depth && submitted < ops {
			submit()
		}
		if !im.Step() {
			break
		}
	}
	if failed != nil {
		t.Fatalf("seed %d: request failed before the crash: %v", seed, failed)
	}
	img, _, _ := cs.CrashRandom(rng, nil, rng.IntN(2) == 0)
	rec, err := RecoverCrash(img, backing, l, reg.Policy)
	return img, rec, err
}

// TestCrashDurabilitySim crashes random workloads on the sim backend
// under every registered policy, with and without a backing file, and
// checks that recovery keeps every flushed write and leaves a clean
// image. A failure prints the seed; QED_CRASH_SEEDS sets the count.
func TestCrashDurabilitySim(t *testing.T) {
	seeds := crashSeeds(t, 60)
	for _, reg := range model.Registered() {
		for _, backed := range []bool{false, true} {
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				var needCheck, leaks, repaired, violations int
				known := map[string]int{}
				var first error
				for seed := uint64(1); seed <= uint64(seeds); seed++ {
					img, rec, err := runCrashSim(t, reg, backed, seed)
					var v *CrashViolation
					if errors.As(err, &v) {
						if k := KnownCrashIssue(err, rec, img); k != "" && !crashStrict() {
							known[k]++
							t.Logf("seed %d: known issue %s: %v", seed, k, firstLine(err))
							continue
						}
						violations++
						if first == nil {
							first = fmt.Errorf("seed %d: %w", seed, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					if rec.NeedCheck {
						needCheck++
						if backed {
							t.Errorf("seed %d: need-check set on an image with a backing file (QEMU never sets it there)", seed)
						}
					}
					leaks += rec.Before.Leaks
					repaired += rec.LeaksRepaired
				}
				t.Logf("%d crashes: %d with need-check set, %d leaked clusters found, %d repaired after an unchecked reopen, %d violations, known issues %v",
					seeds, needCheck, leaks, repaired, violations, known)
				switch {
				case reg.Expect == model.Unsafe:
					t.Logf("policy %s is registered unsafe; first violation: %v", reg.Name, first)
				case first != nil:
					t.Errorf("%d of %d crashes broke a durability promise; first: %v", violations, seeds, first)
				}
			})
		}
	}
}

// crashStrict reports whether the known crash issues (KnownCrashIssue)
// fail the crash tests: always, since the engine fixed them, unless
// QED_CRASH_LENIENT is set to look past them while investigating.
func crashStrict() bool { return os.Getenv("QED_CRASH_LENIENT") == "" }

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// TestCrashReproducers replays, step by step, the shortest crash the
// explorer (checker.ExploreCrashes) finds for each ordering issue, on
// the controlled backend: one allocating write of guest cluster 0 on a
// fresh image, every I/O completed in order until the L1 update is in
// flight, then a crash that keeps only the in-flight L1 write. The L1
// entry then points at an L2 table that never reached the disk, the
// need-check bit (without a backing file) is lost with its header write,
// so the reopen does not check, and the allocator later hands out the
// table's space: writes acknowledged and flushed after the crash are lost.
// The engine now flushes after the need-check header write and, with a
// backing file, between a new L2 table's write and the L1 update, so the
// crash must recover cleanly: this is the regression test for that fix.
func TestCrashReproducers(t *testing.T) {
	for _, backed := range []bool{false, true} {
		t.Run(fmt.Sprintf("backing=%v", backed), func(t *testing.T) {
			mem := NewMemStorage()
			opts := CreateOptions{ClusterSize: crashCS, TableSize: 1}
			files := Files{Image: mem}
			l := &CrashLedger{Backing: backed}
			var backing []byte
			if backed {
				opts.BackingFile = "b.raw"
				backing = CrashBacking(crashBackingSize)
				files.Backing = NewMemStorageFrom(backing)
			}
			if err := Create(mem, crashSize, opts); err != nil {
				t.Fatal(err)
			}
			cs, err := NewCrashStore(mem)
			if err != nil {
				t.Fatal(err)
			}
			files.Image = cs
			be := NewControlledBackend(files)
			im, err := Open(files, be, Options{})
			if err != nil {
				t.Fatal(err)
			}
			l.Submitted(1, 0, crashCS)
			im.Submit(&Request{Op: ReqWrite, Off: 0, Buf: CrashData(1, 0, crashCS)})
			var l1 *PendingIO
			for l1 == nil {
				p := be.Pending()
				if len(p) != 1 {
					t.Fatalf("%d I/Os pending, want 1", len(p))
				}
				if p[0].Purpose == PurposeL1Write {
					l1 = &p[0]
					break
				}
				if err := be.Complete(p[0].ID); err != nil {
					t.Fatal(err)
				}
				im.Step()
			}
			// Only the L1 update lands: the L1 sector as the engine writes it
			// holds entry 0 pointing at the new table.
			entry := make([]byte, SectorSize)
			if _, err := cs.ReadAt(entry, int64(l1.Off)); err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint64(entry, im.eng.l1[0])
			units := cs.Units([]CrashWrite{{Off: int64(l1.Off), Data: entry}}, false)
			land := make([]bool, len(units))
			land[len(land)-1] = true
			img := cs.Crash(units, land)
			rec, err := RecoverCrash(img, backing, l, nil)
			t.Logf("need-check after crash %v; recovery: %v", rec.NeedCheck, err)
			if err != nil {
				t.Errorf("recovery failed (class %q): %v", KnownCrashIssue(err, rec, img), err)
			}
		})
	}
}
