package bench

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestSelectBaselines checks Config.Baselines selects the baselines named, in
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
		{"qemu-qcow2-prealloc", nil, `Baselines: unknown baseline "qemu-qcow2-prealloc" (want qemu-qed, qemu-qcow2, qemu-qcow2-falloc, qemu-qcow2-subcluster, raw-qemu-img, raw, auto or none)`},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			cfg := smallConfig(t, "first-touch", "all", nil, "size=1m")
			cfg.Backends, cfg.Dir, cfg.Baselines = []string{"file"}, t.TempDir(), strings.Split(tt.flag, ",")
			s, err := New(cfg)
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

// TestChooseAIO resolves an aio name against a system that has io_uring
// and one that refuses it.
func TestChooseAIO(t *testing.T) {
	refused := func() error { return errors.New("io_uring_setup: operation not permitted") }
	ok := func() error { return nil }
	for _, c := range []struct {
		name      string
		flag      string
		available func() error
		want      file.AIOMode
		note, err string
	}{
		{"auto with io_uring", "auto", ok, file.AIOIOUring, "", ""},
		{"auto without", "auto", refused, file.AIOThreads, "uses aio=threads: io_uring is not available (io_uring_setup: operation not permitted)", ""},
		{"threads", "threads", refused, file.AIOThreads, "", ""},
		{"io_uring", "io_uring", ok, file.AIOIOUring, "", ""},
		{"io_uring refused", "io_uring", refused, 0, "", "io_uring: io_uring_setup: operation not permitted; use -aio threads"},
		{"unknown", "posix", ok, 0, "", `unknown aio mode "posix" (want auto, io_uring or threads)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, note, err := chooseAIO(c.flag, c.available)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want || !strings.Contains(note, c.note) || (c.note == "") != (note == "") {
				t.Errorf("chooseAIO(%q) = %v, %q, %v; want %v, %q", c.flag, got, note, err, c.want, c.note)
			}
		})
	}
}
