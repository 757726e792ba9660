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
	"github.com/qedharness/qedharness/impl/sim"
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
	dev, err := sim.Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	return func(gen int) (*impl.Image, func() int64, error) {
		sim, err := sim.New(files, dev, int64(gen))
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
	backing := BackingContent(size / 2 / SectorSize)
	disk := model.Disk{BackingSectors: size / 2 / SectorSize}
	bufs := make([][]byte, depth)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	run := func(seed uint64, record bool) runTime {
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
// with and without a Recorder wrapping the image through RunConfig.Wrap;
// paired as BenchmarkRecorder. The recorded run ends by handing its
// history on: with handoff=history as Recorder.History, converted to
// Events; with handoff=log as Recorder.Log, as runbench hands it to
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
					cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: BackendSim, Device: dev, QD: 32, Seed: int64(seed), Pages: pages}
					if record {
						cfg.Wrap = func(open Opener) (Submitter, error) {
							return NewRecorder(p.Disk(), open)
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
						rec := res.Submitter.(*Recorder)
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
	cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: BackendSim, Device: nvme(b), QD: 32, Seed: 1}
	cfg.Wrap = func(open Opener) (Submitter, error) {
		return NewRecorder(p.Disk(), open)
	}
	res, err := Run(cfg)
	if err != nil {
		b.Fatal(err)
	}
	l := res.Submitter.(*Recorder).Log()
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

// TestRecorderSeen runs random reads and writes of 1 to 16 sectors
// through a Recorder, over a backing file with corrupt, torn and zeroed
// sectors, and requires every read's Seen to be what DecodeSectors finds
// in its buffer on completion, with History called midway as well.
func TestRecorderSeen(t *testing.T) {
	const size = 1 << 20
	backingSectors := uint64(size / 2 / SectorSize)
	backing := BackingContent(backingSectors)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := backing[rng.Uint64N(backingSectors)*SectorSize:][:SectorSize]
		switch rng.IntN(3) {
		case 0:
			s[sumOffset] ^= 1
			s[tailOffset+sumOffset] ^= 1 // corrupt
		case 1:
			other := make([]byte, SectorSize)
			EncodeTag(other, model.BackingTag(0))
			copy(s[SectorSize/2:], other[SectorSize/2:]) // torn
		case 2:
			clear(s) // zero
		}
	}
	rec, err := NewRecorder(model.Disk{BackingSectors: backingSectors}, simOpener(t, size, backing, model.Overlap{}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]Decoded{} // request ID -> what the read found
	faults := 0
	var mid History
	var midLog *Log
	issued := 0
	var next func(*impl.Request)
	done := func(q *impl.Request) {
		if q.Err != nil {
			t.Fatal(q.Err)
		}
		if q.Op == impl.ReqRead {
			want[q.ID] = DecodeSectors(nil, q.Buf)
			for _, d := range want[q.ID] {
				if d.Fault != FaultNone {
					faults++
				}
			}
		}
		if issued == 1500 {
			mid, midLog = rec.History(), rec.Log() // a conversion midway
		}
		next(q)
	}
	next = func(q *impl.Request) {
		if issued == 3000 {
			return
		}
		issued++
		n := 1 + rng.IntN(16)
		*q = impl.Request{Op: impl.ReqRead, Off: rng.Uint64N(size/SectorSize-16) * SectorSize, Buf: q.Buf[:n*SectorSize], Done: done}
		if rng.IntN(3) == 0 {
			q.Op = impl.ReqWrite
		}
		rec.Submit(q)
	}
	reqs := make([]impl.Request, 8)
	for i := range reqs {
		reqs[i].Buf = make([]byte, 16*SectorSize)
		next(&reqs[i])
	}
	rec.Run()
	h := rec.History()
	reads := 0
	for _, ev := range h.Events {
		if ev.Kind != Return || ev.Seen == nil {
			continue
		}
		reads++
		if w, ok := want[ev.Req]; !ok || !slices.Equal(ev.Seen, w) {
			t.Fatalf("read %d (request %d) saw %v, want %v", ev.ID, ev.Req, ev.Seen, w)
		}
	}
	if reads != len(want) || reads < 1500 || faults == 0 {
		t.Fatalf("%d reads in the history, %d completed, %d faulty sectors read", reads, len(want), faults)
	}
	// Snapshots convert to the same events, and a later one extends an
	// earlier one.
	if l := rec.Log(); !reflect.DeepEqual(l.History(), h) || l.Ops() != h.Ops() || l.Disk() != h.Disk {
		t.Errorf("Log().History() differs from History()")
	}
	n := len(mid.Events)
	if n == 0 || !reflect.DeepEqual(mid.Events, h.Events[:n]) || !reflect.DeepEqual(midLog.History(), mid) {
		t.Errorf("the history of %d events taken midway is not a prefix of the final one", n)
	}
}

// TestRecorderErrors requires failed requests to return with their error
// and no Seen, in History and in Log().History() alike, and the IDs of
// calls and returns to match.
func TestRecorderErrors(t *testing.T) {
	const size = 1 << 20
	rec, err := NewRecorder(model.Disk{}, simOpener(t, size, nil, model.Overlap{}))
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*impl.Request{
		{Op: impl.ReqRead, Off: size, Buf: make([]byte, SectorSize)},  // past the end: fails
		{Op: impl.ReqWrite, Off: 0, Buf: make([]byte, 2*SectorSize)},  // ok
		{Op: impl.ReqWrite, Off: size, Buf: make([]byte, SectorSize)}, // past the end: fails
		{Op: impl.ReqRead, Off: 0, Buf: make([]byte, 3*SectorSize)},   // ok
	}
	for _, q := range reqs {
		rec.Submit(q)
		rec.Run()
	}
	h := rec.History()
	if !reflect.DeepEqual(rec.Log().History(), h) {
		t.Errorf("Log().History() differs from History()")
	}
	want := []struct{ prefix, has string }{
		{"call 1 read s2048+1", ""}, {"return 1", "err="}, {"call 2 write s0+2", ""}, {"return 2", "req="},
		{"call 3 write s2048+1", ""}, {"return 3", "err="}, {"call 4 read s0+3", ""}, {"return 4", "saw="},
	}
	if len(h.Events) != len(want) {
		t.Fatalf("history:\n%s", historyText(h))
	}
	for i, ev := range h.Events {
		s := ev.String()
		if !strings.HasPrefix(s, want[i].prefix) || !strings.Contains(s, want[i].has) {
			t.Errorf("event %d is %q, want %q ... %q", i, s, want[i].prefix, want[i].has)
		}
		if ev.Kind == Return && (ev.Err != "") != (reqs[ev.ID-1].Err != nil) {
			t.Errorf("event %d is %q, but request %d failed with %v", i, s, ev.ID, reqs[ev.ID-1].Err)
		}
	}
	if got := h.Events[7].Seen; len(got) != 3 || got[0].Tag != model.WriteTag(2, 0) || got[2].Tag != model.ZeroTag() {
		t.Errorf("read 4 saw %v", got)
	}
}
