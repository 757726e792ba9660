package checker

import (
	"fmt"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestCheckTrimRuns records runs of fio's trim modes, as runbench
// -linearizability does (a recorder, and a read-back of everything
// written or trimmed after the run), under every policy that claims
// safety, with and without a backing file: a trim is the image's
// write-zeroes request, recorded as a write of zeros, and every history
// must be linearizable, so every read after a trim saw zeros until a
// write.
func TestCheckTrimRuns(t *testing.T) {
	dev, err := sim.Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	jobs := []map[string]string{
		{"rw": "randtrimwrite", "bs": "2k", "cluster_size": "4k", "table_size": "1", "size": "2m", "ops": "300"},
		{"rw": "randtrim", "bs": "4k,4k,8k", "cluster_size": "4k", "size": "512k", "pattern": "rewrite"},
		{"rw": "trimwrite", "bs": "8k", "cluster_size": "4k", "size": "256k", "fsync": "8"},
	}
	for _, reg := range model.Registered() {
		if reg.Expect != model.Safe {
			continue
		}
		for i, set := range jobs {
			for _, backing := range []string{"0", "1"} {
				t.Run(fmt.Sprintf("policy=%s/job=%d/backing=%s", reg.Name, i, backing), func(t *testing.T) {
					j := workloads.DefaultJob()
					j.Name = "trims"
					set["backing"] = backing
					for k, v := range set {
						if err := j.Set(k, v); err != nil {
							t.Fatal(err)
						}
					}
					p, err := j.Plan()
					if err != nil {
						t.Fatal(err)
					}
					res, err := workloads.Run(workloads.RunConfig{Plan: p, Policy: reg.Policy, Backend: results.BackendSim, Device: dev, QD: 8, Seed: 3,
						ReadBack: true,
						Wrap:     func(open history.Opener) (workloads.Submitter, error) { return history.NewRecorder(p.Disk(), open) }})
					if err != nil {
						t.Fatal(err)
					}
					if res.Trims == 0 {
						t.Fatal("the run issued no trims")
					}
					h := res.Submitter.(*history.Recorder).History()
					zeroes := 0
					for _, ev := range h.Events {
						if ev.Kind == history.Call && ev.Action == history.ActWriteZeroes {
							zeroes++
						}
					}
					if zeroes < int(res.Trims) {
						t.Errorf("history records %d write-zeroes, the run counted %d trims", zeroes, res.Trims)
					}
					got, err := Check(h, Options{Timeout: 20 * time.Second})
					if err != nil {
						t.Fatal(err)
					}
					if got.Verdict != Ok {
						t.Fatalf("verdict %v on sectors %v\n%v", got.Verdict, got.Failing, got.Counterexample)
					}
				})
			}
		}
	}
}
