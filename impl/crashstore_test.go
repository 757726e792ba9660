package impl_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/sim"
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
	mem := impl.NewMemStorageFrom(make([]byte, 4*impl.SectorSize))
	cs, err := impl.NewCrashStore(mem)
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
	if n := cs.Crashes(nil, false, 16, func(img []byte, _ []impl.CrashUnit, _ []bool) bool {
		seen[fmt.Sprint(len(img), img[0], img[impl.SectorSize])] = true
		return true
	}); n != 4 {
		t.Errorf("visited %d whole-write crash images, want 4", n)
	}
	want := map[string]bool{"2048 170 0": true, "2048 187 187": true, "3072 170 0": true, "3072 187 187": true}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("crash images %v, want %v", seen, want)
	}
	if n := cs.Crashes(nil, true, 16, func([]byte, []impl.CrashUnit, []bool) bool { return true }); n != 8 {
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
	build := func(writes ...int64) *impl.CrashStore {
		cs, err := impl.NewCrashStore(impl.NewMemStorageFrom(make([]byte, 8*impl.SectorSize)))
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
	x := []impl.CrashWrite{{Off: 0, Data: make([]byte, 3)}, {Off: 7, Data: make([]byte, 1)}}
	if a.Fingerprint(x) == a.Fingerprint(nil) || a.Fingerprint(x) == a.Fingerprint([]impl.CrashWrite{x[1], x[0]}) {
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
func crashSetup(t testing.TB, backed bool, policy model.Policy, l *impl.CrashLedger) (impl.Files, *impl.CrashStore, []byte) {
	mem := impl.NewMemStorage()
	opts := impl.CreateOptions{ClusterSize: crashCS, TableSize: 1}
	var backing []byte
	files := impl.Files{Image: mem}
	if backed {
		opts.BackingFile = "backing.raw"
		backing = impl.CrashBacking(crashBackingSize)
		files.Backing = impl.NewMemStorageFrom(backing)
	}
	if err := impl.Create(mem, crashSize, opts); err != nil {
		t.Fatal(err)
	}
	im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	l.Backing = backed
	for k, gc := range []uint64{1, 3, 512} {
		id := uint64(1000 + k)
		off := gc * crashCS
		l.Submitted(id, off, crashCS)
		if _, err := im.WriteAt(impl.CrashData(id, off, crashCS), int64(off)); err != nil {
			t.Fatal(err)
		}
		l.Completed(id)
	}
	l.FlushCompleted(l.FlushSubmitted())
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	cs, err := impl.NewCrashStore(mem)
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
	sec := uint64(rng.IntN(crashCS / impl.SectorSize))
	n = uint64(1+rng.IntN(12)) * impl.SectorSize
	off = gc*crashCS + sec*impl.SectorSize
	if off+n > crashSize {
		n = crashSize - off
	}
	return false, off, n
}

// simCrashInfo says what one sim crash had to choose from.
type simCrashInfo struct {
	// InFlight counts the image writes in flight at the crash (accepted
	// by the sim backend, not completed), each a crash candidate;
	// InFlightUnits their units and InFlightLanded the units that landed.
	InFlight, InFlightUnits, InFlightLanded int
	// Unflushed counts the completed writes no completed flush covered.
	Unflushed int
	// Torn says the crash tore writes into sectors.
	Torn bool
	// Steps counts the completions before the crash; Drained says the
	// workload had finished, nothing in flight.
	Steps   int
	Drained bool
	// NarrowFlushes counts flushes that completed after writes which
	// completed while they were in flight: the writes they did not cover.
	NarrowFlushes int
}

// simFlushMarks is the Backend the image sees in a sim crash run: it
// notes the CrashStore's mark when a flush of the image is submitted and,
// through the sim's perform hook, arms that flush's Sync with it, so the
// flush covers exactly the writes that completed before it was submitted
// (the Backend contract), not those that completed while it was in
// flight.
type simFlushMarks struct {
	*sim.Backend
	cs    *impl.CrashStore
	marks map[*impl.IO]uint64
	// narrow counts flushes that left out a write completed while they
	// were in flight.
	narrow int
}

func newSimFlushMarks(be *sim.Backend, cs *impl.CrashStore) *simFlushMarks {
	m := &simFlushMarks{Backend: be, cs: cs, marks: map[*impl.IO]uint64{}}
	be.SetPerformHook(func(io *impl.IO) {
		if io.Op == impl.OpFlush && io.File == impl.ImageFile {
			mark := m.marks[io]
			if cs.Mark() > mark {
				m.narrow++
			}
			cs.SyncLimit(mark)
			delete(m.marks, io)
		}
	})
	return m
}

func (m *simFlushMarks) Submit(io *impl.IO) {
	if io.Op == impl.OpFlush && io.File == impl.ImageFile {
		m.marks[io] = m.cs.Mark()
	}
	m.Backend.Submit(io)
}

// runCrashSim runs one seeded random workload on the sim backend and
// crashes it at a random instant: between two completions, after the
// engine and the guest have submitted what the first one led to. Nothing
// the crash can keep changes between two completions, so a crash at any
// virtual time is one of these (drawn here by completion count, not
// uniformly in virtual time). A
// random subset of the crash candidates lands: the completed writes no
// completed flush covers, and the writes the device holds in flight
// (SimBackend.InFlight), which may have reached the medium before
// completing; with tearing each sector on its own. Then it recovers.
func runCrashSim(t *testing.T, reg model.Registration, backed bool, seed uint64) ([]byte, impl.Recovery, simCrashInfo, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	l := &impl.CrashLedger{}
	files, cs, backing := crashSetup(t, backed, reg.Policy, l)
	dev, _ := sim.Preset("ssd")
	sim, err := sim.New(files, dev, int64(seed))
	if err != nil {
		t.Fatal(err)
	}
	be := newSimFlushMarks(sim, cs)
	im, err := impl.Open(files, be, impl.Options{Policy: reg.Policy, Clock: sim.Now})
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
			im.Submit(&impl.Request{Op: impl.ReqFlush, Done: func(r *impl.Request) {
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
		im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: impl.CrashData(id, off, n), Done: func(r *impl.Request) {
			outstanding--
			if r.Err != nil {
				failed = r.Err
				return
			}
			l.Completed(id)
		}})
	}
	// A run takes some 60 to 90 completions (40 requests at depth 4), so
	// most crash points fall inside it and a few after it drained.
	var info simCrashInfo
	crashAt := rng.IntN(ops * 2)
	for ; ; info.Steps++ {
		for outstanding < depth && submitted < ops {
			submit()
		}
		if info.Steps == crashAt {
			break
		}
		if !im.Step() {
			info.Drained = true
			break
		}
	}
	if failed != nil {
		t.Fatalf("seed %d: request failed before the crash: %v", seed, failed)
	}
	var extra []impl.CrashWrite
	for _, io := range sim.InFlight(nil) {
		if io.Op == impl.OpWrite && io.File == impl.ImageFile {
			extra = append(extra, impl.CrashWrite{Off: int64(io.Off), Data: append([]byte(nil), io.Buf...)})
		}
	}
	info.InFlight, info.Unflushed, info.Torn = len(extra), len(cs.Unflushed()), rng.IntN(2) == 0
	info.NarrowFlushes = be.narrow
	img, units, land := cs.CrashRandom(rng, extra, info.Torn)
	for i, u := range units {
		if u.Write >= info.Unflushed {
			info.InFlightUnits++
			if land[i] {
				info.InFlightLanded++
			}
		}
	}
	rec, err := impl.RecoverCrash(img, backing, l, reg.Policy)
	return img, rec, info, err
}

// TestCrashDurabilitySim crashes random workloads on the sim backend
// under every registered policy, with and without a backing file, and
// checks that recovery keeps every flushed write and leaves a clean
// image. The crash candidates include the writes in flight on the
// device; the test fails if no crash of a policy had one to choose from
// (a vacuous run). A failure prints the seed; QED_CRASH_SEEDS sets the
// count.
func TestCrashDurabilitySim(t *testing.T) {
	seeds := crashSeeds(t, 60)
	for _, reg := range model.Registered() {
		for _, backed := range []bool{false, true} {
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				var needCheck, leaks, repaired, violations int
				var withInFlight, inFlightLanded, inFlightWrites, inFlightUnits, landedUnits, drained, narrow int
				known := map[string]int{}
				var first error
				for seed := uint64(1); seed <= uint64(seeds); seed++ {
					img, rec, info, err := runCrashSim(t, reg, backed, seed)
					if info.Drained {
						drained++
					}
					narrow += info.NarrowFlushes
					if info.InFlight > 0 {
						withInFlight++
						inFlightWrites += info.InFlight
						inFlightUnits += info.InFlightUnits
						landedUnits += info.InFlightLanded
					}
					if info.InFlightLanded > 0 {
						inFlightLanded++
					}
					var v *impl.CrashViolation
					if errors.As(err, &v) {
						if k := impl.KnownCrashIssue(err, rec, img); k != "" && !crashStrict() {
							known[k]++
							t.Logf("seed %d: known issue %s: %v", seed, k, firstLine(err))
							continue
						}
						violations++
						if first == nil {
							first = fmt.Errorf("seed %d (in-flight writes %d, %d of their %d units landed): %w", seed, info.InFlight, info.InFlightLanded, info.InFlightUnits, err)
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
					} else if !backed && rec.Before.Leaks > 0 && reg.Expect == model.Safe && rec.Before.Leaks != zeroTailClusters(img) {
						// Without a backing file the bit guards every
						// allocation: clear, nothing may have leaked but
						// the zeros the image grew the file by ahead of
						// allocation (a crash leaves that tail).
						t.Errorf("seed %d: need-check clear on a crash image with %d leaked clusters (%d of them a grown tail of zeros): the bit was cleared before the metadata was stable", seed, rec.Before.Leaks, zeroTailClusters(img))
					}
					leaks += rec.Before.Leaks
					repaired += rec.LeaksRepaired
				}
				t.Logf("%d crashes: %d with need-check set, %d leaked clusters found, %d repaired after an unchecked reopen, %d violations, known issues %v",
					seeds, needCheck, leaks, repaired, violations, known)
				t.Logf("in flight at the crash: %d crashes had writes in flight as candidates (%d writes, %d units), %d crashes kept some of them (%d units landed); %d crashes came after the workload drained; %d flushes did not cover writes that completed while they were in flight",
					withInFlight, inFlightWrites, inFlightUnits, inFlightLanded, landedUnits, drained, narrow)
				if withInFlight == 0 || inFlightLanded == 0 {
					t.Errorf("vacuous: of %d crashes, %d had writes in flight as candidates and %d kept some; the crash points miss the device's in-flight writes", seeds, withInFlight, inFlightLanded)
				}
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

// zeroTailClusters returns how many whole clusters of img lie past the
// last cluster in use and read as zeros: the tail the image grew its file
// by ahead of allocation and had not used at the crash. It is 0 when any
// byte there is not zero.
func zeroTailClusters(img []byte) int {
	h, err := impl.DecodeHeader(img)
	if err != nil {
		return 0
	}
	res, err := impl.Check(impl.NewMemStorageFrom(img), false)
	if err != nil {
		return 0
	}
	cs := uint64(h.ClusterSize)
	end := (uint64(len(img)) + impl.SectorSize - 1) / impl.SectorSize * impl.SectorSize / cs * cs // QEMU's usable length
	if res.ImageEndOffset >= end {
		return 0
	}
	for _, b := range img[res.ImageEndOffset:end] {
		if b != 0 {
			return 0
		}
	}
	return int((end - res.ImageEndOffset) / uint64(h.ClusterSize))
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
// fresh image, every I/O completed in order (oldest first) until the L1
// update is in flight, then a crash that keeps only the in-flight L1
// write. The L1
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
			mem := impl.NewMemStorage()
			opts := impl.CreateOptions{ClusterSize: crashCS, TableSize: 1}
			files := impl.Files{Image: mem}
			l := &impl.CrashLedger{Backing: backed}
			var backing []byte
			if backed {
				opts.BackingFile = "b.raw"
				backing = impl.CrashBacking(crashBackingSize)
				files.Backing = impl.NewMemStorageFrom(backing)
			}
			if err := impl.Create(mem, crashSize, opts); err != nil {
				t.Fatal(err)
			}
			cs, err := impl.NewCrashStore(mem)
			if err != nil {
				t.Fatal(err)
			}
			files.Image = cs
			// The engine driven directly: every I/O completes in issue
			// order until the L1 update is the only one pending.
			eng, err := impl.NewEngine(files, impl.Options{})
			if err != nil {
				t.Fatal(err)
			}
			l.Submitted(1, 0, crashCS)
			eng.Submit(&impl.Request{Op: impl.ReqWrite, Off: 0, Buf: impl.CrashData(1, 0, crashCS)})
			pending := append([]*impl.IO(nil), eng.Ready().IOs...)
			var l1 *impl.IO
			for l1 == nil {
				if len(pending) == 0 {
					t.Fatal("no I/O pending before the L1 update")
				}
				if pending[0].Purpose == impl.PurposeL1Write {
					if len(pending) != 1 {
						t.Fatalf("%d I/Os pending with the L1 update, want it alone", len(pending))
					}
					l1 = pending[0]
					break
				}
				io := pending[0]
				pending = pending[1:]
				io.Err = impl.Perform(files, io)
				eng.Complete(io)
				pending = append(pending, eng.Ready().IOs...)
			}
			// Only the L1 update lands: the L1 sector as the engine writes it
			// holds entry 0 pointing at the new table.
			if len(l1.Buf) != impl.SectorSize || binary.LittleEndian.Uint64(l1.Buf) == 0 {
				t.Fatalf("L1 update %v does not link entry 0", l1)
			}
			entry := append([]byte(nil), l1.Buf...)
			units := cs.Units([]impl.CrashWrite{{Off: int64(l1.Off), Data: entry}}, false)
			land := make([]bool, len(units))
			land[len(land)-1] = true
			img := cs.Crash(units, land)
			rec, err := impl.RecoverCrash(img, backing, l, nil)
			t.Logf("need-check after crash %v; recovery: %v", rec.NeedCheck, err)
			if err != nil {
				t.Errorf("recovery failed (class %q): %v", impl.KnownCrashIssue(err, rec, img), err)
			}
		})
	}
}
