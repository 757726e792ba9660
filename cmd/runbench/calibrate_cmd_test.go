package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestCalibrateBadFlags checks each bad calibrate command line exits 2
// with a message naming the flag.
func TestCalibrateBadFlags(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no dir", nil, "-dir: missing"},
		{"missing dir", []string{"-dir", filepath.Join(dir, "none")}, "is not an existing directory"},
		{"dir a file", []string{"-dir", notDir}, "is not an existing directory"},
		{"empty dir", []string{"-dir", ""}, "-dir: empty value"},
		{"stray argument", []string{"-dir", dir, "extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"bad size", []string{"-dir", dir, "-bs", "4k,6q"}, `-bs: "6q" is not a size`},
		{"unaligned size", []string{"-dir", dir, "-bs", "4k,1000"}, "size 1000 is not a positive multiple of 4096"},
		{"no qd 1", []string{"-dir", dir, "-qd", "8,32"}, "queue depth 1 missing"},
		{"bad qd", []string{"-dir", dir, "-qd", "1,x"}, `-qd: "x" is not a positive whole number`},
		{"bad region", []string{"-dir", dir, "-region", "0"}, `-region: "0" is not a size`},
		{"odd region", []string{"-dir", dir, "-region", "1536k"}, "region 1572864 bytes is not a positive multiple"},
		{"bad budget", []string{"-dir", dir, "-budget", "0s"}, "-budget: 0s, want > 0"},
		{"bad cluster", []string{"-dir", dir, "-cluster", "64q"}, `-cluster: "64q" is not a size`},
		{"odd cluster", []string{"-dir", dir, "-cluster", "6k"}, "cluster 6144 bytes is not a positive multiple of the smallest size, 4096"},
		{"no first writes", []string{"-dir", dir, "-first-writes", "0"}, "-first-writes: 0, want at least 1"},
		{"no passes", []string{"-dir", dir, "-passes", "0"}, "-passes: 0, want 1 to 100"},
		{"too many passes", []string{"-dir", dir, "-passes", "101"}, "-passes: 101, want 1 to 100"},
		{"bad aio", []string{"-dir", dir, "-aio", "posix"}, `-aio: unknown aio mode "posix"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"calibrate"}, tc.args...), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestCalibrateRun calibrates on a temporary directory holding someone
// else's file, with tiny measurements (wall clock: nothing about the
// figures is asserted), and checks the directory is left as it was, the
// report names every cell, and the preset written runs on sim under its
// name.
func TestCalibrateRun(t *testing.T) {
	dir, outDir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(dir, "theirs"), []byte("keep"), 0o644)
	preset := filepath.Join(outDir, "mine.json")
	var stdout, stderr bytes.Buffer
	args := []string{"calibrate", "-dir", dir, "-out", preset, "-name", "mine", "-region", "1m", "-bs", "4k,64k", "-qd", "1,2", "-budget", "1ms", "-first-writes", "16"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "theirs" {
		t.Errorf("calibrate left %v in the directory", ents)
	}
	for _, want := range []string{"read 4k qd1", "write 64k qd2", "flush", "first-write 4k qd2", "fitted device mine: read=", "wrote " + preset} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	dev, err := sim.LoadDevice(preset)
	if err != nil || dev.Name != "mine" {
		t.Fatalf("preset: %+v, %v", dev, err)
	}
	out := filepath.Join(outDir, "results")
	stdout.Reset()
	args = []string{"-device", preset, "-workloads", "first-touch-4k", "-policies", "overlap", "-qd", "4", "-repeat", "1", "-warmup", "0", "-verdicts=false", "-noplots", "-out", out}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 || res.Runs[0].Device != "mine" {
		t.Errorf("runs %+v, want one on device mine", res.Runs)
	}
}

// TestDeviceFlag checks -device takes presets, overrides and preset
// files, and that runs.json's provenance records each device fully:
// its entry, saved as a file, is a preset that gives the same device.
func TestDeviceFlag(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := parse([]string{"-device", "nvme,ssd:read=80us,convert=20us,jitter=0", "-out", filepath.Join(dir, "out")}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ssd, _ := sim.Preset("ssd")
	ssd.Name, ssd.ReadLatency, ssd.ConvertTime, ssd.Jitter = "ssd:read=80us,convert=20us,jitter=0", 80_000, 20_000, 0
	nvme, _ := sim.Preset("nvme")
	if want := []sim.Device{nvme, ssd}; !slices.Equal(cfg.Devices, want) {
		t.Fatalf("devices %+v, want %+v", cfg.Devices, want)
	}

	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	args := []string{"-device", "hdd:parallelism=2,convert=1ms", "-workloads", "first-touch-4k", "-policies", "freeze-any", "-qd", "2", "-repeat", "1", "-warmup", "0", "-verdicts=false", "-noplots", "-out", out}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Provenance.Devices) != 1 || len(res.Runs) != 1 || res.Runs[0].Device != "hdd:parallelism=2,convert=1ms" {
		t.Fatalf("devices %+v, runs %+v", res.Provenance.Devices, res.Runs)
	}
	entry, _ := json.Marshal(res.Provenance.Devices[0])
	again, err := sim.DecodeDevice(entry)
	want, _ := sim.ParseDevice("hdd:parallelism=2,convert=1ms")
	if err != nil || again != want {
		t.Errorf("provenance entry %s gives %+v, %v; want %+v", entry, again, err, want)
	}

	for _, tc := range []struct{ spec, want string }{
		{"nvme:reed=50us", `-device: device "nvme:reed=50us": unknown key "reed"`},
		{"nvme:read=50", `-device: device "nvme:read=50": read=50: no unit`},
		{"nvme,nvme", "-device: device \"nvme\": a device called nvme is listed already"},
		{filepath.Join(dir, "none.json"), "-device: open " + filepath.Join(dir, "none.json")},
	} {
		var stderr bytes.Buffer
		if code := run([]string{"-device", tc.spec}, &bytes.Buffer{}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("-device %s: exit %d, stderr %q; want 2 and %q", tc.spec, code, stderr.String(), tc.want)
		}
	}
}
