package checker

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestCheckLog records a run and requires CheckLog on its log to judge
// what Check on its History judges, for a linearizable run and for the
// same run with a backing file one sector short, whose reads past it the
// checker must reject as unknown tags.
func TestCheckLog(t *testing.T) {
	j := workloads.DefaultJob()
	for k, v := range map[string]string{"rw": "randrw", "backing": "1", "size": "1m", "ops": "400"} {
		if err := j.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	p, err := j.Plan()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sim.Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	res, err := workloads.Run(workloads.RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: dev, QD: 8, Seed: 1,
		Wrap: func(open history.Opener) (workloads.Submitter, error) {
			return history.NewRecorder(p.Disk(), open)
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Submitter.(*history.Recorder)
	opts := Options{Timeout: 20 * time.Second}
	want, werr := Check(rec.History(), opts)
	got, gerr := CheckLog(rec.Log(), opts)
	if werr != nil || gerr != nil || want.Verdict != Ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("CheckLog = %+v, %v; Check = %+v, %v; want both Ok and equal", got, gerr, want, werr)
	}

	// A read of a corrupt backing sector: both reject the history alike.
	backing := history.BackingContent(16)
	backing[3*history.SectorSize+30] ^= 1
	backing[4*history.SectorSize-2] ^= 1
	files := impl.Files{Image: impl.NewMemStorage(), Backing: impl.NewMemStorageFrom(backing)}
	if err := impl.Create(files.Image, 1<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1, BackingFile: "backing.raw"}); err != nil {
		t.Fatal(err)
	}
	bad, err := history.NewRecorder(model.Disk{BackingSectors: 16}, history.SimOpener(files, dev, impl.Options{Policy: model.Overlap{}}, 0))
	if err != nil {
		t.Fatal(err)
	}
	bad.Submit(&impl.Request{Op: impl.ReqRead, Off: 0, Buf: make([]byte, 8*history.SectorSize)})
	bad.Run()
	_, werr = Check(bad.History(), opts)
	_, gerr = CheckLog(bad.Log(), opts)
	var ie *InputError
	if !errors.As(werr, &ie) || ie.Problem != CorruptTag || gerr == nil || gerr.Error() != werr.Error() {
		t.Errorf("corrupt sector: CheckLog: %v; Check: %v; want the same corrupt-tag error", gerr, werr)
	}
}

// TestCheckReopenRun records runs of a job with reopen_every, read back
// after the last reopen, on every backend: each history holds its
// reopens and must be linearizable, and the same history with one write
// lost across the reopens (a read-back seeing the sector's initial
// content) must not be.
func TestCheckReopenRun(t *testing.T) {
	dev, err := sim.Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		backend string
		policy  model.Policy
	}{
		{results.BackendSim, model.Overlap{}},
		{results.BackendSim, model.FreezeAny{}},
		{results.BackendMem, model.Overlap{}},
		{results.BackendFile, model.Overlap{}},
	} {
		t.Run("backend="+tc.backend+"/policy="+tc.policy.Name(), func(t *testing.T) {
			j := workloads.DefaultJob()
			j.Name = "reopen"
			for k, v := range map[string]string{"rw": "randrw", "backing": "1", "cluster_size": "4k", "size": "512k", "ops": "300", "fsync": "16", "reopen_every": "40"} {
				if err := j.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			p, err := j.Plan()
			if err != nil {
				t.Fatal(err)
			}
			res, err := workloads.Run(workloads.RunConfig{Plan: p, Policy: tc.policy, Backend: tc.backend, Device: dev, QD: 8, Seed: 2,
				Dir: t.TempDir(), ReadBack: true,
				Wrap: func(open history.Opener) (workloads.Submitter, error) { return history.NewRecorder(p.Disk(), open) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reopens == 0 {
				t.Fatal("the run never reopened the image")
			}
			h := res.Submitter.(*history.Recorder).Log().History()
			reopens := 0
			for _, ev := range h.Events {
				if ev.Kind == history.Call && ev.Action == history.ActReopen {
					reopens++
				}
			}
			if reopens != res.Reopens {
				t.Errorf("history has %d reopens, the run made %d", reopens, res.Reopens)
			}
			opts := Options{Timeout: 20 * time.Second}
			if r, err := Check(h, opts); err != nil || r.Verdict != Ok {
				t.Fatalf("run with %d reopens: verdict %v, %v; want Ok", res.Reopens, r.Verdict, err)
			}
			if _, ok := breakHistory(&h); !ok {
				t.Fatal("no read-back to break")
			}
			if r, err := Check(h, opts); err != nil || r.Verdict != Illegal {
				t.Errorf("run with a write lost across its reopens: verdict %v, %v; want Illegal", r.Verdict, err)
			}
		})
	}
}
