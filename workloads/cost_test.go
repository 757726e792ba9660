package workloads

import (
	"reflect"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// TestMatrixInclude runs smallMatrix in parts chosen by Include and
// checks that the parts' records, put back in MeasuredOrder, are the
// whole matrix's records (wall times aside).
func TestMatrixInclude(t *testing.T) {
	whole := smallMatrix(t)
	want, err := whole.Run()
	if err != nil {
		t.Fatal(err)
	}
	order := whole.MeasuredOrder()
	if len(order) != len(want) {
		t.Fatalf("MeasuredOrder has %d runs, Run made %d", len(order), len(want))
	}
	pos := map[RunKey]int{}
	for i, k := range order {
		if got := (RunKey{want[i].Config(), want[i].Repeat}); got != k {
			t.Fatalf("MeasuredOrder[%d] = %v, Run's record %d is %v", i, k, i, got)
		}
		pos[k] = i
	}
	configs := whole.Configs()
	tests := []struct {
		name  string
		parts int
	}{{"one part", 1}, {"two parts", 2}, {"three parts", 3}, {"more parts than configurations", 9}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]results.Record, len(want))
			seen := 0
			for k := range tt.parts {
				part := smallMatrix(t)
				part.Include = func(c results.Config) bool { return slices.Index(configs, c)%tt.parts == k }
				if o := part.MeasuredOrder(); !slices.Equal(o, order) {
					t.Fatal("a part's MeasuredOrder is not the whole matrix's")
				}
				recs, err := part.Run()
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					i, ok := pos[RunKey{r.Config(), r.Repeat}]
					if !ok || got[i].Policy != "" {
						t.Fatalf("part %d: run %v repeat %d unknown or made twice", k, r.Config(), r.Repeat)
					}
					got[i] = r
					seen++
				}
			}
			if seen != len(want) {
				t.Fatalf("the parts made %d runs, the whole %d", seen, len(want))
			}
			for i := range want {
				if a, b := withoutWall(want[i]), withoutWall(got[i]); !reflect.DeepEqual(a, b) {
					t.Fatalf("record %d differs:\nwhole %+v\nparts %+v", i, a, b)
				}
			}
		})
	}
}

// TestEstimatedCosts checks the cost model's ordering of the standard
// jobs' runs: what moves more bytes, runs over a backing file, runs
// deeper or is checked costs more per request.
func TestEstimatedCosts(t *testing.T) {
	jobs, err := StandardJobs()
	if err != nil {
		t.Fatal(err)
	}
	plan := map[string]*Plan{}
	for _, j := range jobs {
		if plan[j.Name], err = j.Plan(); err != nil {
			t.Fatal(err)
		}
	}
	// per request, so that jobs of different sizes compare
	est := func(name string, qd int, backend string, checked bool) float64 {
		return EstimatedRunSeconds(plan[name], qd, backend, checked) / plan[name].EstimatedOps()
	}
	tests := []struct {
		name          string
		cheap, costly float64
	}{
		{"64k writes over 4k ones", est("first-touch", 1, "sim", false), est("seq-write", 1, "sim", false)},
		{"a backing file", est("first-touch", 1, "sim", false), est("backing-cow", 1, "sim", false)},
		{"deeper queue on sim", est("rewrite", 1, "sim", false), est("rewrite", 32, "sim", false)},
		{"checked", est("rewrite", 8, "sim", false), est("rewrite", 8, "sim", true)},
		{"a real disk", est("rewrite", 8, "sim", false), est("rewrite", 8, "file", false)},
		{"shallower queue on a real disk", est("rewrite", 32, "file", false), est("rewrite", 1, "file", false)},
	}
	for _, tt := range tests {
		if !(tt.cheap > 0 && tt.cheap < tt.costly) {
			t.Errorf("%s: %.2gs, not more than %.2gs", tt.name, tt.costly, tt.cheap)
		}
	}
	m := smallMatrix(t)
	costs := m.EstimatedCosts()
	if len(costs) != len(m.Configs()) {
		t.Fatalf("%d costs for %d configurations", len(costs), len(m.Configs()))
	}
	for i, c := range costs {
		if c <= 0 {
			t.Errorf("configuration %d costs %v", i, c)
		}
	}
}
