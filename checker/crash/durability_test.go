package crash

import (
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

// The geometry of the sim and reproducer tests: the explorer's 4 KiB
// clusters (testCS) and one-cluster tables (512 entries, 2 MiB per L2
// table), 4 MiB of guest space, so a small workload allocates data
// clusters and L2 tables both. The backing file is the explorer's too
// (backingSize, the first 16 clusters; the guest reads zeros past it).
const (
	testCS   = clusterSize
	testSize = 4 << 20
)

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
// clusters as well as allocating), then a Store over the result.
func crashSetup(t testing.TB, backed bool, policy model.Policy, l *Ledger) (impl.Files, *Store, []byte) {
	mem, files, backing := newTestImage(t, backed)
	im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	l.Backing = backed
	for k, gc := range []uint64{1, 3, 512} {
		id := uint64(1000 + k)
		off := gc * testCS
		l.Submitted(id, off, testCS)
		if _, err := im.WriteAt(Data(id, off, testCS), int64(off)); err != nil {
			t.Fatal(err)
		}
		l.Completed(id)
	}
	l.FlushCompleted(l.FlushSubmitted())
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	cs, err := NewStore(mem)
	if err != nil {
		t.Fatal(err)
	}
	files.Image = cs
	return files, cs, backing
}

// newTestImage creates an empty image of the test geometry in memory,
// with a tagged backing file (returned) when backed.
func newTestImage(t testing.TB, backed bool) (*impl.MemStorage, impl.Files, []byte) {
	var backing []byte
	if backed {
		backing = Backing(backingSize)
	}
	mem, files, err := newImage(testSize, backing)
	if err != nil {
		t.Fatal(err)
	}
	return mem, files, backing
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
	sec := uint64(rng.IntN(testCS / impl.SectorSize))
	n = uint64(1+rng.IntN(12)) * impl.SectorSize
	off = gc*testCS + sec*impl.SectorSize
	if off+n > testSize {
		n = testSize - off
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
// notes the Store's mark when a flush of the image is submitted and,
// through the sim's perform hook, arms that flush's Sync with it, so the
// flush covers exactly the writes that completed before it was submitted
// (the Backend contract), not those that completed while it was in
// flight.
type simFlushMarks struct {
	*sim.Backend
	cs    *Store
	marks map[*impl.IO]uint64
	// narrow counts flushes that left out a write completed while they
	// were in flight.
	narrow int
}

func newSimFlushMarks(be *sim.Backend, cs *Store) *simFlushMarks {
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
// (sim.Backend.InFlight), which may have reached the medium before
// completing; with tearing each sector on its own. Then it recovers.
func runCrashSim(t *testing.T, reg model.Registration, backed bool, seed uint64) ([]byte, Recovery, simCrashInfo, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	l := &Ledger{}
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
		im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: Data(id, off, n), Done: func(r *impl.Request) {
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
	var extra []Write
	for _, io := range sim.InFlight(nil) {
		if io.Op == impl.OpWrite && io.File == impl.ImageFile {
			extra = append(extra, Write{Off: int64(io.Off), Data: append([]byte(nil), io.Buf...)})
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
	rec, err := Recover(img, backing, l, reg.Policy)
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
					var v *Violation
					if errors.As(err, &v) {
						if k := knownIssueOf(err, rec, img); k != "" && !crashStrict() {
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
	// The usable length, as impl and QEMU count it: the file's length
	// rounded up to a sector, then down to a cluster.
	cs := uint64(h.ClusterSize)
	end := (uint64(len(img)) + impl.SectorSize - 1) &^ (impl.SectorSize - 1) &^ (cs - 1)
	if res.ImageEndOffset >= end {
		return 0
	}
	for _, b := range img[res.ImageEndOffset:end] {
		if b != 0 {
			return 0
		}
	}
	return int((end - res.ImageEndOffset) / cs)
}

// firstLine returns err's first line, marked when more follow.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
