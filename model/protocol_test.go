package model

import (
	"slices"
	"strings"
	"testing"
)

func stdConfig() ProtocolConfig {
	return ProtocolConfig{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Reopen: true}
}

func TestProtocolConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*ProtocolConfig)
		wantErr string
	}{
		{"standard", func(*ProtocolConfig) {}, ""},
		{"zero requests", func(c *ProtocolConfig) { c.Requests = 0 }, "requests is 0, want 1 to 6"},
		{"seven requests", func(c *ProtocolConfig) { c.Requests = 7 }, "requests is 7"},
		{"too many sectors", func(c *ProtocolConfig) { c.Sectors = 9 }, "sectors per cluster is 9, want 1 to 8"},
		{"no L1", func(c *ProtocolConfig) { c.L1Entries = 0 }, "L1 entries is 0"},
		{"too many clusters", func(c *ProtocolConfig) { c.Clusters = 99 }, "clusters per table is 99"},
		{"write-zeroes in the mix", func(c *ProtocolConfig) { c.Ops = "wzr" }, ""},
		{"unknown op in the mix", func(c *ProtocolConfig) { c.Ops = "wxr" }, `request mix "wxr": want only r (read), w (write), z (write-zeroes) and f (flush)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := stdConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := NewProtocol(c, Serial{}); err != nil {
					t.Fatalf("NewProtocol: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
			if _, err := NewProtocol(c, Serial{}); err == nil {
				t.Fatal("NewProtocol accepted an invalid configuration")
			}
		})
	}
	if _, err := NewProtocol(stdConfig(), nil); err == nil {
		t.Error("NewProtocol accepted a nil policy")
	}
}

// reach explores up to limit canonical states of p breadth first and
// calls visit on each (the explorer proper lives in checker/).
func reach(t *testing.T, p *Protocol, limit int, visit func(s *ProtocolState, out Outcome)) {
	t.Helper()
	seen := map[ProtocolState]bool{}
	s0 := p.Initial()
	queue := []ProtocolState{s0}
	seen[s0] = true
	for len(queue) > 0 && len(seen) < limit {
		s := queue[0]
		queue = queue[1:]
		for _, m := range p.Moves(&s, nil) {
			n := s
			out := p.Apply(&n, m, nil)
			p.Canonicalize(&n)
			visit(&n, out)
			if out.Violation == nil && !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
}

// TestPackRoundTrip packs and unpacks reachable states of several
// configurations: a canonical state must come back unchanged, from
// Unpack and from UnpackDelta given the state visited before.
func TestPackRoundTrip(t *testing.T) {
	configs := []ProtocolConfig{
		stdConfig(),
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true},
		{Requests: 2, L1Entries: 3, Clusters: 3, Sectors: 1, UnorderedMeta: true, Reopen: true},
		{Requests: 3, L1Entries: 8, Clusters: 8, Sectors: 8, NoSymmetry: true},
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Reopen: true, Ops: "wfwf"},
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 1, Backing: true, Reopen: true, Ops: "zwzr"},
		{Requests: 3, L1Entries: 2, Clusters: 3, Sectors: 1, Backing: true, Reopen: true, UnorderedMeta: true, Ops: "zzw", Start: StartTable},
	}
	for _, c := range configs {
		t.Run(c.String(), func(t *testing.T) {
			p, err := NewProtocol(c, Overlap{})
			if err != nil {
				t.Fatal(err)
			}
			words := make([]uint64, p.Words())
			prev := make([]uint64, p.Words())
			var delta ProtocolState // Unpack(prev), then each state in turn
			p.Pack(&delta, prev)
			n := 0
			reach(t, p, 3000, func(s *ProtocolState, _ Outcome) {
				n++
				p.Pack(s, words)
				var back ProtocolState
				p.Unpack(words, &back)
				if back != *s {
					t.Fatalf("state %d: Unpack(Pack(s)) differs from s:\n%+v\n%+v", n, *s, back)
				}
				p.UnpackDelta(words, prev, &delta)
				if delta != *s {
					t.Fatalf("state %d: UnpackDelta differs from s:\n%+v\n%+v", n, *s, delta)
				}
				copy(prev, words)
			})
			if n < 100 {
				t.Fatalf("only %d states reached", n)
			}
		})
	}
}

// TestPackDelta packs the successors of reachable states of several
// configurations both ways: PackDelta from the parent's packed form must
// give exactly what Pack gives.
func TestPackDelta(t *testing.T) {
	configs := []ProtocolConfig{
		stdConfig(),
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true},
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Reopen: true, NoSymmetry: true},
		{Requests: 2, L1Entries: 3, Clusters: 3, Sectors: 1, UnorderedMeta: true, Reopen: true},
		{Requests: 3, L1Entries: 2, Clusters: 8, Sectors: 2, NoSymmetry: true},
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Reopen: true, Ops: "wfwf", Start: StartPrealloc},
		{Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 1, Backing: true, Reopen: true, Ops: "zwzf"},
		{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 1, Backing: true, NoSymmetry: true, Ops: "zwz"},
	}
	for _, c := range configs {
		t.Run(c.String(), func(t *testing.T) {
			p, err := NewProtocol(c, Overlap{})
			if err != nil {
				t.Fatal(err)
			}
			key := make([]uint64, p.Words())
			want := make([]uint64, p.Words())
			got := make([]uint64, p.Words())
			n := 0
			reach(t, p, 3000, func(s *ProtocolState, _ Outcome) {
				p.Pack(s, key)
				var base ProtocolState
				p.Unpack(key, &base)
				for _, m := range p.Moves(&base, nil) {
					next := base
					p.Apply(&next, m, nil)
					p.Canonicalize(&next)
					p.Pack(&next, want)
					for i := range got {
						got[i] = ^uint64(0) // PackDelta must write every word
					}
					p.PackDelta(&next, &base, key, got)
					if !slices.Equal(got, want) {
						t.Fatalf("state %d, %+v: PackDelta gives %x, Pack %x", n, m, got, want)
					}
					n++
				}
			})
			if n < 100 {
				t.Fatalf("only %d successors packed", n)
			}
		})
	}
}

// TestCanonicalizeRenaming reaches one state twice with the clusters
// allocated in a different order: the states differ, their canonical
// forms do not.
func TestCanonicalizeRenaming(t *testing.T) {
	c := ProtocolConfig{Requests: 2, L1Entries: 2, Clusters: 1, Sectors: 1, Backing: true}
	p, err := NewProtocol(c, Overlap{})
	if err != nil {
		t.Fatal(err)
	}
	sub := func(r uint8, sec uint16) Move { return Move{Kind: MoveSubmit, Req: r, Write: true, Sector: sec} }
	io := func(r uint8) Move { return Move{Kind: MoveIO, Req: r} }
	// A: request 1 allocates its data cluster and its L2 table before
	// request 2 allocates; B: request 2 allocates in between.
	runA := []Move{sub(0, 0), io(0), io(0), sub(1, 1)}
	runB := []Move{sub(0, 0), sub(1, 1), io(0), io(0)}
	var states [2]ProtocolState
	for i, run := range [][]Move{runA, runB} {
		s := p.Initial()
		for _, m := range run {
			if out := p.Apply(&s, m, nil); out.Violation != nil {
				t.Fatalf("run %d: %v", i, out.Violation)
			}
		}
		states[i] = s
	}
	if states[0] == states[1] {
		t.Fatal("the two runs reached identical concrete states; the test needs them to differ by renaming")
	}
	p.Canonicalize(&states[0])
	p.Canonicalize(&states[1])
	if states[0] != states[1] {
		t.Fatalf("canonical forms differ:\n%+v\n%+v", states[0], states[1])
	}
}

// TestPolicyOrderInsensitive holds every registered policy to what the
// protocol model assumes: Decide does not depend on the order of the
// in-flight accesses (the model passes them in request order, the engine
// in admission order).
func TestPolicyOrderInsensitive(t *testing.T) {
	accs := smallAccesses()
	for _, reg := range Registered() {
		for _, a := range accs {
			a.Req = 1
			for _, b := range accs {
				b.Req = 2
				for _, c := range accs {
					c.Req = 3
					d1 := reg.Policy.Decide(a, []Access{b, c})
					if d2 := reg.Policy.Decide(a, []Access{c, b}); d1 != d2 {
						t.Fatalf("%s: Decide(%v, [%v, %v]) = %v but with the in-flight accesses swapped %v", reg.Name, a, b, c, d1, d2)
					}
				}
			}
		}
	}
}

func TestWorkloads(t *testing.T) {
	tests := []struct {
		cfg  ProtocolConfig
		want int
	}{
		// One request: the first sector, read or written.
		{ProtocolConfig{Requests: 1, L1Entries: 2, Clusters: 2, Sectors: 2}, 2},
		// Two: same sector, same cluster, same table, other table.
		{ProtocolConfig{Requests: 2, L1Entries: 2, Clusters: 2, Sectors: 2}, 2 * 2 * 4},
		{ProtocolConfig{Requests: 2, L1Entries: 1, Clusters: 1, Sectors: 1}, 4},
		{ProtocolConfig{Requests: 2, L1Entries: 2, Clusters: 2, Sectors: 2, NoSymmetry: true}, 16 * 16},
		{ProtocolConfig{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2}, 152},
		// A flush takes no sector and leaves the next request's choices
		// as if it were not there: sector 0, then 4 choices.
		{ProtocolConfig{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Ops: "wfw"}, 4},
		{ProtocolConfig{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Ops: "fff"}, 1},
		// A write-zeroes chooses its sector as a write does.
		{ProtocolConfig{Requests: 2, L1Entries: 2, Clusters: 2, Sectors: 2, Ops: "zw"}, 4},
		{ProtocolConfig{Requests: 3, L1Entries: 2, Clusters: 2, Sectors: 2, Ops: "wzr"}, 19},
	}
	for _, tc := range tests {
		got := tc.cfg.Workloads()
		if len(got) != tc.want {
			t.Errorf("%v: %d workloads, want %d", tc.cfg, len(got), tc.want)
		}
		seen := map[string]bool{}
		for _, wl := range got {
			key := ""
			for _, o := range wl {
				key += o.String() + ","
				if o.Sector >= tc.cfg.GuestSectors() {
					t.Fatalf("%v: workload %s addresses sector %d of %d", tc.cfg, key, o.Sector, tc.cfg.GuestSectors())
				}
				if o.Zeroes && !strings.Contains(tc.cfg.Ops, "z") {
					t.Fatalf("%v: workload %s writes zeroes, which only Ops asks for", tc.cfg, key)
				}
			}
			if seen[key] {
				t.Fatalf("%v: workload %s listed twice", tc.cfg, key)
			}
			seen[key] = true
		}
	}
}

func TestLinearizable(t *testing.T) {
	const init = tagZero
	w := func(req int, done bool, after uint8) linOp {
		return linOp{req: req, write: true, value: tagWrite + uint8(req), done: done, after: after}
	}
	r := func(req int, v uint8, after uint8) linOp {
		return linOp{req: req, value: v, done: true, after: after}
	}
	tests := []struct {
		name string
		ops  []linOp
		want bool
	}{
		{"read of initial", []linOp{r(0, init, 0)}, true},
		{"read of backing data without a backing file", []linOp{r(0, tagBacking, 0)}, false},
		{"read sees concurrent write", []linOp{w(0, true, 0), r(1, tagWrite, 0)}, true},
		{"read misses concurrent write", []linOp{w(0, true, 0), r(1, init, 0)}, true},
		{"read misses completed write", []linOp{w(0, true, 0), r(1, init, 1<<0)}, false},
		{"pending write may show", []linOp{w(0, false, 0), r(1, tagWrite, 0)}, true},
		{"stale after overwrite", []linOp{w(0, true, 0), w(1, true, 1<<0), r(2, tagWrite, 1<<1)}, false},
		{"either concurrent write last", []linOp{w(0, true, 0), w(1, true, 0), r(2, tagWrite, 1<<0|1<<1)}, true},
		{"reads disagree on order", []linOp{w(0, true, 0), w(1, true, 0), r(2, tagWrite+1, 1<<0|1<<1), r(3, tagWrite, 1<<2)}, false},
	}
	for _, tc := range tests {
		if got := linearizable(tc.ops, 0, init); got != tc.want {
			t.Errorf("%s: linearizable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestScenarios applies fixed move sequences and checks what each step
// reports: the shortest freeze-l2 lost update, and the L1 sector race
// that the ordered metadata writer prevents.
func TestScenarios(t *testing.T) {
	sub := func(r uint8, sec uint16) Move { return Move{Kind: MoveSubmit, Req: r, Write: true, Sector: sec} }
	io := func(r uint8) Move { return Move{Kind: MoveIO, Req: r} }
	tests := []struct {
		name    string
		cfg     ProtocolConfig
		policy  Policy
		moves   []Move
		want    string // invariant broken by the last move; none before
		wantLog []string
	}{
		{
			name: "freeze-l2 loses a write to a fresh cluster", cfg: stdConfig(), policy: FreezeL2{},
			moves: []Move{sub(0, 0), sub(1, 2), sub(2, 3), {Kind: MoveHeader}, io(0), io(0), {Kind: MoveMetaL1},
				io(1), io(2), {Kind: MoveMetaL2, Slot: 2}, {Kind: MoveMetaL2, Slot: 2}},
			want: "linearizability",
			wantLog: []string{
				"request 2 allocates cluster at 0x40000 for guest cluster 1",
				"request 3 allocates cluster at 0x50000 for guest cluster 1",
				"request 3 writes L2[1] = 0x50000 in the cached table at 0x30000, replacing 0x40000",
			},
		},
		{
			name: "unordered L1 writes lose a table", cfg: ProtocolConfig{Requests: 2, L1Entries: 2, Clusters: 1, Sectors: 1, Reopen: true, UnorderedMeta: true},
			policy: Overlap{},
			moves: []Move{sub(0, 0), sub(1, 1), {Kind: MoveHeader}, io(0), io(0), io(1), io(1),
				{Kind: MoveMetaReq, Req: 1}, {Kind: MoveMetaReq, Req: 0}},
			want:    "reopen-content",
			wantLog: []string{"request 1's write of the L1 table sector lands: L1[0] = 0x40000, L1[1] = 0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProtocol(tc.cfg, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Initial()
			var log []string
			for i, m := range tc.moves {
				found := false
				for _, e := range p.Moves(&s, nil) {
					found = found || e == m
				}
				if !found {
					t.Fatalf("step %d: move %+v is not enabled (enabled: %+v)\nlog:\n%s", i+1, m, p.Moves(&s, nil), strings.Join(log, "\n"))
				}
				out := p.Apply(&s, m, &log)
				last := i == len(tc.moves)-1
				if out.Violation != nil && !last {
					t.Fatalf("step %d: unexpected violation %v", i+1, out.Violation)
				}
				if last && (out.Violation == nil || out.Violation.Invariant != tc.want) {
					t.Fatalf("last step: violation %v, want %s\nlog:\n%s", out.Violation, tc.want, strings.Join(log, "\n"))
				}
			}
			text := strings.Join(log, "\n")
			for _, w := range tc.wantLog {
				if !strings.Contains(text, w) {
					t.Errorf("log lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestMovesApplyAllocateLittle keeps the explorer's hot path free of
// allocation: enumerating moves, applying them with a Stepper (whose own
// memory holds the in-flight accesses each lookup hands to
// Policy.Decide), canonicalizing and packing allocate nothing.
func TestMovesApplyAllocateLittle(t *testing.T) {
	p, err := NewProtocol(stdConfig(), Overlap{})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Initial()
	step := p.NewStepper()
	moves := make([]Move, 0, 64)
	words := make([]uint64, p.Words())
	var n ProtocolState // the caller's, as the explorer's expander holds it
	allocs := testing.AllocsPerRun(100, func() {
		moves = p.Moves(&s, moves[:0])
		for _, m := range moves {
			n = s
			step.Apply(&n, m)
			p.Canonicalize(&n)
			p.Pack(&n, words)
		}
	})
	if allocs > 0 {
		t.Errorf("Moves+Stepper.Apply+Canonicalize+Pack allocate %.1f times per state", allocs)
	}
}

// TestFlushNeedCheck: a flush that finds no allocating write in flight
// clears the need-check bit after it completes; an allocating write that
// comes while the clearing header write is in flight waits for it and
// sets the bit again; and no allocating write ever runs with the bit
// clear on disk (the need-check invariant holds in every state).
func TestFlushNeedCheck(t *testing.T) {
	for _, pol := range []Policy{Serial{}, FreezeAny{}, Overlap{}} {
		cfg := ProtocolConfig{Requests: 4, L1Entries: 1, Clusters: 2, Sectors: 1, Ops: "wfww"}
		p, err := NewProtocol(cfg, pol)
		if err != nil {
			t.Fatal(err)
		}
		var cleared, rearmed int
		reach(t, p, 1<<20, func(s *ProtocolState, out Outcome) {
			if out.Violation != nil {
				t.Fatalf("%s: %v", pol.Name(), out.Violation)
			}
			if s.hdr != hdrClearing {
				return
			}
			cleared++
			for r := range cfg.Requests {
				if s.reqs[r].phase == phHeader {
					rearmed++
					return
				}
			}
		})
		if cleared == 0 || rearmed == 0 {
			t.Errorf("%s: %d states clear the need-check bit, %d with a write waiting for that; want both reached", pol.Name(), cleared, rearmed)
		}
	}
}
