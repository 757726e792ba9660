package main

import (
	"strings"
	"testing"
)

// TestExploreCommand runs the explore subcommand: flags bound, exit codes,
// what it prints.
func TestExploreCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     string
		code     int
		stdout   []string
		stderr   string
		lastLine string
	}{
		{"help", "-h", exitHolds, nil, "usage: runbench explore", ""},
		{"bad flag", "-bogus", exitUsage, nil, "flag provided but not defined", ""},
		{"stray argument", "serial", exitUsage, nil, `unexpected argument "serial"`, ""},
		{"unknown policy", "-policy nosuch", exitUsage, nil, `unknown policy "nosuch"`, ""},
		{"zero requests", "-requests 0", exitUsage, nil, "impossible configuration: requests is 0, want 1 to 6", ""},
		{"more sectors than fit", "-sectors 9", exitUsage, nil, "sectors per cluster is 9", ""},
		{"bad impl sectors", "-mode impl -sectors 3", exitUsage, nil, "sectors must be 1, 2, 4 or 8", ""},
		{"bad mode", "-mode sim", exitUsage, nil, `mode "sim"`, ""},
		{"config and a flag it sets", "-config n3-2x2x2 -requests 2", exitUsage, nil, "-config sets -requests", ""},
		{"bad config", "-config n3-2x2", exitUsage, nil, "want L1xCLUSTERSxSECTORS", ""},
		{"bad mix", "-ops wwx -requests 3", exitUsage, nil, "want only r (read), w (write) and f (flush)", ""},
		{"config with a mix", "-config w3r1-2x2x1 -policy freeze-any", exitHolds,
			[]string{"explore w3r1-2x2x1: model, 4 requests, 2 L1 x 2 clusters x 1 sectors, no backing, reopen, requests wwwr", "freeze-any (declared safe): HOLDS"}, "", ""},
		{"safe policies hold", "-policy serial,freeze-any", exitHolds,
			[]string{"serial (declared safe): HOLDS", "freeze-any (declared safe): HOLDS", "max allocating writes in flight 1"}, "",
			"explore: 2 policies: 2 hold (serial, freeze-any), 0 violated, 0 incomplete"},
		{"freeze-l2 violated", "-policy freeze-l2", exitViolated,
			[]string{"freeze-l2 (declared unsafe): VIOLATED: linearizability", "trace (11 steps):", "request 3 allocates cluster at 0x50000 for guest cluster 1"}, "",
			"explore: 1 policies: 0 hold, 1 violated (freeze-l2), 0 incomplete"},
		{"state limit", "-policy overlap -max-states 10", exitIncomplete,
			[]string{"INCOMPLETE (state limit 10 reached"}, "", "explore: 1 policies: 0 hold, 0 violated, 1 incomplete (overlap)"},
		{"impl unordered metadata replay", "-mode impl -policy overlap -l1 1 -clusters 3 -sectors 1 -unordered-meta -replay w0,w1,w2/s|s|s|c1|c2|c3|c4|c5|c6|c7|c8|c10|c9", exitViolated,
			[]string{"impl, 3 requests, 1 L1 x 3 clusters x 1 sectors, no backing, reopen, unordered metadata writes", "overlap (declared unsafe): VIOLATED: reopen-content",
				"io 10 completes: request 3's write of the L2 table sector at 0x3000", "io 9 completes: request 2's write of the L2 table sector at 0x3000",
				"replay: runbench explore -mode impl -policy overlap -l1 1 -clusters 3 -sectors 1 -unordered-meta -replay 'w0,w1,w2/s s s c1 c2 c3 c4 c5 c6 c7 c8 c10 c9'"}, "",
			"explore: 1 policies: 0 hold, 1 violated (overlap), 0 incomplete"},
		{"impl replay", "-mode impl -policy freeze-l2 -replay w0,w2,w3/s|s|s|c1|c2|c3|c4|c5|c6|c7|c8", exitViolated,
			[]string{"io 8 completes: request 3's data write into the new cluster", "replay: runbench explore -mode impl -policy freeze-l2 -replay 'w0,w2,w3/s s s c1 c2 c3 c4 c5 c6 c7 c8'", "trace hash"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			args := strings.Fields(tc.args)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "|", " ") // spaces inside one argument
			}
			code := exploreMain(args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if tc.stderr != "" && !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errb.String())
			}
			if tc.lastLine != "" {
				lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
				if got := lines[len(lines)-1]; got != tc.lastLine {
					t.Errorf("last line %q, want %q", got, tc.lastLine)
				}
			}
		})
	}
}
