package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
	"github.com/qedharness/qedharness/workloads/shard"
)

// TestPlanShardCovers deals the standard matrix, with its verdict
// checks, into N shards and checks every configuration and check goes to
// exactly one shard, the estimated shares add up to 1, and no shard
// carries much more than its share.
func TestPlanShardCovers(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 40} {
		t.Run(fmt.Sprintf("shards=%d", n), func(t *testing.T) {
			configs := map[results.Config]int{}
			checks := map[string]int{}
			var total float64
			var maxShare float64
			var all int
			for k := 1; k <= n; k++ {
				cfg := Config{Out: filepath.Join(t.TempDir(), "s"), Baseline: DefaultBaseline, Repeat: DefaultRepeat, Warmup: 1, Seed: 1,
					Linearizability: LinAll, Shard: shard.Spec{K: k, N: n}}
				s, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				p := s.shard
				all = p.nConfigs
				for c := range p.configs {
					configs[c]++
				}
				for _, j := range p.checks {
					checks[j.String()]++
				}
				if want := 5 * 2 * len(verdictCheckers); p.nChecks != want {
					t.Errorf("%d checks in all, want %d (5 policies x 2 table-write schemes x %d checkers)", p.nChecks, want, len(verdictCheckers))
				}
				total += p.share
				maxShare = max(maxShare, p.share)
			}
			if want := 5 * 2 * len(verdictCheckers); len(configs) != all || len(checks) != want {
				t.Errorf("the shards cover %d of %d configurations and %d of %d checks", len(configs), all, len(checks), want)
			}
			for c, times := range configs {
				if times != 1 {
					t.Errorf("%s is in %d shards", c.Name(), times)
				}
			}
			for c, times := range checks {
				if times != 1 {
					t.Errorf("check %s is in %d shards", c, times)
				}
			}
			if total < 0.999 || total > 1.001 {
				t.Errorf("shares add up to %v", total)
			}
			if n <= 7 && maxShare > 1.05/float64(n) {
				t.Errorf("a shard carries %.1f%% of the estimated cost, more than 105%% of 1/%d", 100*maxShare, n)
			}
		})
	}
}

// TestRemoveShardFiles: redoing a partial shard removes what a shard
// writes and nothing else.
func TestRemoveShardFiles(t *testing.T) {
	tests := []struct {
		file   string
		theirs bool // not a shard's: must stay
	}{
		{"runs.json", false},
		{"runs.csv", false},
		{"bench.txt", false},
		{"summary.txt", false},
		{"explore.json", false},
		{".runs.json.1234567", false},
		{".shard.json.42", false},
		{"states-per-table.bin", false},
		{".states-overlap.bin.9876", false},
		{"states-mine.txt", true},
		{"counterexamples/first-touch_repeat-2.txt", false},
		{"counterexamples/policy-freeze-l2_workload-x_repeat-1.html", false},
		{"counterexamples/freeze-l2-snapshot-impl-explorer.svg", false},
		{ShardFile, true}, // the manifest stays: Run rewrites it
		{"notes.txt", true},
		{"report.html", true},
		{".runs.json.bak", true},
		{"counterexamples/mine.txt", true},
		{"keep/runs.json", true},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.file)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, tt.file), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeShardFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		_, err := os.Stat(filepath.Join(dir, tt.file))
		if tt.theirs != (err == nil) {
			t.Errorf("%s: kept %v, want %v", tt.file, err == nil, tt.theirs)
		}
	}
	// With only a shard's counterexamples, their directory goes too.
	os.Remove(filepath.Join(dir, "counterexamples", "mine.txt"))
	os.WriteFile(filepath.Join(dir, "counterexamples", "a_repeat-1.txt"), nil, 0o644)
	if err := removeShardFiles(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "counterexamples")); err == nil {
		t.Error("an emptied counterexamples directory stayed")
	}
}

// TestShardDirRefused: New refuses, for a shard, a directory holding
// someone else's files or another shard, and accepts a new, empty or
// same-shard one.
func TestShardDirRefused(t *testing.T) {
	base := smallConfig(t, "rewrite", "overlap", []int{1, 2}, "ops=16")
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644)
	cfg := base
	cfg.Out, cfg.Shard = filepath.Join(dir, "s1"), shard.Spec{K: 1, N: 2}
	runConfig(t, cfg)
	tests := []struct {
		name string
		out  string
		spec shard.Spec
		seed int64
		want string
	}{
		{"new", filepath.Join(dir, "new"), shard.Spec{K: 2, N: 2}, 1, ""},
		{"the same shard", cfg.Out, shard.Spec{K: 1, N: 2}, 1, ""},
		{"someone else's files", other, shard.Spec{K: 1, N: 2}, 1, "holds files and no shard.json"},
		{"another shard", cfg.Out, shard.Spec{K: 2, N: 2}, 1, "holds shard 1/2, not 2/2"},
		{"another seed", cfg.Out, shard.Spec{K: 1, N: 2}, 5, "holds shard 1/2 of seed 1, not 5"},
		{"a bad shard", filepath.Join(dir, "x"), shard.Spec{K: 3, N: 2}, 1, "shard 3/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.Out, c.Shard, c.Seed = tt.out, tt.spec, tt.seed
			_, err := New(c)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
