package results

import (
	"math"
	"strings"
	"testing"
)

// TestHarnessCost checks what the harness cost is summed over: successful
// sim runs for the speed, and the file backend's policy runs at queue
// depth 32 (or the deepest) for the CPU share, of which the median.
func TestHarnessCost(t *testing.T) {
	rec := func(backend, policy string, qd int, user, secs float64, failed bool) Record {
		r := Record{Backend: backend, Policy: policy, QD: qd, CPUUserSecs: user, Seconds: secs}
		if failed {
			r.Error = "boom"
		}
		return r
	}
	type file struct {
		qd, runs         int
		median, min, max float64
	}
	tests := []struct {
		name string
		runs []Record
		want file
	}{
		{"none", []Record{rec("sim", "overlap", 32, 0, 1, false)}, file{}},
		{"qd 32 only", []Record{
			rec("file", "overlap", 32, 0.05, 1, false),
			rec("file", "serial", 32, 0.02, 1, false),
			rec("file", "freeze-any", 32, 0.30, 2, false),
			rec("file", "overlap", 64, 0.9, 1, false),   // another depth
			rec("file", BaselineQED, 32, 0.9, 1, false), // a baseline
			rec("file", "overlap", 32, 0.9, 1, true),    // failed
			rec("sim", "overlap", 32, 0.9, 1, false),    // not file
		}, file{qd: 32, runs: 3, median: 5, min: 2, max: 15}},
		{"deepest without 32", []Record{
			rec("file", "overlap", 4, 0.5, 1, false),
			rec("file", "overlap", 16, 0.01, 1, false),
			rec("file", "serial", 16, 0.03, 1, false),
		}, file{qd: 16, runs: 2, median: 2, min: 1, max: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := HarnessCostOf(tt.runs)
			got := file{h.FileQD, h.FileRuns, h.FileUserMedian, h.FileUserMin, h.FileUserMax}
			const eps = 1e-9
			if got.qd != tt.want.qd || got.runs != tt.want.runs || math.Abs(got.median-tt.want.median) > eps || math.Abs(got.min-tt.want.min) > eps || math.Abs(got.max-tt.want.max) > eps {
				t.Errorf("file CPU = %+v, want %+v", got, tt.want)
			}
		})
	}

	sim := []Record{
		{Backend: "sim", Ops: 100, HostIOsPerOp: 2, WallSeconds: 1, IOWallSeconds: 0.5, CheckWallSeconds: 0.25},
		{Backend: "sim", Ops: 50, HostIOsPerOp: 1, WallSeconds: 0.5, IOWallSeconds: 0.25},
		{Backend: "sim", Ops: 50, HostIOsPerOp: 1, WallSeconds: 9, IOWallSeconds: 9, Error: "boom"},
		{Backend: "file", Ops: 50, HostIOsPerOp: 1, WallSeconds: 9, IOWallSeconds: 9},
	}
	h := HarnessCostOf(sim)
	if h.SimIOs != 250 || h.SimSeconds != 1.5 || h.SimIOSeconds != 0.75 || h.SimCheckSeconds != 0.25 {
		t.Errorf("sim cost %+v, want 250 I/Os in 1.5 s, 0.75 s of loop, 0.25 s of checks", h)
	}
	lines := h.Lines("")
	if len(lines) != 1 || !strings.Contains(lines[0], "I/O loop 0.00M per wall second (0.75s); runs 0.00M per wall second (1.25s") {
		t.Errorf("Lines = %q", lines)
	}
}
