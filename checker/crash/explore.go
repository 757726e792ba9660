package crash

import (
	"fmt"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Config bounds one crash exploration.
type Config struct {
	// Backing gives the image a raw 64 KiB backing file (the first 16
	// guest clusters; every workload cluster but the new-table ones).
	Backing bool
	// Torn makes each sector of a write land or be lost on its own.
	Torn bool
	// MaxUnits is the most units whose subsets are enumerated in full
	// (default 10, at most 20); beyond it a sample is tried.
	MaxUnits int
	// MaxSchedules bounds the completion orders run to the end per
	// workload (default 32).
	MaxSchedules int
	// UnorderedMeta runs the engine with snapshot table writes
	// (impl.Options.UnorderedMetadata, QEMU's scheme): every table update
	// its own write, several in flight to one sector.
	UnorderedMeta bool
	// NoReduction turns off the sleep-set reduction of completion orders
	// and the deduplication of crash states (see Explore), exploring
	// orders as they come.
	NoReduction bool
	// Classify, when set, names the known cause of violation v, found on
	// crash image img with rec what Recover found, or returns "" for a
	// violation no known cause explains. The known causes are findings
	// about code outside this package (the engine's write ordering,
	// QEMU's), so the callers that track them supply the classifier.
	Classify func(v *Violation, rec Recovery, img []byte) string
}

func (c Config) withDefaults() Config {
	if c.MaxUnits <= 0 {
		c.MaxUnits = 10
	}
	c.MaxUnits = min(c.MaxUnits, 20)
	if c.MaxSchedules <= 0 {
		c.MaxSchedules = 32
	}
	return c
}

// Explore runs every workload under reg's policy and judges every crash
// it can reach. It runs the real engine on controlled.Backend over a
// Store, and crashes it at every I/O completion boundary of every
// completion order it tries (a depth-first search over which pending
// I/O completes next, bounded by Config.MaxSchedules). At each
// boundary it builds every image the crash can leave: any subset of the
// writes not covered by a completed flush, and of the writes still in
// flight (a device may have persisted them before reporting), lands; the
// rest is lost; with Torn each 512-byte sector is its own unit. Subsets
// are enumerated in full up to MaxUnits units and sampled beyond
// (Store.Crashes). Every distinct crash image is recovered and
// judged by Recover: reopen (check and repair when need-check is
// set, as QEMU does), every write acknowledged before a completed flush
// reads back, the image checks free of corruptions (leaks counted and
// repaired), and it keeps working after new writes and a reopen.
//
// A flush covers exactly the writes that completed before it was
// submitted (the explorer arms Store.SyncLimit), as the impl.Backend
// contract says. Writes in flight together to the same bytes land in
// either order (the Backend contract again): when in-flight writes
// overlap, the crash images of every order of the overlapping ones are
// tried.
//
// Reduction. Unless Config.NoReduction is set, the search prunes in
// two ways, neither of which loses a crash image:
//
//   - Sleep sets over completion orders (the partial-order reduction the
//     implementation explorer uses, checker/explore_impl.go): after the subtree
//     that completes I/O a first has been explored, a sibling order that
//     completes b first does not complete a while only I/Os independent
//     of a have completed since, since that order reaches only states
//     the first subtree reached. Two completions are independent when
//     their footprints commute (impl.Footprint.Commutes: disjoint bytes,
//     disjoint engine state) and neither writes the image while the
//     other submits a flush, which would cover the write in one order
//     and not in the other (see independent). A sleep-set
//     search still reaches every state a full search reaches (it prunes
//     transitions, not states; Godefroid, 1996, ch. 5), so every crash
//     point's state is crashed. That state is the same for both orders as
//     far as crashes go: storage and the engine are the same by the
//     footprint contract; the Store's log holds the same writes, two
//     of them swapped, which write disjoint bytes, so every subset lands
//     the same image; a flush's coverage is a count of writes logged
//     before its submission, the same in either order; in-flight writes
//     are the same set, and their order matters only where they overlap,
//     which is why overlapping ones are tried in every order (up to six
//     of them; past that a sample, and the guarantee holds up to it, as
//     it does up to the MaxUnits sample of subsets); and the
//     ledger's promises depend only on counts of completions at each
//     submission and each flush, not on which of two adjacent
//     completions came first. The workload is the one input outside the
//     footprint contract: a completion that may finish the last open
//     request of a phase submits the next phase, which enters the engine,
//     so such a completion is given impl.EngineFootprint's conflicts too.
//     With MaxSchedules cutting the search short the reduced and the full
//     search cover different parts of the space; the guarantee is for a
//     search that runs to the end.
//   - Crash-state deduplication: a crash point whose crash state (the
//     Store's durable image, unflushed writes and in-flight writes,
//     Store.Fingerprint, and what the ledger allows and
//     promises per sector) was crashed before gives the same crash images
//     judged against the same promises, so it is counted and skipped.
//
// TestCrashReductionSound checks, on configurations small enough to run
// to the end, that both searches judge the same set of crash states.
//
// A violation Config.Classify names is counted under its class in
// Stats.Known and kept as Result.FirstKnown; every other one counts in
// Stats.Violations and the one with the shortest trace is
// Result.Shortest. An error is a failure of the harness (a workload's
// request failing, a replay diverging), not a verdict.
func Explore(reg model.Registration, workloads []Workload, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	scheme := model.Ordered
	if cfg.UnorderedMeta {
		scheme = model.Snapshot
	}
	res := &Result{Policy: reg.Name, Expect: reg.Claim(scheme), ByWorkload: map[string]Stats{}}
	for _, w := range workloads {
		x := &explorer{reg: reg, w: w, cfg: cfg, seen: map[uint64]bool{}, states: map[uint64]bool{}, res: res}
		if cfg.Backing {
			x.backing = Backing(backingSize)
		}
		if _, err := x.explore(nil, move{}, nil, nil); err != nil {
			return nil, fmt.Errorf("crash exploration %s/%s: %w", reg.Name, w.Name, err)
		}
		res.ByWorkload[w.Name] = x.stats
		res.Stats.add(x.stats)
		if res.judged == nil {
			res.judged = map[string]map[uint64]bool{}
		}
		res.judged[w.Name] = x.seen
	}
	return res, nil
}

// explorer searches one workload under one policy.
type explorer struct {
	reg     model.Registration
	w       Workload
	cfg     Config
	backing []byte
	seen    map[uint64]bool // crash images judged, with the ledger's promises
	states  map[uint64]bool // crash states crashed (reduction only)
	stats   Stats
	res     *Result
}

// explore replays schedule on a fresh run, crashes at its end in every
// way, and recurses into every pending completion not asleep. prev holds
// the IDs pending before the last completion of schedule and cand the
// sleep-set candidates for this node: those that stay asleep here unless
// that completion, as taken, conflicts with them. It reports whether the
// last completion submitted a flush.
func (x *explorer) explore(schedule []uint64, last move, prev map[uint64]bool, cand []move) (bool, error) {
	if x.stats.Schedules >= x.cfg.MaxSchedules {
		x.stats.Truncated = true
		return false, nil
	}
	r, err := x.start()
	if err != nil {
		return false, err
	}
	for _, id := range schedule {
		if err := r.complete(id, x.w); err != nil {
			return false, fmt.Errorf("replay %v: %w", schedule, err)
		}
	}
	pending := r.be.Pending()
	for _, p := range pending {
		if p.Op == impl.OpFlush && p.File == impl.ImageFile && prev != nil && !prev[p.ID] {
			last.flush = true
		}
	}
	var sleep []sleeper
	for _, c := range cand {
		if independent(last, c.sleeper, c.fp) {
			sleep = append(sleep, c.sleeper)
		}
	}
	x.stats.CrashPoints++
	if err := x.crashAll(r); err != nil {
		return false, err
	}
	if len(pending) == 0 {
		x.stats.Schedules++
		if r.open != 0 || r.phase+1 < len(x.w.Phases) {
			return false, fmt.Errorf("schedule %v: %d requests stuck with no I/O pending", schedule, r.open)
		}
		return last.flush, nil
	}
	moves := make([]move, len(pending))
	here := make(map[uint64]bool, len(pending))
	for i, p := range pending {
		moves[i] = move{sleeper{id: p.ID, write: p.Op == impl.OpWrite && p.File == impl.ImageFile}, r.footprint(p, x.w)}
		here[p.ID] = true
	}
	fp := func(id uint64) (impl.Footprint, bool) {
		for _, m := range moves {
			if m.id == id {
				return m.fp, true
			}
		}
		return impl.Footprint{}, false
	}
	var done []sleeper // siblings explored before, with what they submitted
	took := false
	for _, m := range moves {
		asleep := false
		for _, s := range sleep {
			asleep = asleep || s.id == m.id
		}
		if !x.cfg.NoReduction && asleep {
			x.stats.Pruned++
			continue
		}
		// Below m, a sleeping or explored sibling stays asleep while it is
		// independent of m; the child checks what m submitted.
		var child []move
		if !x.cfg.NoReduction {
			for _, set := range [2][]sleeper{sleep, done} {
				for _, s := range set {
					if f, ok := fp(s.id); ok && m.fp.Commutes(f) {
						child = append(child, move{s, f})
					}
				}
			}
		}
		took = true
		flushed, err := x.explore(append(schedule[:len(schedule):len(schedule)], m.id), m, here, child)
		if err != nil {
			return false, err
		}
		if !x.cfg.NoReduction {
			s := m.sleeper
			s.flush = flushed
			done = append(done, s)
		}
	}
	if !took {
		x.stats.Asleep++
	}
	return last.flush, nil
}
