package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkTreeDirty: a change in the output directory (earlier results
// this run replaces) is not a dirty tree; a change anywhere else is.
func TestWorkTreeDirty(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("code.go", "package x\n")
	write("results/ref/runs.json", "{}\n")
	write("results/latest/runs.json", "{}\n")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	t.Chdir(dir)
	tests := []struct {
		name   string
		change string
		out    string
		want   bool
	}{
		{"clean", "", "results/ref", false},
		{"output directory changed", "results/ref/runs.json", "results/ref", false},
		{"output directory changed, absolute -out", "results/ref/runs.json", filepath.Join(dir, "results/ref"), false},
		{"other results changed", "results/latest/runs.json", "results/ref", true},
		{"code changed", "code.go", "results/ref", true},
		{"code changed, output outside the repository", "code.go", t.TempDir(), true},
	}
	for _, tt := range tests {
		git("checkout", "-q", "--", ".")
		if tt.change != "" {
			write(tt.change, "changed\n")
		}
		if got := workTreeDirty(tt.out); got != tt.want {
			t.Errorf("%s: workTreeDirty(%q) = %v, want %v", tt.name, tt.out, got, tt.want)
		}
	}
}
