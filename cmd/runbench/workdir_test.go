package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sentinelNames are the names of the files the file backend and the
// qemu-img baselines write (and a name of the pattern of the directories
// they make): runbench once wrote these in -dir itself, overwrote what
// was there and then removed it.
var sentinelNames = []string{"backing.raw", "baseline.img", "image.qed", "runbench-keep"}

// putSentinels fills dir with a file under each of sentinelNames and
// returns a function that fails t unless dir holds exactly those files,
// unchanged.
func putSentinels(t *testing.T, dir string) (check func()) {
	t.Helper()
	for _, name := range sentinelNames {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("sentinel "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, sentinelNames) {
			t.Errorf("-dir holds %q afterwards, want exactly the sentinels %q", names, sentinelNames)
		}
		for _, name := range sentinelNames {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "sentinel "+name {
				t.Errorf("sentinel %s: %q, %v; want it unchanged", name, b, err)
			}
		}
	}
}

// TestDirKeepsFiles runs the file backend (and the qemu-img baselines)
// with -dir holding files of the names they use: runbench works in a
// directory of its own inside -dir, leaves the files alone and leaves
// nothing behind (issue 12, item 6).
func TestDirKeepsFiles(t *testing.T) {
	tests := []struct {
		name      string
		baselines string
		qemuImg   bool
	}{
		{"policies", "none", false},
		{"baselines", "auto", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath("qemu-img"); tt.qemuImg && err != nil {
				t.Skip("skipping: qemu-img is not installed (Debian package qemu-utils), so no baseline runs")
			}
			dir := t.TempDir()
			check := putSentinels(t, dir)
			var stdout, stderr bytes.Buffer
			args := []string{"-verdicts=false", "-backend", "file", "-dir", dir, "-baselines", tt.baselines, "-workloads", "backing-cow,rewrite",
				"-policies", "overlap", "-qd", "1,4", "-repeat", "1", "-warmup", "0", "-set", "size=1m,ops=16",
				"-out", filepath.Join(t.TempDir(), "res"), "-noplots"}
			if code := run(args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if tt.qemuImg && !strings.Contains(stdout.String(), "qemu-qed") {
				t.Errorf("no baseline in the table:\n%s", stdout.String())
			}
			check()
		})
	}
}

// TestHelperRunbench is runbench in a child process, for
// TestInterruptRemovesWorkdir: it runs the arguments in
// RUNBENCH_HELPER_ARGS (separated by newlines), and skips otherwise.
func TestHelperRunbench(t *testing.T) {
	args := os.Getenv("RUNBENCH_HELPER_ARGS")
	if args == "" {
		t.Skip("skipping: runs only as TestInterruptRemovesWorkdir's child")
	}
	os.Exit(run(strings.Split(args, "\n"), os.Stdout, os.Stderr))
}

// TestInterruptRemovesWorkdir interrupts runbench during file-backend
// runs: it removes its directory in -dir, leaves the rest of -dir alone
// and exits with 128 plus the signal's number.
func TestInterruptRemovesWorkdir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipping: no SIGINT to send on windows")
	}
	tests := []struct {
		sig  syscall.Signal
		code int
		say  string
	}{
		{syscall.SIGINT, 130, "interrupt; removed "},
		{syscall.SIGTERM, 143, "terminated; removed "},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			check := putSentinels(t, dir)
			args := []string{"-verdicts=false", "-backend", "file", "-dir", dir, "-baselines", "none", "-workloads", "first-touch",
				"-policies", "overlap", "-qd", "4", "-repeat", "100000", "-warmup", "0", "-linearizability", "none",
				"-out", filepath.Join(t.TempDir(), "res"), "-noplots"}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRunbench$")
			cmd.Env = append(os.Environ(), "RUNBENCH_HELPER_ARGS="+strings.Join(args, "\n"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until runbench has made its directory and a run has made
			// its own in it.
			deadline := time.Now().Add(60 * time.Second)
			for {
				runs, _ := filepath.Glob(filepath.Join(dir, "runbench-*", "runbench-*"))
				if len(runs) > 0 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("no run directory appeared in %s; stderr:\n%s", dir, stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("runbench did not exit after %v; stderr:\n%s", tt.sig, stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.code {
				t.Errorf("exit %v, want status %d; stderr:\n%s", err, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.say+dir) {
				t.Errorf("stderr does not say %q:\n%s", tt.say+dir, stderr.String())
			}
			check()
		})
	}
}
