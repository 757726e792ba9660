package main

import (
	"fmt"
	"path/filepath"
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
		{"bad mix", "-ops wwx -requests 3", exitUsage, nil, "want only r (read), w (write), z (write-zeroes) and f (flush)", ""},
		{"write-zeroes mix", "-ops wzr -requests 3 -l1 2 -clusters 2 -sectors 1 -backing -start table -policy overlap", exitHolds,
			[]string{"explore w1z1r1-2x2x1-table-backing: model, 3 requests, 2 L1 x 2 clusters x 1 sectors, backing, reopen, existing L2 table, requests wzr", "overlap (declared safe): HOLDS"}, "", ""},
		{"impl write-zeroes replay", "-mode impl -policy overlap -backing -sectors 1 -l1 1 -clusters 2 -ops zwr -requests 3 -replay z0,w0,r0/s|c1|c2|c3|c4|s|c5|s|c6 -v", exitHolds,
			[]string{"request 1 submitted: write-zeroes sector 0", "write of the new L2 table at 0x2000 (L2[0] = 0x1)", "request 3 completes: it read w2"}, "", ""},
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

// TestExploreShardCommand explores in 3 shards, each a directory, and
// merges them: the merge prints the verdicts and the summary line of the
// whole exploration and exits as it does; a complete shard run again
// skips; bad -shard values and shards that do not make one whole exit 2.
func TestExploreShardCommand(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []string{"model", "impl"} {
		t.Run("mode="+mode, func(t *testing.T) {
			base := []string{"-mode", mode, "-policy", "freeze-any,freeze-l2", "-config", "w2r1-2x2x1"}
			var whole, errb strings.Builder
			wantCode := exploreMain(base, &whole, &errb)
			wholeLines := strings.Split(strings.TrimSpace(whole.String()), "\n")
			var shards []string
			for k := 1; k <= 3; k++ {
				sd := filepath.Join(dir, fmt.Sprintf("%s-%d", mode, k))
				var out strings.Builder
				if code := exploreMain(append(base, "-shard", fmt.Sprintf("%d/3", k), "-out", sd), &out, &errb); code != exitHolds {
					t.Fatalf("shard %d/3: exit %d\n%s", k, code, errb.String())
				}
				shards = append(shards, sd)
			}
			var out strings.Builder
			if code := exploreMain(append([]string{"merge"}, shards[1], shards[2], shards[0]), &out, &errb); code != wantCode {
				t.Errorf("merge: exit %d, the whole exploration %d\n%s", code, wantCode, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if lines[0] != wholeLines[0] || lines[len(lines)-1] != wholeLines[len(wholeLines)-1] {
				t.Errorf("merge prints\n%s\n...\n%s\nthe whole exploration\n%s\n...\n%s", lines[0], lines[len(lines)-1], wholeLines[0], wholeLines[len(wholeLines)-1])
			}
			if !strings.Contains(out.String(), "merged from 3 shards") {
				t.Errorf("merge does not list the shards:\n%s", out.String())
			}
			var again strings.Builder
			if code := exploreMain(append(base, "-shard", "2/3", "-out", shards[1]), &again, &errb); code != exitHolds || !strings.Contains(again.String(), "shard 2/3 is complete") {
				t.Errorf("a complete shard ran again (exit %d):\n%s", code, again.String())
			}
		})
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-shard", "0/2", "-out", dir}, `-shard: "0/2": K is 0`},
		{[]string{"-shard", "x/y", "-out", dir}, `-shard: "x/y": want K/N`},
		{[]string{"-shard", "1/2"}, "give the shard its own directory with -out"},
		{[]string{"-out", dir}, "give -shard K/N too"},
		{[]string{"-shard", "1/2", "-out", filepath.Join(dir, "r"), "-mode", "impl", "-replay", "w0,w1,w2/s"}, "cannot be sharded"},
		{[]string{"-policy", "freeze-any", "-config", "w2r1-2x2x1", "-mode", "model", "-shard", "1/3", "-out", filepath.Join(dir, "impl-1")}, "holds shard 1/3 of a different exploration"},
		{[]string{"merge", filepath.Join(dir, "model-1"), filepath.Join(dir, "impl-2")}, "refusing to merge shards of different explorations"},
		{[]string{"merge", filepath.Join(dir, "model-1")}, "missing shards 2/3, 3/3"},
		{[]string{"merge"}, "want the shard directories"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			if code := exploreMain(tt.args, &out, &errb); code != exitUsage {
				t.Errorf("exit %d, want %d\n%s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, errb.String())
			}
		})
	}
}
