package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/impl/sim"
)

// TestDeviceInfo: provenance records every parameter of a device under
// its preset file's key, so that runs.json's devices load back as
// presets; a device with every field set encodes alike both ways.
func TestDeviceInfo(t *testing.T) {
	d := sim.Device{Name: "all", ReadLatency: 1, WriteLatency: 2, FlushLatency: 3, Bandwidth: 4, Parallelism: 5, Jitter: 0.5,
		Scaling: 0.25, ConvertTime: 6, ExtendTime: 7}
	var want, got map[string]any
	for _, v := range []struct {
		x   any
		out *map[string]any
	}{{d, &want}, {deviceInfo(d), &got}} {
		b, err := json.Marshal(v.x)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v.out); err != nil {
			t.Fatal(err)
		}
	}
	if reflect.ValueOf(d).NumField() != len(want) {
		t.Fatalf("sim.Device has %d fields, %d in its JSON: set them all here", reflect.ValueOf(d).NumField(), len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("provenance records %v, the device is %v", got, want)
	}
}

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

// TestMergeHostNotes checks a merge keeps each shard's host notes once,
// naming the shards unless every shard printed the note.
func TestMergeHostNotes(t *testing.T) {
	names := []string{"1/3", "2/3", "3/3"}
	for _, tt := range []struct {
		name  string
		notes [][]string
		want  []string
	}{
		{"none", [][]string{nil, nil, nil}, nil},
		{"every shard", [][]string{{"a"}, {"a"}, {"a"}}, []string{"a"}},
		{"one shard", [][]string{nil, {"a"}, nil}, []string{"(shard 2/3) a"}},
		{"some shards", [][]string{{"a", "b"}, nil, {"b", "a"}}, []string{"(shards 1/3, 3/3) a", "(shards 1/3, 3/3) b"}},
		{"mixed", [][]string{{"a"}, {"a", "c"}, {"a"}}, []string{"a", "(shard 2/3) c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeHostNotes(names, tt.notes); !slices.Equal(got, tt.want) {
				t.Errorf("mergeHostNotes = %q, want %q", got, tt.want)
			}
		})
	}
	if got := hostNotes("", "x", "", "y"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("hostNotes = %q", got)
	}
}
