package checker

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/shard"
)

// exploreShards explores cfg in n shards, in a shuffled order, and
// merges them.
func exploreShards(t *testing.T, reg model.Registration, cfg ExploreConfig, n int) (*ExploreResult, []*ExploreResult) {
	t.Helper()
	var parts []*ExploreResult
	for k := 1; k <= n; k++ {
		c := cfg
		c.Shard = shard.Spec{K: k, N: n}
		r, err := Explore(reg, c)
		if err != nil {
			t.Fatal(err)
		}
		if r.Shard == nil || r.Shard.Spec != c.Shard {
			t.Fatalf("shard %s's result says %+v", c.Shard, r.Shard)
		}
		parts = append(parts, r)
	}
	rand.New(rand.NewPCG(uint64(n), 1)).Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	merged, err := MergeExploreShards(parts)
	if err != nil {
		t.Fatal(err)
	}
	return merged, parts
}

// TestExploreShardsReproduce splits the standard configurations (and
// two with a fixed mix, whose searches have few workloads) into shards
// and checks the merge against the whole search: the same verdict and
// shortest counterexample in both modes; in impl mode, for a search that
// holds, the same counts; in model mode counts that bound the whole
// search's from above, each shard's from below.
func TestExploreShardsReproduce(t *testing.T) {
	type tc struct {
		config string
		mode   ExploreMode
		n      int
	}
	var tests []tc
	for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
		for _, config := range []string{"n3-2x2x2", "n3-2x2x2-snapshot"} {
			tests = append(tests, tc{config, mode, 3})
		}
		tests = append(tests, tc{"n3-2x2x2", mode, 2}, tc{"w2r1-2x2x2-table", mode, 7})
	}
	tests = append(tests, tc{"w2f1w1-2x2x2", ExploreModel, 5})
	for _, tt := range tests {
		for _, reg := range model.Registered() {
			t.Run(fmt.Sprintf("config=%s/mode=%s/shards=%d/policy=%s", tt.config, tt.mode, tt.n, reg.Name), func(t *testing.T) {
				if propRace && tt.mode == ExploreImpl {
					t.Skip("engine runs under the race detector: the plain build checks them")
				}
				if testing.Short() && tt.n != 3 {
					t.Skip("short: the standard configurations in 3 shards only")
				}
				cfg, err := ParseExploreName(tt.config, StandardExploreConfig(tt.mode))
				if err != nil {
					t.Fatal(err)
				}
				whole, err := Explore(reg, cfg)
				if err != nil {
					t.Fatal(err)
				}
				merged, parts := exploreShards(t, reg, cfg, tt.n)
				if merged.Verdict != whole.Verdict {
					t.Fatalf("merged verdict %v, whole search %v", merged.Verdict, whole.Verdict)
				}
				if whole.Violation != nil {
					if merged.Violation.Steps != whole.Violation.Steps || merged.Violation.Invariant != whole.Violation.Invariant {
						t.Errorf("shortest violation: merged %s in %d steps, whole %s in %d", merged.Violation.Invariant, merged.Violation.Steps, whole.Violation.Invariant, whole.Violation.Steps)
					}
					if merged.Violation.Schedule != whole.Violation.Schedule {
						t.Errorf("counterexample schedule: merged %q, whole %q", merged.Violation.Schedule, whole.Violation.Schedule)
					}
				}
				if merged.Config != whole.Config {
					t.Errorf("merged config %+v, whole %+v", merged.Config, whole.Config)
				}
				switch {
				case tt.mode == ExploreImpl && whole.Verdict == Holds:
					type counts struct {
						States, Transitions, Workloads, Paths, Pruned int64
						Depth                                         int
						Facts                                         ExploreFacts
					}
					w := counts{whole.States, whole.Transitions, whole.Workloads, whole.Paths, whole.Pruned, whole.Depth, whole.Facts}
					m := counts{merged.States, merged.Transitions, merged.Workloads, merged.Paths, merged.Pruned, merged.Depth, merged.Facts}
					if w != m {
						t.Errorf("counts: merged %+v, whole %+v", m, w)
					}
					if merged.Judged < whole.Judged {
						t.Errorf("merged judged %d end states, fewer than the whole search's %d", merged.Judged, whole.Judged)
					}
				case tt.mode == ExploreModel:
					if merged.States < whole.States || merged.Transitions < whole.Transitions {
						t.Errorf("merged %d states, %d transitions: below the whole search's %d and %d", merged.States, merged.Transitions, whole.States, whole.Transitions)
					}
					for _, p := range parts {
						if p.States > whole.States {
							t.Errorf("shard %s stored %d states, more than the whole search's %d", p.Shard.Spec, p.States, whole.States)
						}
					}
					if whole.Verdict == Holds && merged.Facts != whole.Facts {
						t.Errorf("facts: merged %+v, whole %+v", merged.Facts, whole.Facts)
					}
					if whole.Verdict == Holds && merged.Shard.Split >= 0 {
						// The union of the shards' stored states is the
						// whole search's.
						var files []io.Reader
						var names []string
						for _, p := range parts {
							var b bytes.Buffer
							if err := p.WriteStates(&b); err != nil {
								t.Fatal(err)
							}
							files, names = append(files, &b), append(names, p.Shard.Spec.String())
						}
						if n, err := CountUnion(files, names); err != nil || n != whole.States {
							t.Errorf("union of the shards' states: %d (%v), whole search %d", n, err, whole.States)
						}
					}
					if merged.Shard.Split < 0 && (merged.States != whole.States || merged.Transitions != whole.Transitions) {
						t.Errorf("unsplit: merged %d states, %d transitions; whole %d and %d", merged.States, merged.Transitions, whole.States, whole.Transitions)
					}
				}
				owned := 0
				for _, p := range parts {
					owned += p.Shard.Owned
				}
				if merged.Shard.Split >= 0 && owned != merged.Shard.Units {
					t.Errorf("shards explored %d parts of %d", owned, merged.Shard.Units)
				}
			})
		}
	}
}

// TestMergeExploreShardsRefuses: a merge names what does not fit.
func TestMergeExploreShardsRefuses(t *testing.T) {
	reg := mustLookup(t, "serial")
	cfg := StandardExploreConfig(ExploreModel)
	cfg.Requests = 2
	part := func(k, n int, mutate func(*ExploreConfig)) *ExploreResult {
		c := cfg
		c.Shard = shard.Spec{K: k, N: n}
		if mutate != nil {
			mutate(&c)
		}
		r, err := Explore(reg, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	other := part(2, 3, nil)
	other.Policy = "overlap"
	whole := explore(t, "serial", cfg)
	tests := []struct {
		name  string
		parts []*ExploreResult
		want  string
	}{
		{"none", nil, "no shard results"},
		{"missing", []*ExploreResult{part(1, 4, nil), part(3, 4, nil)}, "missing shards 2/4, 4/4"},
		{"twice", []*ExploreResult{part(1, 2, nil), part(1, 2, nil)}, "shard 1/2 given twice"},
		{"different N", []*ExploreResult{part(1, 2, nil), part(2, 3, nil)}, "split into 3"},
		{"different configuration", []*ExploreResult{part(1, 2, nil), part(2, 2, func(c *ExploreConfig) { c.Backing = true })}, "explored n2-2x2x2-backing"},
		{"different policy", []*ExploreResult{part(1, 3, nil), other}, "shard 1/3 explored serial, shard 2/3 overlap"},
		{"a whole search", []*ExploreResult{whole}, "a whole search's result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergeExploreShards(tt.parts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("merge: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
