package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// wakeRun is what one seeded sim run of runWakeWorkload produced.
type wakeRun struct {
	trace []string // per request in completion order: id, op, times
	stats impl.Stats
	end   int64 // virtual nanoseconds
}

// runWakeWorkload runs ops random requests at queue depth qd on the sim
// backend: 4 KiB writes to 4 KiB clusters, each cluster written at most
// once (first-touch, so no two writes share a cluster), mixed with reads
// and flushes. The image is small enough that every L2 table stays
// cached, so a lookup never issues I/O.
func runWakeWorkload(t *testing.T, policy model.Policy, wakeAll bool, qd, ops int) wakeRun {
	t.Helper()
	const (
		cs   = 4096
		size = 32 << 20
	)
	files := impl.Files{Image: impl.NewMemStorage()}
	if err := impl.Create(files.Image, size, impl.CreateOptions{ClusterSize: cs, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	dev, err := Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(files, dev, 7)
	if err != nil {
		t.Fatal(err)
	}
	im, err := impl.Open(files, sim, impl.Options{Policy: policy, Clock: sim.Now, WakeAll: wakeAll, L2CacheTables: 64})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	order := rng.Perm(size / cs)
	var run wakeRun
	submitted, writes := 0, 0
	var next func()
	done := func(r *impl.Request) {
		if r.Err != nil {
			t.Errorf("request %d: %v", r.ID, r.Err)
		}
		run.trace = append(run.trace, fmt.Sprintf("%d %s @%d submit %d done %d frozen %d", r.ID, r.Op, r.Off, r.SubmitNanos, r.DoneNanos, r.FrozenNanos))
		next()
	}
	next = func() {
		if submitted == ops {
			return
		}
		r := &impl.Request{Done: done}
		switch p := rng.IntN(100); {
		case p < 3:
			r.Op = impl.ReqFlush
		case p < 25:
			r.Op = impl.ReqRead
			r.Off, r.Buf = uint64(rng.IntN(size/cs))*cs, make([]byte, cs)
		default:
			r.Op = impl.ReqWrite
			r.Off, r.Buf = uint64(order[writes])*cs, make([]byte, cs)
			writes++
		}
		submitted++
		im.Submit(r)
	}
	for range qd {
		next()
	}
	im.Run()
	run.stats, run.end = im.Stats(), sim.Now()
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestWakeSchemesAgree runs the policies whose frozen requests can only
// be released by their blocker's completion with frozen requests parked on
// the request the policy names (the default) and with every frozen request
// reconsidered after every completion (Options.WakeAll). When no two
// writes share a cluster and every table is cached, waking fewer requests
// must not change a single admission: same completion order and times,
// same figures, fewer restarts.
//
// The other policies let a request waiting for a new L2 table proceed as
// an allocation under it once the table is linked, before the request that
// made it completes: with WakeAll that happens at the next unrelated
// completion, parked it happens when the table's maker completes, as a
// qcow2 request waits for the allocation it depends on to finish.
func TestWakeSchemesAgree(t *testing.T) {
	for _, name := range []string{"serial", "freeze-any"} {
		reg, err := model.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("policy="+reg.Name, func(t *testing.T) {
			parked := runWakeWorkload(t, reg.Policy, false, 32, 3000)
			all := runWakeWorkload(t, reg.Policy, true, 32, 3000)
			if len(parked.trace) != len(all.trace) {
				t.Fatalf("%d completions parked, %d with WakeAll", len(parked.trace), len(all.trace))
			}
			for i := range parked.trace {
				if parked.trace[i] != all.trace[i] {
					t.Fatalf("completion %d differs:\n  parked:   %s\n  wake all: %s", i, parked.trace[i], all.trace[i])
				}
			}
			a, b := parked.stats, all.stats
			a.Restarts, b.Restarts = 0, 0
			if a != b || parked.end != all.end {
				t.Fatalf("figures differ:\n  parked:   %+v end %d\n  wake all: %+v end %d", a, parked.end, b, all.end)
			}
			t.Logf("freezes %d; restarts: parked %d, wake all %d", a.Freezes, parked.stats.Restarts, all.stats.Restarts)
			if parked.stats.Restarts > all.stats.Restarts {
				t.Errorf("parking woke more (%d) than waking all (%d)", parked.stats.Restarts, all.stats.Restarts)
			}
			if a.Freezes == 0 {
				t.Errorf("nothing froze: the comparison checked nothing")
			}
		})
	}
}

// TestWakeCost pins the engine's cost of freezing, a deterministic figure:
// under freeze-any at queue depth 32 almost every allocating write waits,
// and waking all of them at every completion costs a lookup per frozen
// request per completion (QED's queue would wake one). Parked on the
// allocating write in flight and handed on to the next, a frozen request
// is looked up about once per freeze.
func TestWakeCost(t *testing.T) {
	const ops = 3000
	parked := runWakeWorkload(t, model.FreezeAny{}, false, 32, ops)
	all := runWakeWorkload(t, model.FreezeAny{}, true, 32, ops)
	perAlloc := func(s impl.Stats) float64 { return float64(s.Restarts) / float64(s.AllocatingWrites) }
	t.Logf("restarts per allocating write: parked %.2f, wake all %.2f (freezes %d, allocating writes %d)",
		perAlloc(parked.stats), perAlloc(all.stats), parked.stats.Freezes, parked.stats.AllocatingWrites)
	if p := perAlloc(parked.stats); p > 2 {
		t.Errorf("parked: %.2f restarts per allocating write, want at most 2", p)
	}
	if p := perAlloc(all.stats); p < 10 {
		t.Errorf("wake all: %.2f restarts per allocating write; the workload no longer queues many writes (want at least 10)", p)
	}
}
