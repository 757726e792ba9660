package workloads

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// benchOpener returns a history.Opener for a new image of size bytes with 4 KiB
// clusters on the nvme sim device, with backing (tagged sectors, shared,
// not copied) as its backing file.
func benchOpener(b *testing.B, size uint64, backing []byte, policy model.Policy) history.Opener {
	st := impl.NewMemStorage()
	// Reserve room for the image to grow into: MemStorage grows its
	// capacity by a quarter at a time, and the copying would otherwise
	// dominate an allocating run (Create truncates, keeping capacity).
	if err := st.Truncate(int64(2 * size)); err != nil {
		b.Fatal(err)
	}
	files := impl.Files{Image: st, Backing: impl.ReadOnlyStorage{ReaderAt: bytes.NewReader(backing), N: int64(len(backing))}}
	co := impl.CreateOptions{ClusterSize: 4096, TableSize: 1, BackingFile: "backing.raw"}
	if err := impl.Create(files.Image, size, co); err != nil {
		b.Fatal(err)
	}
	return history.SimOpener(files, nvme(b), impl.Options{Policy: policy}, 0)
}

// BenchmarkRecorder measures what recording adds to a sim run: the same
// 2,000 random 4 KiB requests (70% writes, queue depth 16, over a fresh
// 4 MiB image; each queue slot reuses its buffer, as the runner does)
// submitted to the image directly and through a history.Recorder. Each iteration
// runs both, in alternating order, so that load from other processes falls
// on both alike, and reports the wall time of each (base-ns/run,
// recorded-ns/run, medians) and the median of the paired overheads, in
// percent: medians, because a burst of load on a shared machine skews a
// mean; see pairedOverhead for the CPU-time and allocation figures. Image
// setup is not timed.
//
//	go test ./workloads -run XXX -bench Recorder -benchtime 200x
func BenchmarkRecorder(b *testing.B) {
	const (
		requests = 2000
		depth    = 16
		size     = 4 << 20
	)
	backing := history.BackingContent(size / 2 / history.SectorSize)
	disk := model.Disk{BackingSectors: size / 2 / history.SectorSize}
	bufs := make([][]byte, depth)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	run := func(seed uint64, record bool) runTime {
		open := benchOpener(b, size, backing, model.Overlap{})
		var submit func(*impl.Request)
		var drain func()
		if record {
			rec, err := history.NewRecorder(disk, open)
			if err != nil {
				b.Fatal(err)
			}
			submit, drain = rec.Submit, rec.Run
		} else {
			im, _, err := open(0)
			if err != nil {
				b.Fatal(err)
			}
			submit, drain = im.Submit, im.Run
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		issued := 0
		reqs := make([]impl.Request, depth)
		var next func(*impl.Request)
		next = func(r *impl.Request) {
			if issued == requests {
				return
			}
			issued++
			*r = impl.Request{Op: impl.ReqWrite, Off: rng.Uint64N(size/4096) * 4096, Buf: r.Buf, Done: next}
			if rng.IntN(10) < 3 {
				r.Op = impl.ReqRead
			}
			submit(r)
		}
		return timeRun(func() {
			for i := range reqs {
				reqs[i].Buf = bufs[i]
				next(&reqs[i])
			}
			drain()
		})
	}
	pairedOverhead(b, run)
}

// BenchmarkRecordedRun measures recording where it is used: a whole
// workloads.Run on the sim backend (20,000 requests at queue depth 32),
// with and without a history.Recorder wrapping the image through RunConfig.Wrap;
// paired as BenchmarkRecorder. The recorded run ends by handing its
// history on: with handoff=history as history.Recorder.History, converted to
// Events; with handoff=log as history.Recorder.Log, as runbench hands it to
// checker.CheckLog, which converts it as part of the check.
//
//	go test ./workloads -run XXX -bench RecordedRun -benchtime 40x
func BenchmarkRecordedRun(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  map[string]string
	}{
		{"workload=randrw-backing", map[string]string{"rw": "randrw", "backing": "1", "size": "16m", "ops": "20000"}},
		{"workload=first-touch-4k", map[string]string{"rw": "randwrite", "pattern": "first-touch", "cluster_size": "4k", "size": "80m", "ops": "20000"}},
	} {
		for _, handoff := range []string{"history", "log"} {
			b.Run(tc.name+"/handoff="+handoff, func(b *testing.B) {
				p, dev := mustPlan(b, "bench", tc.set), nvme(b)
				pages := &PagePool{}
				pairedOverhead(b, func(seed uint64, record bool) runTime {
					cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: dev, QD: 32, Seed: int64(seed), Pages: pages}
					if record {
						cfg.Wrap = func(open history.Opener) (Submitter, error) {
							return history.NewRecorder(p.Disk(), open)
						}
					}
					return timeRun(func() {
						res, err := Run(cfg)
						if err != nil {
							b.Fatal(err)
						}
						if !record {
							return
						}
						rec := res.Submitter.(*history.Recorder)
						ops := 0
						if handoff == "history" {
							h := rec.History()
							ops = h.Ops()
						} else {
							ops = rec.Log().Ops()
						}
						if ops == 0 {
							b.Fatal("empty history")
						}
					})
				})
			})
		}
	}
}

// BenchmarkLogHistory measures converting the log of a recorded
// randrw-backing run of 20,000 requests to a History: the work
// handoff=log of BenchmarkRecordedRun leaves to the check.
func BenchmarkLogHistory(b *testing.B) {
	p := mustPlan(b, "bench", map[string]string{"rw": "randrw", "backing": "1", "size": "16m", "ops": "20000"})
	cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(b), QD: 32, Seed: 1}
	cfg.Wrap = func(open history.Opener) (Submitter, error) {
		return history.NewRecorder(p.Disk(), open)
	}
	res, err := Run(cfg)
	if err != nil {
		b.Fatal(err)
	}
	l := res.Submitter.(*history.Recorder).Log()
	b.ReportAllocs()
	for range b.N {
		if h := l.History(); len(h.Events) == 0 {
			b.Fatal("empty history")
		}
	}
}

// runTime is what one run took: wall-clock time, the CPU time (user and
// system) of the whole process, garbage collection included, and the
// bytes it allocated.
type runTime struct {
	wall, cpu time.Duration
	bytes     uint64
}

// timeRun collects garbage, then runs f and measures it.
func timeRun(f func()) runTime {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b0 := ms.TotalAlloc
	u0, s0 := processCPU()
	start := time.Now()
	f()
	wall := time.Since(start)
	u1, s1 := processCPU()
	runtime.ReadMemStats(&ms)
	return runTime{wall, time.Duration(u1 - u0 + s1 - s0), ms.TotalAlloc - b0}
}

// pairedOverhead runs run(seed, false) and run(seed, true) b.N times each,
// alternating which goes first, and reports the median wall time of each
// and the median of the paired overheads, in percent; and the same
// overhead in process CPU time (cpu-overhead-%), which load from other
// processes on a shared machine disturbs less than wall time; and the
// bytes recording allocates per run (recorder-B/run), which load does not
// disturb at all and which cost in page faults as much as in copying.
func pairedOverhead(b *testing.B, run func(seed uint64, record bool) runTime) {
	bases, recs, ratios, cpuRatios, extra := make([]float64, b.N), make([]float64, b.N), make([]float64, b.N), make([]float64, b.N), make([]float64, b.N)
	for i := range b.N {
		first := i%2 == 0
		var base, rec runTime
		for _, record := range []bool{!first, first} {
			if t := run(uint64(i), record); record {
				rec = t
			} else {
				base = t
			}
		}
		bases[i], recs[i] = float64(base.wall), float64(rec.wall)
		ratios[i] = recs[i] / bases[i]
		cpuRatios[i] = float64(rec.cpu) / float64(max(base.cpu, 1))
		extra[i] = float64(rec.bytes) - float64(base.bytes)
	}
	b.ReportMetric(median(bases), "base-ns/run")
	b.ReportMetric(median(recs), "recorded-ns/run")
	b.ReportMetric(100*(median(ratios)-1), "overhead-%")
	b.ReportMetric(100*(median(cpuRatios)-1), "cpu-overhead-%")
	b.ReportMetric(median(extra), "recorder-B/run")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
