package history

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

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
		files.Backing = impl.NewMemStorageFrom(backing)
		co.BackingFile = "backing.raw"
	}
	if err := impl.Create(files.Image, size, co); err != nil {
		t.Fatal(err)
	}
	dev, err := sim.Preset("nvme")
	if err != nil {
		t.Fatal(err)
	}
	return SimOpener(files, dev, impl.Options{Policy: policy}, 0)
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
