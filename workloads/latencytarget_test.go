package workloads

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestLatTargetSteps checks fio's stepping (lat_target_success and
// __lat_target_failed) on a sequence of windows met (true) and missed,
// up to a depth of 16: doubling until a miss, then bisecting between
// the last depth met and the first missed; a depth that stays runs a
// final window, after which the search is done.
func TestLatTargetSteps(t *testing.T) {
	tests := []struct {
		name    string
		windows []bool
		depths  []int // the depth after each window
		done    bool
	}{
		// 1, 2, 4, 8 met, 16 missed: 12 missed, 10 met, 11 missed, then
		// 10 stays (10+1 is the high bound): the final window, then done.
		{"bisect", []bool{true, true, true, true, false, false, true, false, true, true}, []int{2, 4, 8, 16, 12, 10, 11, 10, 10, 10}, true},
		// At the run's depth the doubling stops: 16 stays.
		{"all met", []bool{true, true, true, true, true, true}, []int{2, 4, 8, 16, 16, 16}, true},
		// A miss at depth 1 changes nothing.
		{"missed at 1", []bool{false, false}, []int{1, 1}, false},
		// 4 missed: low 2, so 3; 3 missed: 3 is not low (2), so
		// (3+2)/2 = 2; 2 met: 2+1 is the high bound (3), qd stays.
		{"down to the last met", []bool{true, true, false, false, true, true}, []int{2, 4, 3, 2, 2, 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLatTarget(LatencyTarget{Target: time.Millisecond, Window: time.Second, Percentile: 99}, 16, 0)
			var depths []int
			now := int64(0)
			for _, met := range tt.windows {
				now += int64(time.Second)
				l.ios += 100
				if !met {
					l.failed = 50
				}
				l.check(now)
				if l.quiesce { // nothing in flight: the quiescing ends at once
					l.quiesce, l.restart = false, false
					l.newCycle(now)
				}
				depths = append(depths, l.qd)
			}
			if !slices.Equal(depths, tt.depths) || l.done != tt.done {
				t.Errorf("depths %v done %v, want %v done %v", depths, l.done, tt.depths, tt.done)
			}
		})
	}
}

// latencyDevice is a sim device serving one request at a time in 100µs
// (a microsecond more for a 4k transfer), so that a request at queue
// depth d waits about d*101µs.
func latencyDevice() sim.Device {
	return sim.Device{Name: "one-channel", ReadLatency: 100_000, WriteLatency: 100_000, FlushLatency: 100_000,
		Bandwidth: 4 << 30, Parallelism: 1}
}

// TestRunLatencyTarget runs fio's latency_target search on sim against
// latencyDevice: with a target of 450µs, depth 4 (about 404µs) is the
// deepest that meets it and 5 (505µs) misses.
func TestRunLatencyTarget(t *testing.T) {
	base := map[string]string{"rw": "randread", "size": "1m", "prefill": "1", "time_based": "1", "runtime": "20s",
		"iodepth": "16", "latency_target": "450", "latency_window": "100ms", "latency_percentile": "99"}
	tests := []struct {
		name  string
		set   map[string]string
		depth int
		err   string
		// the run's figures are the final window's: at most this long
		nanos time.Duration
	}{
		{"finds depth 4", nil, 4, "", 110 * time.Millisecond},
		{"iodepth bounds it", map[string]string{"iodepth": "3"}, 3, "", 110 * time.Millisecond},
		{"after ramp_time", map[string]string{"ramp_time": "1s"}, 4, "", 110 * time.Millisecond},
		// A target no request can meet at depth 1 fails the run with
		// latency_percentile=100, as fio's lat_fatal.
		{"unmeetable at 100", map[string]string{"latency_target": "50", "latency_percentile": "100"}, 0, "latency_target", 0},
		// latency_run keeps adjusting until the runtime is up: fio's three
		// stable windows at 4 raise the high bound to 6, so 5 is tried
		// (and missed) again; the run ends at 4, its requests in flight
		// completing after the runtime.
		{"latency_run", map[string]string{"latency_run": "1", "runtime": "2s"}, 4, "", 2*time.Second + time.Millisecond},
		// Otherwise depth 1 stays and the runtime ends the run.
		{"unmeetable at 99", map[string]string{"latency_target": "50", "runtime": "1s"}, 1, "", time.Second + 100*time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := maps.Clone(base)
			maps.Copy(set, tt.set)
			p := mustPlan(t, "lt", set)
			qd, _ := p.JobQD()
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: latencyDevice(), QD: qd, Seed: 1})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.LatencyTargetDepth != tt.depth {
				t.Errorf("depth %d, want %d", res.LatencyTargetDepth, tt.depth)
			}
			if d := time.Duration(res.Nanos); d > tt.nanos || res.Ops == 0 {
				t.Errorf("measured %v (%d ops), want at most %v", d, res.Ops, tt.nanos)
			}
			rec := NewRecord(results.Config{}, 1, 1, &res)
			if rec.LatencyTargetDepth != tt.depth {
				t.Errorf("record's latency_target_depth %d, want %d", rec.LatencyTargetDepth, tt.depth)
			}
			t.Logf("depth %d: %d ops in %v, p99 %v, achieved qd %.2f", res.LatencyTargetDepth, res.Ops, time.Duration(res.Nanos), time.Duration(res.LatP99), res.AchievedQD)
		})
	}
}

// TestLatencyTargetRefused checks what latency_target does not combine
// with, naming it.
func TestLatencyTargetRefused(t *testing.T) {
	for _, tt := range []struct {
		set map[string]string
		key string
		msg string
	}{
		{map[string]string{"latency_target": "1ms", "numjobs": "2"}, "latency_target", "numjobs > 1"},
		{map[string]string{"latency_target": "1ms", "loops": "2"}, "latency_target", "loops"},
		{map[string]string{"latency_target": "1ms", "iodepth": "8", "iodepth_batch": "4"}, "latency_target", "batching"},
		{map[string]string{"latency_target": "1ms", "ss": "iops:1%", "ss_dur": "10s"}, "latency_target", "steadystate"},
	} {
		checkPlanError(t, tt.set, tt.key, tt.msg)
	}
}
