package workloads

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// simOpener returns an Opener for a new image of size bytes on the sim
// backend, with backing (tagged sectors) as its backing file if not nil.
func simOpener(t testing.TB, size uint64, backing []byte, policy model.Policy) Opener {
	t.Helper()
	st := impl.NewMemStorage()
	// Reserve room for the image to grow into: MemStorage grows its
	// capacity by a quarter at a time, and the copying would otherwise
	// dominate an allocating run (Create truncates, keeping capacity).
	if err := st.Truncate(int64(2 * size)); err != nil {
		t.Fatal(err)
	}
	files := impl.Files{Image: st}
	co := impl.CreateOptions{ClusterSize: 4096, TableSize: 1}
	if backing != nil {
		files.Backing = sharedBytes(backing)
		co.BackingFile = "backing.raw"
	}
	if err := impl.Create(files.Image, size, co); err != nil {
		t.Fatal(err)
	}
	dev, err := impl.DevicePreset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	return func(gen int) (*impl.Image, func() int64, error) {
		sim, err := impl.NewSimBackend(files, dev, int64(gen))
		if err != nil {
			return nil, nil, err
		}
		im, err := impl.Open(files, sim, impl.Options{Policy: policy, Clock: sim.Now})
		return im, sim.Now, err
	}
}

func TestRecorder(t *testing.T) {
	rec, err := NewRecorder(model.Disk{BackingSectors: 16}, simOpener(t, 1<<20, BackingContent(16), model.Overlap{}))
	if err != nil {
		t.Fatal(err)
	}
	var restored []bool
	submit := func(op impl.ReqOp, off, n uint64) *impl.Request {
		r := &impl.Request{Op: op, Off: off, Buf: make([]byte, n)}
		var done func(*impl.Request)
		done = func(q *impl.Request) {
			restored = append(restored, reflect.ValueOf(q.Done).Pointer() == reflect.ValueOf(done).Pointer())
		}
		r.Done = done
		rec.Submit(r)
		return r
	}
	submit(impl.ReqWrite, 0, 4096)     // op 1: allocates cluster 0
	submit(impl.ReqRead, 0, 4096)      // op 2: races with it
	submit(impl.ReqWrite, 16*512, 512) // op 3: past the backing file
	unaligned := submit(impl.ReqWrite, 100, 512)
	rec.Run()
	submit(impl.ReqFlush, 0, 0)     // op 4
	submit(impl.ReqRead, 0, 17*512) // op 5
	rec.Run()
	if err := rec.Reopen(); err != nil { // op 6
		t.Fatal(err)
	}
	submit(impl.ReqRead, 7*512, 2*512) // op 7
	rec.Run()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if unaligned.Err == nil || !strings.Contains(unaligned.Err.Error(), "whole 512-byte sectors") {
		t.Errorf("unaligned write: err %v", unaligned.Err)
	}
	for i, ok := range restored {
		if !ok {
			t.Errorf("Done call %d did not see the caller's callback restored", i)
		}
	}
	h := rec.History()
	calls, returns := map[uint64]Event{}, map[uint64]Event{}
	last := int64(0)
	for _, ev := range h.Events {
		if ev.Time < last {
			t.Errorf("time went back: %v after %d", ev.String(), last)
		}
		last = ev.Time
		if ev.Kind == Call {
			calls[ev.ID] = ev
		} else {
			returns[ev.ID] = ev
		}
	}
	if len(calls) != 7 || len(returns) != 7 {
		t.Fatalf("%d calls, %d returns, want 7 each:\n%s", len(calls), len(returns), historyText(h))
	}
	if calls[6].Action != ActReopen || calls[4].Action != ActFlush || calls[3].Sector != 16 || calls[3].Sectors != 1 {
		t.Errorf("calls recorded wrongly:\n%s", historyText(h))
	}
	if calls[1].Client == calls[2].Client {
		t.Errorf("concurrent ops 1 and 2 share client slot %d", calls[1].Client)
	}
	wantSeen := func(id uint64, want ...model.Tag) {
		t.Helper()
		seen := returns[id].Seen
		if len(seen) != len(want) {
			t.Fatalf("op %d saw %v, want %v", id, seen, want)
		}
		for i := range want {
			if seen[i] != (Decoded{Tag: want[i]}) {
				t.Errorf("op %d sector %d: saw %v, want %v", id, i, seen[i], want[i])
			}
		}
	}
	var all []model.Tag
	for s := range uint64(8) {
		all = append(all, model.WriteTag(1, s))
	}
	for s := uint64(8); s < 16; s++ {
		all = append(all, model.BackingTag(s))
	}
	all = append(all, model.WriteTag(3, 16))
	wantSeen(5, all...)
	wantSeen(7, model.WriteTag(1, 7), model.BackingTag(8))
	if rec.MaxAllocInFlight() < 1 {
		t.Errorf("MaxAllocInFlight = %d", rec.MaxAllocInFlight())
	}
}

func historyText(h History) string {
	var b bytes.Buffer
	h.WriteText(&b)
	return b.String()
}

func TestHistoryTextRoundTrip(t *testing.T) {
	h := History{Disk: model.Disk{BackingSectors: 16}, Events: []Event{
		{Kind: Call, ID: 1, Action: ActWrite, Sector: 8, Sectors: 2, Time: 100},
		{Kind: Call, ID: 2, Action: ActRead, Sector: 8, Sectors: 3, Client: 1, Time: 120},
		{Kind: Return, ID: 1, Time: 300, Req: 1},
		{Kind: Return, ID: 2, Time: 310, Req: 2, Seen: []Decoded{{Tag: model.WriteTag(1, 8)}, {Tag: model.BackingTag(9)}, {Fault: FaultTorn}}},
		{Kind: Call, ID: 3, Action: ActFlush, Time: 320},
		{Kind: Return, ID: 3, Time: 400, Err: `image "x" is closed`},
		{Kind: Call, ID: 4, Action: ActReopen, Time: 400},
		{Kind: Return, ID: 4, Time: 400},
	}}
	text := historyText(h)
	got, err := ParseHistory(strings.NewReader("# comment\n\n" + text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip changed the history:\n%s\n%s", text, historyText(got))
	}
}

func TestParseHistoryErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"call 0 read s0+1", "positive integer"},
		{"call 1 frobnicate", "unknown operation"},
		{"call 1 read", "without sectors"},
		{"call 1 read s0+0", "COUNT > 0"},
		{"call 1 read s0+1 colour=red", "unknown call field"},
		{"return 1 saw=w0/s1", "tag \"w0/s1\""},
		{"return 1 saw=bogus", "tag \"bogus\""},
		{"return 1 err=\"open", "unterminated"},
		{"disk size=3", "unknown disk field"},
		{"hello 1", "unknown event"},
	}
	for _, tc := range tests {
		_, err := ParseHistory(strings.NewReader("disk backing=1\n" + tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseHistory(%q) = %v, want an error on line 2 mentioning %q", tc.text, err, tc.want)
		}
	}
}

// BenchmarkRecorder measures what recording adds to a sim run: the same
// 2,000 random 4 KiB requests (70% writes, queue depth 16, over a fresh
// 4 MiB image; each queue slot reuses its buffer, as the runner does)
// submitted to the image directly and through a Recorder. Each iteration
// runs both, in alternating order, so that load from other processes falls
// on both alike, and reports the wall time of each (base-ns/run,
// recorded-ns/run, medians) and the median of the paired overheads, in
// percent: medians, because a burst of load on a shared machine skews a
// mean. Image setup is not timed.
//
//	go test ./workloads -run XXX -bench Recorder -benchtime 200x
func BenchmarkRecorder(b *testing.B) {
	const (
		requests = 2000
		depth    = 16
		size     = 4 << 20
	)
	backing := BackingContent(size / 2 / SectorSize)
	disk := model.Disk{BackingSectors: size / 2 / SectorSize}
	bufs := make([][]byte, depth)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	run := func(seed uint64, record bool) time.Duration {
		open := simOpener(b, size, backing, model.Overlap{})
		var submit func(*impl.Request)
		var drain func()
		if record {
			rec, err := NewRecorder(disk, open)
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
		runtime.GC()
		start := time.Now()
		for i := range reqs {
			reqs[i].Buf = bufs[i]
			next(&reqs[i])
		}
		drain()
		return time.Since(start)
	}
	pairedOverhead(b, run)
}

// BenchmarkRecordedRun measures recording where it is used: a whole
// workloads.Run on the sim backend (20,000 requests at queue depth 32),
// with and without a Recorder wrapping the image through RunConfig.Wrap,
// the recorded run including the History call; paired as BenchmarkRecorder.
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
		b.Run(tc.name, func(b *testing.B) {
			j := DefaultJob()
			for k, v := range tc.set {
				if err := j.Set(k, v); err != nil {
					b.Fatal(err)
				}
			}
			p, err := j.Plan()
			if err != nil {
				b.Fatal(err)
			}
			dev, err := impl.DevicePreset("nvme")
			if err != nil {
				b.Fatal(err)
			}
			pages := &PagePool{}
			pairedOverhead(b, func(seed uint64, record bool) time.Duration {
				cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: BackendSim, Device: dev, QD: 32, Seed: int64(seed), Pages: pages}
				if record {
					cfg.Wrap = func(im *impl.Image, clock func() int64) (Submitter, error) {
						return NewRecorder(p.Disk(), func(int) (*impl.Image, func() int64, error) { return im, clock, nil })
					}
				}
				runtime.GC()
				start := time.Now()
				res, err := Run(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if record {
					if h := res.Submitter.(*Recorder).History(); h.Ops() == 0 {
						b.Fatal("empty history")
					}
				}
				return time.Since(start)
			})
		})
	}
}

// pairedOverhead runs run(seed, false) and run(seed, true) b.N times each,
// alternating which goes first, and reports the median time of each and
// the median of the paired overheads, in percent.
func pairedOverhead(b *testing.B, run func(seed uint64, record bool) time.Duration) {
	bases, recs, ratios := make([]float64, b.N), make([]float64, b.N), make([]float64, b.N)
	for i := range b.N {
		first := i%2 == 0
		for _, record := range []bool{!first, first} {
			d := float64(run(uint64(i), record).Nanoseconds())
			if record {
				recs[i] = d
			} else {
				bases[i] = d
			}
		}
		ratios[i] = recs[i] / bases[i]
	}
	b.ReportMetric(median(bases), "base-ns/run")
	b.ReportMetric(median(recs), "recorded-ns/run")
	b.ReportMetric(100*(median(ratios)-1), "overhead-%")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
