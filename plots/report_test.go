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
