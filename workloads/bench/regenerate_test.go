package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestTableOrder checks the tables list sim before file, sim presets in
// the run's order, depths ascending and policies in registry order.
func TestTableOrder(t *testing.T) {
	res := &results.Results{
		Provenance: results.Provenance{Workloads: []string{"b", "a"}, Devices: []results.DeviceInfo{{Name: "nvme"}, {Name: "hdd"}}},
		Runs: []results.Record{
			{Workload: "a", Backend: "sim", Device: "nvme", QD: 1, Policy: "serial"},
			{Workload: "b", Backend: "file", Device: "ext4", QD: 1, Policy: "overlap"},
			{Workload: "b", Backend: "file", Device: "ext4", QD: 1, Policy: results.BaselineQED},
			{Workload: "b", Backend: "sim", Device: "hdd", QD: 32, Policy: "overlap"},
			{Workload: "b", Backend: "sim", Device: "hdd", QD: 4, Policy: "overlap"},
			{Workload: "b", Backend: "sim", Device: "nvme", QD: 4, Policy: "overlap"},
			{Workload: "b", Backend: "sim", Device: "nvme", QD: 4, Policy: "serial"},
		},
	}
	var got []string
	for _, c := range tableOrder(res) {
		got = append(got, fmt.Sprintf("%s/%s/%s/%d/%s", c.Workload, c.Backend, c.Device, c.QD, c.Policy))
	}
	want := []string{
		"b/sim/nvme/4/serial", "b/sim/nvme/4/overlap", "b/sim/hdd/4/overlap", "b/sim/hdd/32/overlap",
		"b/file/ext4/1/overlap", "b/file/ext4/1/" + results.BaselineQED, "a/sim/nvme/1/serial",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order\n%v\nwant\n%v", got, want)
	}
}

// TestBaselineNotes checks Report recomputes the run's notes on
// the baselines from the jobs its provenance holds.
func TestBaselineNotes(t *testing.T) {
	jobs, err := workloads.StandardJobs()
	if err != nil {
		t.Fatal(err)
	}
	res := &results.Results{Provenance: results.Provenance{Jobs: map[string]string{}}}
	var plans []*workloads.Plan
	for _, j := range jobs {
		p, err := j.Plan()
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
		res.Provenance.Workloads = append(res.Provenance.Workloads, j.Name)
		res.Provenance.Jobs[j.Name] = j.String()
	}
	if got := baselineNotes(res); got != nil {
		t.Errorf("notes %q for a run without baselines", got)
	}
	res.Runs = []results.Record{{Policy: results.BaselineQED, Backend: "file"}}
	want := workloads.BaselineNotes(plans)
	if got := baselineNotes(res); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("notes\n%q\nwant\n%q", got, want)
	}
}
