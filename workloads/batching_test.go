package workloads

import (
	"fmt"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// groupRecorder records how many requests are submitted at each instant
// of the run's clock, in order.
type groupRecorder struct {
	im     *impl.Image
	clock  func() int64
	last   int64
	groups []int
}

func (g *groupRecorder) Submit(r *impl.Request) {
	if now := g.clock(); len(g.groups) == 0 || now != g.last {
		g.groups, g.last = append(g.groups, 0), now
	}
	g.groups[len(g.groups)-1]++
	g.im.Submit(r)
}

// TestRunBatching checks fio's batching on sim by the groups of requests
// submitted at one instant: the sim device completes requests at
// distinct times, so without batching every completion is refilled on
// its own.
func TestRunBatching(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]string
		groups string // the first groups
		slower bool   // latency above the plain run's: reaped late
	}{
		{"plain", nil, "8 1 1 1 1 1", false},
		// Submitted in groups of 4, all at the start; each refill is one
		// request, which fills the queue and so is submitted.
		{"iodepth_batch", map[string]string{"iodepth_batch": "4"}, "8 1 1 1 1 1", false},
		// Reaped one by one until 2 are left, then 6 taken at once.
		{"iodepth_low", map[string]string{"iodepth_low": "2"}, "8 6 6 6 6 6", false},
		// 4 reaped at once, when 4 have completed, then 4 taken.
		{"complete_min", map[string]string{"iodepth_batch_complete_min": "4"}, "8 4 4 4 4 4", true},
		{"fio's ime.fio", map[string]string{"iodepth_batch": "4", "iodepth_batch_complete": "4"}, "8 4 4 4 4 4", true},
		// iodepth_batch_complete_max alone changes nothing here: only
		// one request has completed when the instance reaps.
		{"complete_max", map[string]string{"iodepth_batch_complete_max": "8"}, "8 1 1 1 1 1", false},
	}
	var plainLat float64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"rw": "randread", "size": "1m", "prefill": "1"}
			for k, v := range tt.set {
				set[k] = v
			}
			p := mustPlan(t, "batch", set)
			var g *groupRecorder
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 8, Seed: 1,
				Wrap: func(open history.Opener) (Submitter, error) {
					im, clock, err := open(0)
					g = &groupRecorder{im: im, clock: clock}
					return g, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reads != 256 {
				t.Errorf("%d reads, want 256", res.Reads)
			}
			total := 0
			for _, n := range g.groups {
				total += n
			}
			if total != 256 {
				t.Errorf("%d submitted, want 256", total)
			}
			var first []string
			for _, n := range g.groups[:min(6, len(g.groups))] {
				first = append(first, fmt.Sprint(n))
			}
			if got := strings.Join(first, " "); got != tt.groups {
				t.Errorf("groups submitted at one instant start %s, want %s", got, tt.groups)
			}
			if tt.name == "plain" {
				plainLat = res.LatMean
			} else if slower := res.LatMean > plainLat*1.05; slower != tt.slower {
				t.Errorf("mean latency %.0f, plain %.0f: want slower %v", res.LatMean, plainLat, tt.slower)
			}
		})
	}
}

// TestBatchingResolved checks fio's fixups of the batching keys against
// the queue depth.
func TestBatchingResolved(t *testing.T) {
	tests := []struct {
		batch, cmin, cmax, low, qd int
		want                       batchConfig
		on                         bool
	}{
		{1, 1, 0, 0, 8, batchConfig{depth: 8, batch: 1, low: 8, cmin: 1, cmax: 1}, false},
		{0, 1, 0, 0, 8, batchConfig{depth: 8, batch: 8, low: 8, cmin: 1, cmax: 1}, true},
		{16, 16, 0, 0, 8, batchConfig{depth: 8, batch: 8, low: 8, cmin: 16, cmax: 16}, true},
		{1, 0, 4, 12, 8, batchConfig{depth: 8, batch: 1, low: 8, cmin: 0, cmax: 4}, false},
		{1, 1, 0, 2, 8, batchConfig{depth: 8, batch: 1, low: 2, cmin: 1, cmax: 1}, true},
		{4, 1, 0, 0, 1, batchConfig{depth: 1, batch: 1, low: 1, cmin: 1, cmax: 1}, false},
	}
	for _, tt := range tests {
		j := DefaultJob()
		j.IODepthBatch, j.IODepthBatchCompleteMin, j.IODepthBatchCompleteMax, j.IODepthLow = tt.batch, tt.cmin, tt.cmax, tt.low
		got, on := j.batching(tt.qd)
		if got != tt.want || on != tt.on {
			t.Errorf("%+v at qd %d: %+v, %v; want %+v, %v", tt, tt.qd, got, on, tt.want, tt.on)
		}
	}
}
