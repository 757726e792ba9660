package workloads

import (
	"maps"
	"math"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestSteadyStateJudge checks fio's criteria on hand-computed windows.
func TestSteadyStateJudge(t *testing.T) {
	tests := []struct {
		name   string
		ss     string
		window []uint64
		want   float64 // the criterion; NaN for NaN
		met    bool
	}{
		// mean 100, largest deviation 5: 5%.
		{"deviation pct met", "iops:10%", []uint64{100, 105, 95}, 5, true},
		{"deviation pct not met", "iops:4%", []uint64{100, 105, 95}, 5, false},
		{"deviation at the limit is not below it", "iops:5", []uint64{100, 105, 95}, 5, false},
		{"deviation absolute met", "bw:6", []uint64{100, 105, 95}, 5, true},
		// mean 5/3, largest deviation |1 - 5/3| = 2/3: 40%.
		{"deviation of a float mean", "lat:41%", []uint64{1, 2, 2}, 40, true},
		// x = 0, 1, 2: sum_x 3, sum_x2 5, sum_y 330, sum_xy 350; slope
		// (350 - 3*330/3) / (5 - 9/3) = 10; 10 of the mean 110 is 9.09%.
		{"slope pct met", "bw_slope:10%", []uint64{100, 110, 120}, 1000.0 / 110, true},
		{"slope pct not met", "bw_slope:9%", []uint64{100, 110, 120}, 1000.0 / 110, false},
		{"falling slope is judged by its size", "iops_slope:10", []uint64{120, 110, 100}, 10, false},
		{"falling slope met", "iops_slope:10.5", []uint64{120, 110, 100}, 10, true},
		// slope (6 - 3*5/3) / 2 = 0.5 over fio's integer mean 5/3 = 1: 50%
		// (30% of the true mean).
		{"slope pct over fio's integer mean", "lat_slope:40%", []uint64{1, 2, 2}, 50, false},
		{"flat window", "iops_slope:0.01%", []uint64{7, 7, 7, 7}, 0, true},
		{"zero mean never meets a percentage", "iops:10%", []uint64{0, 0, 0}, math.NaN(), false},
		{"limit 0 is never met", "iops:0", []uint64{5, 5, 5}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ss SteadyState
			if err := parseSteadyState(&ss, tt.ss); err != nil {
				t.Fatal(err)
			}
			got, met := ss.judge(tt.window)
			if met != tt.met || !(math.IsNaN(tt.want) && math.IsNaN(got) || math.Abs(got-tt.want) < 1e-9) {
				t.Errorf("judge(%v) = %v, %v; want %v, %v", tt.window, got, met, tt.want, tt.met)
			}
		})
	}
}

// TestSteadyStateParse checks the steadystate values fio takes, and the
// durations it refuses.
func TestSteadyStateParse(t *testing.T) {
	tests := []struct {
		set  map[string]string
		want string // SteadyState.String(), or the error's key for a bad one
		bad  bool
	}{
		{map[string]string{"steadystate": "iops:10%"}, "iops:10%", false},
		{map[string]string{"ss": "bw_slope:1m"}, "bw_slope:1048576", false},
		{map[string]string{"ss": "lat:500000"}, "lat:500000", false},
		{map[string]string{"ss": "iops_slope:0.1%", "ss_dur": "30s"}, "iops_slope:0.1%", false},
		{map[string]string{"ss": "lat:5ms"}, "steadystate", true},
		{map[string]string{"ss": "iops"}, "steadystate", true},
		{map[string]string{"ss": "clat:1%"}, "steadystate", true},
		{map[string]string{"ss": "iops:1%", "ss_dur": "10s", "ss_interval": "500ms"}, "steadystate_check_interval", true},
		{map[string]string{"ss": "iops:1%", "ss_dur": "10s", "ss_interval": "1500ms"}, "steadystate_check_interval", true},
		{map[string]string{"ss": "iops:1%", "ss_dur": "10s", "ss_interval": "3s"}, "steadystate_duration", true},
		{map[string]string{"ss": "iops:1%", "ss_dur": "1s"}, "steadystate_duration", true},
		// Without a duration, fio does no detection: nothing to check.
		{map[string]string{"ss": "iops:1%", "ss_interval": "500ms"}, "iops:1%", false},
	}
	for _, tt := range tests {
		j := DefaultJob()
		j.Name = "ss"
		var err error
		for _, k := range []string{"ss", "steadystate", "ss_dur", "ss_interval"} {
			if v, ok := tt.set[k]; ok && err == nil {
				err = j.Set(k, v)
			}
		}
		if err == nil {
			_, err = j.Plan()
		}
		if tt.bad {
			ke, ok := err.(*KeyError)
			if !ok || ke.Key != tt.want {
				t.Errorf("%v: error %v, want one for %s", tt.set, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.set, err)
			continue
		}
		if got := j.SteadyState.String(); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.set, got, tt.want)
		}
	}
}

// TestSSMonitor checks the samples and the check times: fio's ss_ramp
// leaves out the intervals before it, and a window of three samples is
// judged from the third.
func TestSSMonitor(t *testing.T) {
	const s = int64(time.Second)
	tests := []struct {
		name     string
		ss       SteadyState
		perSec   []int // completions spread over each second
		attained bool
		at       int64
	}{
		{"third second", SteadyState{Metric: SSIOPS, Limit: 10, Percent: true, Duration: 3 * time.Second, Interval: time.Second},
			[]int{100, 105, 95, 100}, true, 3 * s},
		// Without ss_ramp, the window 500, 100, 105 is not steady, the
		// next, 100, 105, 95, is.
		{"without ss_ramp", SteadyState{Metric: SSIOPS, Limit: 10, Percent: true, Duration: 3 * time.Second, Interval: time.Second},
			[]int{500, 100, 105, 95, 100}, true, 4 * s},
		// ss_ramp=2s leaves out the first two seconds: the first window
		// is 105, 95, 100.
		{"after ss_ramp", SteadyState{Metric: SSIOPS, Limit: 10, Percent: true, Duration: 3 * time.Second, Ramp: 2 * time.Second, Interval: time.Second},
			[]int{500, 100, 105, 95, 100}, true, 5 * s},
		{"never", SteadyState{Metric: SSIOPS, Limit: 1, Percent: true, Duration: 2 * time.Second, Interval: time.Second},
			[]int{100, 110, 100, 110}, false, 0},
		// 2s intervals: 200 and 210 completions are 100 and 105 IOPS.
		{"two-second interval", SteadyState{Metric: SSIOPS, Limit: 3, Percent: true, Duration: 4 * time.Second, Interval: 2 * time.Second},
			[]int{100, 100, 105, 105}, true, 4 * s},
		// 4k each: bandwidth 4096 * IOPS.
		{"bandwidth", SteadyState{Metric: SSBW, Limit: 4096*5 + 1, Duration: 2 * time.Second, Interval: time.Second},
			[]int{100, 110}, true, 2 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const start = 7 * s
			m := newSSMonitor(tt.ss, start)
			for sec, n := range tt.perSec {
				for i := range n {
					at := start + int64(sec)*s + int64(i)*s/int64(n)
					if m.ended(at) {
						break
					}
					m.add(impl.ReqRead, 4096, 1000)
					m.add(impl.ReqFlush, 0, 1000) // not counted
				}
			}
			m.advance(start + int64(len(tt.perSec))*s)
			if m.attained != tt.attained || m.attained && m.at-start != tt.at {
				t.Errorf("attained %v at %v, want %v at %v", m.attained, time.Duration(m.at-start), tt.attained, time.Duration(tt.at))
			}
		})
	}
}

// TestRunSteadyState runs jobs on sim whose rate is flat (rate_iops), so
// that a criterion must be met once the window is full, and one that
// cannot be met, which runs to its runtime.
func TestRunSteadyState(t *testing.T) {
	base := map[string]string{"rw": "randread", "size": "1m", "rate_iops": "200", "time_based": "1", "runtime": "5s",
		"steadystate_duration": "2s"}
	tests := []struct {
		name   string
		set    map[string]string
		steady time.Duration // 0: not attained
		nanos  [2]time.Duration
	}{
		{"iops", map[string]string{"ss": "iops:1%"}, 2 * time.Second, [2]time.Duration{1990 * time.Millisecond, 2 * time.Second}},
		{"iops_slope", map[string]string{"ss": "iops_slope:0.5%"}, 2 * time.Second, [2]time.Duration{1990 * time.Millisecond, 2 * time.Second}},
		{"after ss_ramp", map[string]string{"ss": "bw:1%", "ss_ramp": "1500ms"}, 4 * time.Second, [2]time.Duration{3990 * time.Millisecond, 4 * time.Second}},
		{"after ramp_time", map[string]string{"ss": "iops:1%", "ramp_time": "1s"}, 2 * time.Second, [2]time.Duration{1990 * time.Millisecond, 2 * time.Second}},
		{"each instance", map[string]string{"ss": "iops:1%", "numjobs": "2"}, 2 * time.Second, [2]time.Duration{1990 * time.Millisecond, 2 * time.Second}},
		{"the group", map[string]string{"ss": "iops:1%", "numjobs": "2", "group_reporting": "1"}, 2 * time.Second, [2]time.Duration{1990 * time.Millisecond, 2 * time.Second}},
		{"never met", map[string]string{"ss": "iops:0"}, 0, [2]time.Duration{4990 * time.Millisecond, 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := maps.Clone(base)
			maps.Copy(set, tt.set)
			p := mustPlan(t, "ss", set)
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 1, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(res.SteadyStateNanos) != tt.steady {
				t.Errorf("steady state at %v, want %v", time.Duration(res.SteadyStateNanos), tt.steady)
			}
			if d := time.Duration(res.Nanos); d < tt.nanos[0] || d > tt.nanos[1] {
				t.Errorf("ran %v (%d ops), want %v to %v", d, res.Ops, tt.nanos[0], tt.nanos[1])
			}
			rec := NewRecord(results.Config{}, 1, 1, &res)
			if rec.SteadyStateSecs != float64(tt.steady)/1e9 {
				t.Errorf("record's steady_state_seconds %v, want %v", rec.SteadyStateSecs, tt.steady.Seconds())
			}
		})
	}
}
