package checker

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/controlled"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/shard"
)

// Environment knobs, optional:
//
//	QED_EXPLORE_HEAVY=1  also run the heavier configurations (4 requests,
//	                     no symmetry, backing files) and log their figures
func heavy(t *testing.T) {
	if os.Getenv("QED_EXPLORE_HEAVY") == "" {
		t.Skip("heavier configuration: set QED_EXPLORE_HEAVY=1")
	}
}

func mustLookup(t testing.TB, name string) model.Registration {
	t.Helper()
	reg, err := model.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func explore(t testing.TB, name string, cfg ExploreConfig) *ExploreResult {
	t.Helper()
	res, err := Explore(mustLookup(t, name), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestExploreConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ExploreConfig)
		want   string
	}{
		{"zero requests", func(c *ExploreConfig) { c.Requests = 0 }, "requests is 0, want 1 to 6"},
		{"seven requests", func(c *ExploreConfig) { c.Requests = 7 }, "requests is 7, want 1 to 6"},
		{"more sectors than fit", func(c *ExploreConfig) { c.Sectors = 16 }, "sectors per cluster is 16, want 1 to 8"},
		{"impl sectors not dividing a cluster", func(c *ExploreConfig) { c.Mode, c.Sectors = ExploreImpl, 3 }, "sectors must be 1, 2, 4 or 8, not 3"},
		{"unknown mode", func(c *ExploreConfig) { c.Mode = "sim" }, `mode "sim", want model or impl`},
		{"negative limit", func(c *ExploreConfig) { c.MaxStates = -1 }, "state limit -1 is negative"},
		{"replay in model mode", func(c *ExploreConfig) { c.Replay = "w0/s" }, "replayed only in impl mode"},
		{"shard beyond N", func(c *ExploreConfig) { c.Shard = shard.Spec{K: 4, N: 3} }, "shard 4/3: want 1 <= K <= N"},
		{"shard 0", func(c *ExploreConfig) { c.Shard = shard.Spec{K: 0, N: 3} }, "shard 0/3"},
		{"sharded replay", func(c *ExploreConfig) { c.Mode, c.Replay, c.Shard = ExploreImpl, "w0/s", shard.Spec{K: 1, N: 2} }, "cannot be sharded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := StandardExploreConfig(ExploreModel)
			tc.mutate(&cfg)
			_, err := Explore(mustLookup(t, "serial"), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Explore: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestBoundsAreIncomplete: a search stopped by a bound is Incomplete,
// never Holds, in both modes.
func TestBoundsAreIncomplete(t *testing.T) {
	tests := []struct {
		name   string
		mode   ExploreMode
		mutate func(*ExploreConfig)
		reason string
	}{
		{"model state limit", ExploreModel, func(c *ExploreConfig) { c.MaxStates = 100 }, "state limit 100 reached"},
		{"model depth bound", ExploreModel, func(c *ExploreConfig) { c.MaxDepth = 3 }, "depth bound 3 reached"},
		{"impl state limit", ExploreImpl, func(c *ExploreConfig) { c.MaxStates = 50 }, "state limit 50 reached"},
		{"impl depth bound", ExploreImpl, func(c *ExploreConfig) { c.MaxDepth = 3 }, "depth bound 3 reached"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := StandardExploreConfig(tc.mode)
			tc.mutate(&cfg)
			res := explore(t, "serial", cfg)
			if res.Verdict != Incomplete || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("verdict %v (%s), want incomplete (%s)", res.Verdict, res.Reason, tc.reason)
			}
		})
	}
}

// TestWorkersAgree: expanding levels with several goroutines finds the
// same states and the same shortest trace as one.
func TestWorkersAgree(t *testing.T) {
	for _, name := range []string{"freeze-l2", "overlap"} {
		cfg := StandardExploreConfig(ExploreModel)
		one := explore(t, name, cfg)
		cfg.Workers = 2
		two := explore(t, name, cfg)
		if one.States != two.States || one.Transitions != two.Transitions || one.Verdict != two.Verdict || one.Facts != two.Facts {
			t.Errorf("%s: 1 worker: %v, %d states, %d transitions, %+v; 2 workers: %v, %d, %d, %+v",
				name, one.Verdict, one.States, one.Transitions, one.Facts, two.Verdict, two.States, two.Transitions, two.Facts)
		}
		if one.Violation != nil && strings.Join(one.Violation.Trace, "\n") != strings.Join(two.Violation.Trace, "\n") {
			t.Errorf("%s: traces differ with 2 workers", name)
		}
	}
}

// TestSymmetryAgrees: the verdicts and shortest counterexample lengths do
// not depend on the symmetry reduction, which only shrinks the space.
func TestSymmetryAgrees(t *testing.T) {
	cfg := ExploreConfig{Mode: ExploreModel, Requests: 3, L1Entries: 1, Clusters: 2, Sectors: 2, Reopen: true}
	for _, reg := range model.Registered() {
		sym, err := Explore(reg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.NoSymmetry = true
		full, err := Explore(reg, c)
		if err != nil {
			t.Fatal(err)
		}
		if sym.Verdict != full.Verdict || sym.Facts != full.Facts {
			t.Errorf("%s: with symmetry %v %+v, without %v %+v", reg.Name, sym.Verdict, sym.Facts, full.Verdict, full.Facts)
		}
		if sym.Violation != nil && full.Violation != nil && sym.Violation.Steps != full.Violation.Steps {
			t.Errorf("%s: shortest trace %d steps with symmetry, %d without", reg.Name, sym.Violation.Steps, full.Violation.Steps)
		}
		if sym.Verdict == Holds && sym.States >= full.States {
			t.Errorf("%s: symmetry reduction did not reduce: %d states against %d", reg.Name, sym.States, full.States)
		}
		t.Logf("%s: %v, %d states with symmetry, %d without", reg.Name, sym.Verdict, sym.States, full.States)
	}
}

// TestExploreUnorderedMetadata: without the ordered metadata writer, two
// writes of one table sector may land out of order, and the explorer
// finds that a reopen then loses data, for every policy that lets two
// table updates overlap; the policies that never do still hold. The
// model is explored for every policy; the engine (opened with
// impl.Options.UnorderedMetadata) for overlap, the policy the ordering
// makes safe (the other policies agree too, at a few seconds each under
// -race).
//
// In this configuration (two clusters per L2 table) the race found is on
// the L1 table: two requests create the tables of L1[0] and L1[1] at
// once and their writes of the one L1 sector land newer first. Two
// updates of one L2 table cannot be in flight together here: the table
// must exist first, which takes one of the table's two clusters, and
// overlap serializes allocations of the other. TestExploreUnorderedL2Race
// shows the L2 race on a table of three clusters.
func TestExploreUnorderedMetadata(t *testing.T) {
	want := map[string]Outcome{"serial": Holds, "freeze-any": Holds, "freeze-l2": Violated, "per-table": Violated, "overlap": Violated}
	for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
		cfg := StandardExploreConfig(mode)
		cfg.UnorderedMeta = true
		for _, reg := range model.Registered() {
			w, ok := want[reg.Name]
			if !ok {
				continue // a policy added later: no expectation here
			}
			if mode == ExploreImpl && reg.Name != "overlap" {
				continue // time: the engine is explored for overlap alone
			}
			res, err := Explore(reg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != w {
				t.Errorf("%s, %s mode, with unordered metadata writes: %v, want %v", reg.Name, mode, res.Verdict, w)
			}
			if reg.Name == "overlap" && res.Violation != nil {
				if res.Violation.Invariant != "reopen-content" {
					t.Errorf("overlap, %s mode: %s, want reopen-content", mode, res.Violation.Invariant)
				}
				t.Logf("overlap without the ordered writer: %s: %s\n%s", cell(res),
					res.Violation.Message, strings.Join(res.Violation.Trace, "\n"))
			}
		}
	}
}

// TestExploreUnorderedL2Race: two allocating writes under one existing L2 table
// run in parallel under overlap, and without the ordered metadata writer
// their writes of the one L2 table sector land newer first, so a reopen
// loses an entry; both modes find it, in the same number of steps. With
// the ordered writer overlap holds in this configuration.
func TestExploreUnorderedL2Race(t *testing.T) {
	// One L2 table of three clusters: request 1 creates it, requests 2
	// and 3 are frozen until it exists, then allocate clusters 1 and 2.
	base := ExploreConfig{Requests: 3, L1Entries: 1, Clusters: 3, Sectors: 1, Reopen: true}
	steps := map[ExploreMode]int{}
	for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
		cfg := base
		cfg.Mode = mode
		if res := explore(t, "overlap", cfg); res.Verdict != Holds {
			t.Errorf("overlap, %s mode, ordered writer: %v, want holds", mode, res.Verdict)
		}
		cfg.UnorderedMeta = true
		res := explore(t, "overlap", cfg)
		if res.Verdict != Violated || res.Violation.Invariant != "reopen-content" {
			t.Fatalf("overlap, %s mode, unordered writer: %v, want reopen-content violated", mode, res.Verdict)
		}
		v := res.Violation
		steps[mode] = v.Steps
		// Both L2 sector writes land, from two requests.
		landed := map[string]bool{}
		for _, l := range v.Trace {
			var i int
			if mode == ExploreImpl {
				if _, err := fmt.Sscanf(l[strings.Index(l, ".")+1:], " io %d completes: request %d's write of the L2 table sector", new(int), &i); err == nil {
					landed[fmt.Sprint(i)] = true
				}
			} else if _, err := fmt.Sscanf(l[strings.Index(l, ".")+1:], " request %d's write of the L2 table sector", &i); err == nil {
				landed[fmt.Sprint(i)] = true
			}
		}
		if len(landed) != 2 {
			t.Errorf("overlap, %s mode: the counterexample is not two requests' writes of one L2 table sector:\n%s", mode, strings.Join(v.Trace, "\n"))
		}
		t.Logf("overlap, %s mode, without the ordered writer: %s\n%s", mode, v.Message, strings.Join(v.Trace, "\n"))
	}
	// The engine flushes the need-check bit before it allocates, an I/O
	// the protocol model folds into the header write, and grows the file
	// before the first allocation, which the model does not model: two
	// steps more.
	if steps[ExploreModel]+2 != steps[ExploreImpl] {
		t.Errorf("shortest counterexample: %d steps in the model, %d in the engine; want the engine two longer (the need-check flush, the file's growth)", steps[ExploreModel], steps[ExploreImpl])
	}
}

// TestDeterminismGate replays one schedule twice: the trace hashes (every
// I/O issued and completed, and the history) must be equal; another
// schedule of the same workload must hash differently.
func TestDeterminismGate(t *testing.T) {
	cfg := StandardExploreConfig(ExploreImpl)
	schedules := []string{
		"w0,w2,w3/s s s c1 c2 c3 c4 c5 c6 c7 c8",
		"w0,w2,w3/s s s c1 c2 c3 c4 c5 c6 c8 c7",
	}
	var hashes []uint64
	for _, sch := range schedules {
		cfg.Replay = sch
		a := explore(t, "freeze-l2", cfg)
		b := explore(t, "freeze-l2", cfg)
		if a.TraceHash != b.TraceHash {
			t.Fatalf("schedule %q: trace hashes %x and %x differ", sch, a.TraceHash, b.TraceHash)
		}
		if strings.Join(a.Trace, "\n") != strings.Join(b.Trace, "\n") {
			t.Fatalf("schedule %q: traces differ", sch)
		}
		if a.Verdict != Violated {
			t.Errorf("schedule %q: %v, want the lost update", sch, a.Verdict)
		}
		hashes = append(hashes, a.TraceHash)
	}
	if hashes[0] == hashes[1] {
		t.Fatal("two different schedules have the same trace hash")
	}
}

func TestReplayErrors(t *testing.T) {
	tests := []struct{ schedule, want string }{
		{"s s s", "want WORKLOAD/MOVES"},
		{"w0,w2/s s", "has 2 requests, the configuration 3"},
		{"w0,w2,x3/s", `workload op "x3"`},
		{"w0,w2,w99/s", "sector must be 0 to 7"},
		{"w0,w2,w3/s q", `move "q"`},
		{"w0,w2,w3/s c99", "no such I/O is pending"},
		{"w0,w2,w3/s s s", "ends before every request is submitted and every I/O completed"},
	}
	for _, tc := range tests {
		cfg := StandardExploreConfig(ExploreImpl)
		cfg.Replay = tc.schedule
		_, err := Explore(mustLookup(t, "freeze-l2"), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("replay %q: %v, want an error containing %q", tc.schedule, err, tc.want)
		}
	}
}

// TestReductionPreservesEndStates explores workloads with and without
// the partial-order reduction: the reduced search must reach every end
// state (image bytes and engine tables) and find the same verdict. With
// the unordered metadata writer two writes of one table sector are in
// flight at once (the L1 sector when two tables are created, an L2
// sector when two clusters of one table are allocated): their
// footprints must not commute, or the reduction would skip the order
// that loses an update.
func TestReductionPreservesEndStates(t *testing.T) {
	w := func(s int) model.WorkloadOp { return model.WorkloadOp{Write: true, Sector: s} }
	std := StandardExploreConfig(ExploreImpl)
	twoTables := []model.WorkloadOp{w(0), w(4), w(6)}
	standard := [][]model.WorkloadOp{
		twoTables,
		{w(0), w(2), w(3)}, // one cluster
		{w(0), {Write: false, Sector: 0}, w(1)},
	}
	oneTable := std // one table of three clusters, one sector each
	oneTable.L1Entries, oneTable.Clusters, oneTable.Sectors = 1, 3, 1
	for _, tc := range []struct {
		name      string
		cfg       ExploreConfig
		unordered bool
		workloads [][]model.WorkloadOp
	}{
		{"overlap", std, false, standard},
		{"per-table", std, false, standard},
		{"freeze-l2", std, false, standard},
		{"overlap", std, true, [][]model.WorkloadOp{twoTables}},
		{"overlap", oneTable, true, [][]model.WorkloadOp{{w(0), w(1), w(2)}}},
	} {
		name := tc.name
		if tc.unordered {
			name += fmt.Sprintf(" (unordered metadata, %d L1 x %d clusters)", tc.cfg.L1Entries, tc.cfg.Clusters)
		}
		ends := [2]map[uint64]bool{{}, {}}
		var paths [2]int64
		for i, noRed := range []bool{false, true} {
			c := tc.cfg
			c.NoReduction, c.UnorderedMeta = noRed, tc.unordered
			x := newImplExplorer(mustLookup(t, tc.name), c)
			x.exhaustive = true // compare every end state, not only those above a violation
			x.onEnd = func(r *implRun) {
				buf, _ := r.store.Size()
				b := make([]byte, buf)
				r.store.ReadAt(b, 0)
				ends[i][controlled.HashBytes(b)^r.be.EngineHash()] = true
			}
			for _, wl := range tc.workloads {
				if err := x.search(wl); err != nil {
					t.Fatal(err)
				}
			}
			paths[i] = x.res.Paths
			if tc.unordered && x.best == nil {
				t.Errorf("%s, reduction %v: the lost table update is not found", name, !noRed)
			}
		}
		for k := range ends[1] {
			if !ends[0][k] {
				t.Errorf("%s: the reduced search misses an end state the full search reaches", name)
				break
			}
		}
		if len(ends[0]) != len(ends[1]) {
			t.Errorf("%s: %d end states reduced, %d full", name, len(ends[0]), len(ends[1]))
		}
		if paths[0] >= paths[1] {
			t.Errorf("%s: the reduction saved nothing: %d orders against %d", name, paths[0], paths[1])
		}
		t.Logf("%s: %d orders with the reduction, %d without; %d distinct end states", name, paths[0], paths[1], len(ends[1]))
	}
}

// TestHeavyConfigurations runs larger spaces and logs their figures.
func TestHeavyConfigurations(t *testing.T) {
	heavy(t)
	cfgs := []ExploreConfig{
		{Mode: ExploreModel, Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true},
		{Mode: ExploreModel, Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true, NoSymmetry: true},
		{Mode: ExploreImpl, Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true},
	}
	for _, cfg := range cfgs {
		for _, reg := range model.Registered() {
			res, err := Explore(reg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s | %s: %v, %d states, %d transitions, %d orders, %d pruned, depth %d, %s, %.1fM states/min",
				cfg, reg.Name, res.Verdict, res.States, res.Transitions, res.Paths, res.Pruned, res.Depth, fmtDuration(res.Elapsed), res.StatesPerMinute()/1e6)
			if (reg.Expect == model.Safe) != (res.Verdict == Holds) {
				t.Errorf("%s declares %s but %s", reg.Name, reg.Expect, res.Verdict)
			}
		}
	}
}

// TestExploreLeaksViolation: with leaks as violations, both modes find
// freeze-l2's leaked cluster, and the policies that claim safety hold
// (the engine's space grown ahead is cut by the clean close, not
// leaked).
func TestExploreLeaksViolation(t *testing.T) {
	for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
		for _, tc := range []struct {
			policy string
			want   Outcome
		}{{"freeze-l2", Violated}, {"overlap", Holds}} {
			t.Run(fmt.Sprintf("mode=%s/policy=%s", mode, tc.policy), func(t *testing.T) {
				reg, err := model.Lookup(tc.policy)
				if err != nil {
					t.Fatal(err)
				}
				cfg := StandardExploreConfig(mode)
				cfg.LeaksViolation = true
				res, err := Explore(reg, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if res.Verdict != tc.want {
					t.Fatalf("%s: %v, want %v", tc.policy, res.Verdict, tc.want)
				}
				if tc.want == Violated && res.Violation.Invariant != "leak" {
					t.Errorf("violation %q, want leak: %s", res.Violation.Invariant, res.Violation.Message)
				}
			})
		}
	}
}

// TestExploreStartStates: from an existing L2 table (two writers and a
// reader) and from preallocated clusters (any three requests), both
// modes confirm each policy's claim. (From preallocated clusters two
// writers and a reader cannot break freeze-l2: both modes agree on that
// too.)
func TestExploreStartStates(t *testing.T) {
	for _, start := range []string{model.StartTable, model.StartPrealloc} {
		for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
			for _, tc := range []struct {
				policy string
				want   Outcome
			}{{"freeze-l2", Violated}, {"overlap", Holds}} {
				t.Run(fmt.Sprintf("start=%s/mode=%s/policy=%s", start, mode, tc.policy), func(t *testing.T) {
					if propRace && mode == ExploreImpl && start == model.StartPrealloc {
						t.Skip("seconds of engine runs, ten times that under the race detector: the plain build runs it")
					}
					reg, err := model.Lookup(tc.policy)
					if err != nil {
						t.Fatal(err)
					}
					cfg := StandardExploreConfig(mode)
					cfg.Start = start
					if start == model.StartTable {
						cfg.Ops = "wwr"
					}
					res, err := Explore(reg, cfg)
					if err != nil {
						t.Fatal(err)
					}
					if res.Verdict != tc.want {
						t.Fatalf("%s from %s: %v, want %v", tc.policy, cfg.Name(), res.Verdict, tc.want)
					}
					if tc.want == Holds && res.Facts.MaxAllocInFlight < 2 {
						t.Errorf("%s: never two allocating writes in flight", cfg.Name())
					}
				})
			}
		}
	}
}

// TestExploreFlushes: flushes in the request mix, between writes, in
// both explorers: every policy's verdict is its claim (a flush that clears
// the need-check bit under an allocating write would be a violation), and
// the model reaches the clearing.
func TestExploreFlushes(t *testing.T) {
	for _, tc := range []struct {
		config string
		mode   ExploreMode
	}{
		{"w2f1w1-2x2x2", ExploreModel},
		{"w1f1w1-1x2x2", ExploreImpl},
		{"f1w2f1-1x2x1-snapshot", ExploreModel},
		{"f1w2f1-1x2x1-snapshot", ExploreImpl},
	} {
		for _, reg := range model.Registered() {
			t.Run(fmt.Sprintf("config=%s/mode=%s/policy=%s", tc.config, tc.mode, reg.Name), func(t *testing.T) {
				cfg, err := ParseExploreName(tc.config, StandardExploreConfig(tc.mode))
				if err != nil {
					t.Fatal(err)
				}
				res, err := Explore(reg, cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := Holds
				if res.Expect == model.Unsafe {
					// An unsafe claim need not show in every small
					// configuration; a safe one must hold in each.
					want = res.Verdict
				}
				if res.Verdict != want {
					msg := ""
					if res.Violation != nil {
						msg = res.Violation.Message + "\n" + strings.Join(res.Violation.Trace, "\n")
					}
					t.Errorf("%v, want %v: %s", res.Verdict, want, msg)
				}
			})
		}
	}
}

// TestExploreStateCounts pins the size of fixed explorations: the search
// is deterministic, so a change of a count is a change of the model, the
// engine or the reduction, to be made on purpose (update the table).
func TestExploreStateCounts(t *testing.T) {
	for _, tc := range []struct {
		config string
		mode   ExploreMode
		policy string
		states int64
		trans  int64 // model mode only
	}{
		{"n3-2x2x2", ExploreModel, "serial", 1727, 2762},
		{"n3-2x2x2", ExploreModel, "freeze-any", 2168, 3547},
		{"n3-2x2x2", ExploreModel, "per-table", 2567, 4410},
		{"n3-2x2x2", ExploreModel, "overlap", 2734, 4766},
		{"n3-2x2x2-snapshot", ExploreModel, "freeze-any", 2168, 3547},
		{"w2r1-2x2x2-table", ExploreModel, "overlap", 1095, 2036},
		{"n3-2x2x2-prealloc-backing", ExploreModel, "overlap", 8282, 15872},
		{"w2f1w1-2x2x2", ExploreModel, "overlap", 1719, 3940},
		{"n3-2x2x2-nosym", ExploreModel, "overlap", 123489, 217048},
		{"n3-2x2x2-nosym", ExploreModel, "freeze-any", 50065, 82776},
		{"n3-2x2x2", ExploreImpl, "freeze-any", 20686, 0},
		{"w1f1w1-1x2x2", ExploreImpl, "overlap", 2167, 0},
		{"w2r1-2x2x2-table", ExploreImpl, "overlap", 17613, 0},
		// Write-zeroes (TestExploreWriteZeroes).
		{"w1z1r1-2x2x1-table-backing", ExploreModel, "overlap", 673, 1262},
		{"w1z1r1-2x2x2-backing", ExploreModel, "per-table", 1071, 2298},
		{"z1w1-2x2x1-table-backing", ExploreImpl, "overlap", 200, 0},
		{"w1z1r1-2x2x1-table-backing", ExploreImpl, "overlap", 8408, 0},
	} {
		t.Run(fmt.Sprintf("config=%s/mode=%s/policy=%s", tc.config, tc.mode, tc.policy), func(t *testing.T) {
			if propRace && tc.mode == ExploreImpl {
				t.Skip("engine runs under the race detector: the plain build pins them")
			}
			cfg, err := ParseExploreName(tc.config, StandardExploreConfig(tc.mode))
			if err != nil {
				t.Fatal(err)
			}
			reg, err := model.Lookup(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Explore(reg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.States != tc.states || (tc.trans > 0 && res.Transitions != tc.trans) {
				t.Errorf("%d states, %d transitions; want %d and %d", res.States, res.Transitions, tc.states, tc.trans)
			}
			if res.Verdict != Holds {
				t.Errorf("verdict %v, want holds", res.Verdict)
			}
		})
	}
}

// TestModelTraceEvents: a model-mode counterexample comes as data too,
// for its sequence diagram: every request of its workload submitted once, every I/O
// completed after it was issued, on the lane of the request that issued
// it, and the events tell the same story as the printed trace.
func TestModelTraceEvents(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		snapshot bool
	}{
		{"freeze-l2", false},
		{"overlap", true},
		{"per-table", true},
	} {
		cfg := StandardExploreConfig(ExploreModel)
		cfg.UnorderedMeta = tc.snapshot
		res := explore(t, tc.policy, cfg)
		if res.Violation == nil {
			t.Fatalf("%s, snapshot %v: no violation", tc.policy, tc.snapshot)
		}
		v := res.Violation
		issuer := map[uint64]int{}
		submits, lines := 0, 0
		for i, e := range v.Events {
			switch e.Kind {
			case "submit":
				submits++
			case "issue":
				if _, dup := issuer[e.IO]; dup || e.IO == 0 {
					t.Errorf("%s: event %d issues io %d again", tc.policy, i+1, e.IO)
				}
				issuer[e.IO] = e.Req
			case "complete":
				req, ok := issuer[e.IO]
				if !ok || req != e.Req {
					t.Errorf("%s: event %d completes io %d (request %d), issued: %v by request %d", tc.policy, i+1, e.IO, e.Req, ok, req)
				}
			}
			if e.Text == "" {
				t.Errorf("%s: event %d has no words", tc.policy, i+1)
			}
		}
		for _, l := range v.Trace {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if submits != len(v.Workload) || lines != len(v.Events) {
			t.Errorf("%s: %d submits, %d events for %d trace lines; want %d submits and one event per line", tc.policy, submits, len(v.Events), lines, len(v.Workload))
		}
	}
}
