package workloads

import (
	"strings"
	"testing"
)

// TestPatterns runs every registered pattern: its name is unique and
// accepted by the pattern key, its summary is in the key's help, and its
// streams issue the plan's op count of block-sized writes, sector-aligned
// and inside their instance's region, the same for the same seed.
func TestPatterns(t *testing.T) {
	seen := map[PatternName]bool{}
	help := patternHelp()
	for _, pat := range patterns {
		name := pat.Name()
		t.Run("pattern="+string(name), func(t *testing.T) {
			if seen[name] {
				t.Fatalf("pattern %s registered twice", name)
			}
			seen[name] = true
			if pat.Summary() == "" || !strings.Contains(help, string(name)+" ("+pat.Summary()+")") {
				t.Errorf("help %q lacks %s and its summary %q", help, name, pat.Summary())
			}
			p := mustPlan(t, "pattern", map[string]string{"pattern": string(name), "rw": "randwrite", "size": "1m", "numjobs": "2", "offset": "64k", "bs": "8k"})
			if p.Job().Pattern != name {
				t.Fatalf("planned pattern %q, want %q", p.Job().Pattern, name)
			}
			again := p.Streams(5)
			for i, s := range p.Streams(5) {
				off, size := p.Region(i)
				ops := drain(s, 1<<20)
				if uint64(len(ops)) != p.OpsPerJob() {
					t.Errorf("instance %d: %d ops, want %d", i, len(ops), p.OpsPerJob())
				}
				for _, op := range ops {
					if op.Kind != OpWrite || op.Len != 8<<10 || op.Off%512 != 0 || op.Off < off || op.Off+op.Len > off+size {
						t.Fatalf("instance %d (region %#x+%d): op %v", i, off, size, op)
					}
				}
				if b := drain(again[i], 1<<20); len(b) != len(ops) || b[0] != ops[0] || b[len(b)-1] != ops[len(ops)-1] {
					t.Errorf("instance %d: the same seed gives another stream", i)
				}
			}
		})
	}
}

// TestPatternKey checks the pattern key accepts exactly the registered
// names and lists them when it refuses one.
func TestPatternKey(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{{"plain", true}, {"first-touch", true}, {"rewrite", true}, {"same-cluster", true}, {"First-Touch", false}, {"", false}, {"zipf", false}} {
		j := DefaultJob()
		err := j.Set("pattern", tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("Set(pattern, %q) = %v, want ok %v", tt.value, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "plain, first-touch, rewrite, same-cluster") {
			t.Errorf("Set(pattern, %q) = %v, want the list of patterns", tt.value, err)
		}
	}
}
