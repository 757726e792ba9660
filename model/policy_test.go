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
