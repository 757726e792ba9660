package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestReportHostNotes checks the report repeats the run's notes on its
// host with the provenance, in both renderings, and says nothing of a
// host without notes.
func TestReportHostNotes(t *testing.T) {
	var regs []model.Registration
	for _, name := range []string{"serial", "freeze-any", "overlap"} {
		r, err := model.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	const note = "/var/tmp is on /dev/vda (ext4) with the mount option discard: it discards each block it frees."
	for _, tt := range []struct {
		name  string
		notes []string
		want  string
	}{
		{"discard", []string{note}, "Host: " + note},
		{"period added", []string{"io_uring refused"}, "Host: io_uring refused."},
		{"none", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			res := &results.Results{Provenance: results.Provenance{Commit: "abc", FileSystem: "ext4", CacheMode: "direct", HostNotes: tt.notes}}
			in := ReportInput{Results: res, Summaries: fixture(), Policies: regs, Baseline: "freeze-any", Command: "go run ./cmd/runbench"}
			if err := WriteReport(dir, in); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"report.md", "report.html"} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				has := strings.Contains(string(b), "Host: ")
				switch {
				case tt.want == "" && has:
					t.Errorf("%s has a host note, want none", f)
				case tt.want != "" && !strings.Contains(string(b), tt.want):
					t.Errorf("%s lacks %q", f, tt.want)
				}
			}
		})
	}
}

// TestFailedRunNotes checks the report says which runs failed and why,
// and bounds the list.
func TestFailedRunNotes(t *testing.T) {
	ok := results.Record{Policy: "serial", Workload: "rewrite", QD: 1}
	bad := results.Record{Policy: "qemu-qed", Workload: "same-cluster", QD: 4, Backend: "file", Device: "ext4", Repeat: 5, Seed: 9,
		Error: "qemu-img bench ...: signal: aborted: qed.c:1161: Assertion `s->allocating_acb == NULL' failed."}
	notes := failedRunNotes([]results.Record{ok, bad})
	if len(notes) != 1 || !strings.Contains(notes[0], "qemu-qed on same-cluster at queue depth 4 (file ext4), repetition 5, seed 9") ||
		!strings.Contains(notes[0], "allocating_acb == NULL' failed. Its") {
		t.Errorf("notes = %q", notes)
	}
	if notes := failedRunNotes([]results.Record{ok}); len(notes) != 0 {
		t.Errorf("no failure, notes %q", notes)
	}
	many := make([]results.Record, maxFailedNotes+3)
	for i := range many {
		many[i] = bad
	}
	notes = failedRunNotes(many)
	if len(notes) != maxFailedNotes+1 || notes[maxFailedNotes] != "3 more runs failed; runs.json holds every run's error." {
		t.Errorf("%d notes, last %q", len(notes), notes[len(notes)-1])
	}
}
