package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// TestSelectBaselines checks -baselines selects the baselines named, in
// the order named, every one for auto and none for none, and refuses an
// unknown name with the list of known ones.
func TestSelectBaselines(t *testing.T) {
	_, lookErr := exec.LookPath("qemu-img")
	if lookErr != nil && os.Getenv("QED_REQUIRE_QEMU") != "" {
		t.Fatalf("qemu-img not found and QED_REQUIRE_QEMU is set: %v", lookErr)
	}
	tests := []struct {
		flag string
		want []string
		err  string
	}{
		{"auto", results.BaselineNames(), ""},
		{"none", nil, ""},
		{"raw", []string{results.BaselineRaw}, ""},
		{"qemu-qcow2-subcluster,qemu-qcow2-falloc,raw-qemu-img", []string{results.BaselineQcow2Subcluster, results.BaselineQcow2Falloc, results.BaselineRawQemuImg}, ""},
		{"qemu-qcow2-prealloc", nil, `-baselines: unknown baseline "qemu-qcow2-prealloc" (want qemu-qed, qemu-qcow2, qemu-qcow2-falloc, qemu-qcow2-subcluster, raw-qemu-img, raw, auto or none)`},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			args := []string{"-backend", "file", "-dir", t.TempDir(), "-workloads", "first-touch", "-set", "size=1m",
				"-baselines", tt.flag, "-out", filepath.Join(t.TempDir(), "res")}
			var stdout, stderr bytes.Buffer
			s, _, err := parse(args, &stdout, &stderr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if lookErr != nil && tt.flag != "none" {
				want = nil // skipped, with a note
				if !strings.Contains(s.baselineNote, "qemu-img is not installed") {
					t.Errorf("note %q, want one saying qemu-img is not installed", s.baselineNote)
				}
			}
			if !slices.Equal(s.matrix.Baselines, want) {
				t.Errorf("baselines %q, want %q", s.matrix.Baselines, want)
			}
		})
	}
}
