package model

import "testing"

func acc(req uint64, k Kind, l1, first uint64) Access {
	return Access{Req: req, Kind: k, L1: l1, First: first, Count: 1}
}

func TestPolicyDecisions(t *testing.T) {
	var (
		readX      = acc(1, Read, 0, 5)
		rewriteX   = acc(1, Rewrite, 0, 5)
		allocX     = acc(1, AllocCluster, 0, 5)
		allocXY    = Access{Req: 1, Kind: AllocCluster, L1: 0, First: 5, Count: 2} // clusters 5,6
		allocL2A   = acc(1, AllocL2, 0, 5)
		allocL2B   = acc(1, AllocL2, 1, 9000)
		flush      = Access{Req: 1, Kind: Flush}
		otherX     = acc(2, AllocCluster, 0, 5)
		otherY     = acc(2, AllocCluster, 0, 6)
		otherZ     = acc(2, AllocCluster, 1, 9001)
		otherL2A   = acc(2, AllocL2, 0, 7)
		otherL2B   = acc(2, AllocL2, 1, 9001)
		otherRead  = acc(2, Read, 0, 5)
		otherWrite = acc(2, Rewrite, 0, 5)
	)
	type row struct {
		name     string
		a        Access
		inFlight []Access
		want     map[string]Decision
	}
	P, F := Proceed, Freeze
	all := func(d Decision) map[string]Decision {
		return map[string]Decision{"serial": d, "freeze-any": d, "freeze-l2": d, "per-table": d, "overlap": d}
	}
	rows := []row{
		{"idle alloc", allocX, nil, all(P)},
		{"idle read", readX, nil, all(P)},
		{"read beside read", readX, []Access{otherRead}, map[string]Decision{"serial": F, "freeze-any": P, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"rewrite beside alloc of same cluster", rewriteX, []Access{otherX}, map[string]Decision{"serial": F, "freeze-any": P, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"flush beside write", flush, []Access{otherWrite}, map[string]Decision{"serial": F, "freeze-any": P, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"alloc beside rewrite", allocX, []Access{otherWrite}, map[string]Decision{"serial": F, "freeze-any": P, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"alloc same cluster", allocX, []Access{otherX}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": F, "overlap": F}},
		{"alloc neighbour cluster same table", allocX, []Access{otherY}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": F, "overlap": P}},
		{"multi-cluster alloc covering neighbour", allocXY, []Access{otherY}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": F, "overlap": F}},
		{"alloc other table", allocX, []Access{otherZ}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"new L2 beside new L2 same L1", allocL2A, []Access{otherL2A}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": F, "per-table": F, "overlap": F}},
		{"new L2 beside new L2 other L1", allocL2A, []Access{otherL2B}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": F, "per-table": P, "overlap": P}},
		{"new L2 beside cluster alloc other L1", allocL2B, []Access{otherX}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": P, "overlap": P}},
		{"cluster alloc beside new L2 same cluster", allocX, []Access{acc(2, AllocL2, 0, 5)}, map[string]Decision{"serial": F, "freeze-any": F, "freeze-l2": P, "per-table": F, "overlap": F}},
	}
	for _, reg := range Registered() {
		for _, r := range rows {
			want, ok := r.want[reg.Name]
			if !ok {
				t.Fatalf("row %q has no expectation for policy %s", r.name, reg.Name)
			}
			if got := reg.Policy.Decide(r.a, r.inFlight); got != want {
				t.Errorf("%s: %s: Decide(%v, %v) = %v, want %v", reg.Name, r.name, r.a, r.inFlight, got, want)
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	for _, reg := range Registered() {
		if reg.Policy.Name() != reg.Name {
			t.Errorf("registration %q holds policy named %q", reg.Name, reg.Policy.Name())
		}
		got, err := Lookup(reg.Name)
		if err != nil || got.Name != reg.Name {
			t.Errorf("Lookup(%q) = %v, %v", reg.Name, got.Name, err)
		}
	}
	tests := []struct {
		list    string
		want    int
		wantErr bool
	}{
		{"", len(registry), false},
		{"all", len(registry), false},
		{"serial,overlap", 2, false},
		{" serial , overlap ", 2, false},
		{"serial,serial", 0, true},
		{"nosuch", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseList(tc.list)
		if (err != nil) != tc.wantErr || len(got) != tc.want {
			t.Errorf("ParseList(%q) = %d policies, err %v; want %d, err %v", tc.list, len(got), err, tc.want, tc.wantErr)
		}
	}
}

func TestKindAndAccessStrings(t *testing.T) {
	if s := acc(3, AllocCluster, 0, 5).String(); s != "req 3 alloc-cluster L1[0] clusters 5+1" {
		t.Errorf("Access.String = %q", s)
	}
	if s := Kind(99).String(); s != "kind(99)" {
		t.Errorf("Kind(99).String = %q", s)
	}
}

// smallAccesses returns one single-cluster access of every kind for each
// of two clusters under each of two L1 entries, Req unset.
func smallAccesses() []Access {
	var accs []Access
	for _, k := range []Kind{Read, Rewrite, AllocCluster, AllocL2, Flush} {
		for l1 := uint64(0); l1 < 2; l1++ {
			for cl := uint64(0); cl < 2; cl++ {
				accs = append(accs, Access{Kind: k, L1: l1, First: l1*2 + cl, Count: 1})
			}
		}
	}
	return accs
}

// TestBlockedBy holds every registered policy to the Blocker contract the
// image relies on when it parks a frozen request on one in-flight request:
// whenever Decide freezes a, BlockedBy names an access that alone freezes
// a, and keeps freezing it whatever else is in flight beside it.
func TestBlockedBy(t *testing.T) {
	accs := smallAccesses()
	for _, k := range []Kind{Read, Rewrite, AllocCluster, AllocL2, Flush} {
		accs = append(accs, Access{Kind: k, First: 0, Count: 2})
	}
	for _, reg := range Registered() {
		p, ok := reg.Policy.(Blocker)
		if !ok {
			t.Errorf("%s is not a Blocker: its frozen requests would be reconsidered after every completion", reg.Name)
			continue
		}
		frozen := 0
		for _, a := range accs {
			a.Req = 1
			for _, b := range accs {
				b.Req = 2
				for _, c := range accs {
					c.Req = 3
					inFlight := []Access{b, c}
					i := p.BlockedBy(a, inFlight)
					if p.Decide(a, inFlight) == Proceed {
						continue
					}
					frozen++
					if i < 0 || i >= len(inFlight) {
						t.Fatalf("%s: Decide(%v, [%v, %v]) froze but BlockedBy returned %d", reg.Name, a, b, c, i)
					}
					blocker := inFlight[i]
					if p.Decide(a, []Access{blocker}) != Freeze {
						t.Fatalf("%s: BlockedBy(%v, [%v, %v]) named %v, which alone does not freeze it", reg.Name, a, b, c, blocker)
					}
					for _, d := range accs {
						d.Req = 4
						if p.Decide(a, []Access{d, blocker}) != Freeze {
							t.Fatalf("%s: %v froze %v, but not with %v in flight beside it", reg.Name, blocker, a, d)
						}
					}
				}
			}
		}
		if frozen == 0 {
			t.Errorf("%s never froze: the test checked nothing", reg.Name)
		}
		covered := 0
		for _, a := range accs {
			a.Req = 1
			for _, b := range accs {
				b.Req = 2
				if !p.Covers(a, b) {
					continue
				}
				if b.Kind.Allocating() {
					covered++
				}
				for _, x := range accs {
					x.Req = 3
					if p.Decide(x, []Access{b}) == Freeze && p.Decide(x, []Access{a}) != Freeze {
						t.Fatalf("%s: Covers(%v, %v), but %v freezes %v and %v does not", reg.Name, a, b, b, x, a)
					}
				}
			}
		}
		if covered == 0 {
			t.Errorf("%s: Covers never holds for an allocating access: frozen requests would all be looked up again", reg.Name)
		}
	}
}
