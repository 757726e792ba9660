package checker

import (
	"strings"
	"testing"
)

// TestExploreName: names round-trip, and bad names say what is wrong.
func TestExploreName(t *testing.T) {
	std := StandardExploreConfig(ExploreModel)
	if got := std.Name(); got != "n3-2x2x2" {
		t.Errorf("standard configuration named %q, want n3-2x2x2", got)
	}
	for _, name := range []string{"n3-2x2x2", "w3r1-2x2x1-backing", "r1w2r1-1x3x1-noreopen-snapshot-leaks-nosym", "n6-2x2x2", "w3r1-2x2x2-prealloc", "n3-2x2x2-table-backing", "w2f1w1-2x2x2", "w1z2r1-2x2x1-table-backing"} {
		cfg, err := ParseExploreName(name, std)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := cfg.Name(); got != name {
			t.Errorf("%s reads back as %s", name, got)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"n3", "want REQUESTS-"},
		{"x3-2x2x2", "want nN or a mix"},
		{"w1y1-2x2x2", "a mix of wN, rN, zN and fN"},
		{"w-2x2x2", "w needs a count"},
		{"n3-2x2", "want L1xCLUSTERSxSECTORS"},
		{"n3-2x2xq", `"q" is not a number`},
		{"n3-2x2x2-fast", `unknown part "fast"`},
	} {
		if _, err := ParseExploreName(tc.name, std); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
