package workloads

import (
	"testing"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestPacing checks rate caps, thinktime and ramp_time in virtual time:
// how long a run takes and what it counts.
func TestPacing(t *testing.T) {
	const ms = int64(time.Millisecond)
	tests := []struct {
		name     string
		set      map[string]string
		qd       int
		ops      uint64 // measured requests; 0: do not check
		min, max int64  // Result.Nanos
	}{
		// 256 reads at 1000/s: the last goes at 255 ms.
		{"rate_iops", map[string]string{"rw": "randread", "size": "1m", "rate_iops": "1000"}, 1, 256, 255 * ms, 256 * ms},
		{"rate_iops deep", map[string]string{"rw": "randread", "size": "1m", "rate_iops": "1000"}, 16, 256, 255 * ms, 256 * ms},
		// The runtime ends the run while the third request waits.
		{"rate cut by runtime", map[string]string{"rw": "randread", "size": "1m", "rate_iops": "10", "runtime": "150ms"}, 1, 2, 100 * ms, 101 * ms},
		{"rate in bytes", map[string]string{"rw": "randread", "size": "1m", "rate": "4m"}, 4, 256, 249 * ms, 250 * ms},
		{"rate of writes only", map[string]string{"rw": "randrw", "size": "1m", "rate_iops": ",100"}, 4, 256, 1000 * ms, 1500 * ms},
		// poisson: 2000 gaps of mean 1 ms.
		{"poisson", map[string]string{"rw": "randread", "size": "8m", "ops": "2000", "rate_iops": "1000", "rate_process": "poisson"}, 8, 2000, 1800 * ms, 2200 * ms},
		// a 1 ms stall after each of 100 requests (and their 20 µs
		// latencies).
		{"thinktime", map[string]string{"rw": "randwrite", "size": "400k", "thinktime": "1ms"}, 1, 100, 99 * ms, 102 * ms},
		// As fio with an asynchronous engine: a full queue of 8, a
		// completion, the stall once all 8 are done; 13 stalls.
		{"thinktime deep", map[string]string{"rw": "randwrite", "size": "400k", "thinktime": "1ms"}, 8, 100, 12 * ms, 14 * ms},
		{"thinktime_blocks", map[string]string{"rw": "randwrite", "size": "400k", "thinktime": "1ms", "thinktime_blocks": "10"}, 1, 100, 9 * ms, 12 * ms},
		// ramp_time: 5 ms unmeasured, then the 10 ms runtime.
		{"ramp_time", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "1m", "time_based": "1", "runtime": "10ms", "ramp_time": "5ms"}, 4, 0, 10 * ms, 11 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "pace", tt.set)
			run := func() Result {
				res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: tt.qd, Seed: 5})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			res := run()
			if tt.ops != 0 && res.Ops != tt.ops {
				t.Errorf("%d requests measured, want %d", res.Ops, tt.ops)
			}
			if res.Nanos < tt.min || res.Nanos > tt.max {
				t.Errorf("run took %.3f ms, want [%d, %d] ms", float64(res.Nanos)/1e6, tt.min/ms, tt.max/ms)
			}
			if !res.Check.Clean() {
				t.Errorf("check: %s", CheckSummary(res.Check))
			}
			if again := run(); again.Nanos != res.Nanos || again.Ops != res.Ops {
				t.Errorf("the same seed ran %d ns, %d ops, then %d ns, %d ops", res.Nanos, res.Ops, again.Nanos, again.Ops)
			}
		})
	}
}

// TestRampNotMeasured checks a ramp's requests and allocations are left
// out of the figures.
func TestRampNotMeasured(t *testing.T) {
	run := func(ramp string) Result {
		p := mustPlan(t, "ramp", map[string]string{"rw": "randwrite", "size": "64m", "bs": "64k", "time_based": "1", "runtime": "20ms", "ramp_time": ramp})
		res, err := Run(RunConfig{Plan: p, Policy: model.FreezeAny{}, Backend: results.BackendSim, Device: nvme(t), QD: 4, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	without, with := run("0"), run("10ms")
	if with.Ops >= without.Ops*3/2 || with.Ops == 0 {
		t.Errorf("%d requests measured with a 10 ms ramp, %d without: the ramp's were counted", with.Ops, without.Ops)
	}
	if with.AllocatingWrites > with.Writes {
		t.Errorf("%d allocating writes of %d measured writes: the ramp's allocations were counted", with.AllocatingWrites, with.Writes)
	}
}

// TestPacingWallClock checks a paced run on a wall-clock backend sleeps
// for its requests' times, and that a clock which does not move with
// the sleep cannot make it wait forever.
func TestPacingWallClock(t *testing.T) {
	p := mustPlan(t, "wall", map[string]string{"rw": "randread", "size": "40k", "rate_iops": "100"})
	var slept time.Duration
	res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendMem, QD: 1, Seed: 1,
		WallClock: func() int64 { return 0 }, Sleep: func(d time.Duration) { slept += d }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 10 || slept != 90*time.Millisecond || res.Nanos != int64(90*time.Millisecond) {
		t.Errorf("%d ops in %d ns after sleeping %v; want 10 in 90 ms", res.Ops, res.Nanos, slept)
	}
}

// TestPacingRecorded checks a paced run records its history through a
// wrapped image, the read-back included. (The bench package's tests check
// such histories for linearizability.)
func TestPacingRecorded(t *testing.T) {
	p := mustPlan(t, "rec", map[string]string{"rw": "randrw", "size": "256k", "thinktime": "2ms", "thinktime_blocks": "4"})
	res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 4, Seed: 3, ReadBack: true,
		Wrap: func(open history.Opener) (Submitter, error) { return history.NewRecorder(p.Disk(), open) }})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Submitter.(*history.Recorder).History()
	if n := h.Ops(); n < 64 {
		t.Fatalf("%d operations recorded, want the run's 64 and the read-back's", n)
	}
}
