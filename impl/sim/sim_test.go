package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
)

// simDev is a device with round figures: 10µs for every op, 1 GB/s
// (1 ns per byte), no jitter.
func simDev(parallelism int) Device {
	return Device{
		Name:         "test",
		ReadLatency:  10_000,
		WriteLatency: 10_000,
		FlushLatency: 10_000,
		Bandwidth:    1_000_000_000,
		Parallelism:  parallelism,
	}
}

func newSim(t testing.TB, files impl.Files, dev Device, seed int64) *Backend {
	t.Helper()
	if files.Image == nil {
		files.Image = impl.NewMemStorage()
	}
	b, err := New(files, dev, seed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simDone is one completion: which I/O, at what virtual time.
type simDone struct {
	ID uint64
	At int64
}

// drain runs b until nothing is in flight, checking that time never goes
// back, and returns the completions in order.
func drain(t *testing.T, b *Backend) []simDone {
	t.Helper()
	var out []simDone
	last := b.Now()
	for io := b.Next(); io != nil; io = b.Next() {
		if io.Err != nil {
			t.Fatalf("%v: %v", io, io.Err)
		}
		if b.Now() < last {
			t.Fatalf("time went back from %d to %d", last, b.Now())
		}
		last = b.Now()
		out = append(out, simDone{io.ID, b.Now()})
	}
	return out
}

func simIO(id uint64, op impl.IOOp, off uint64, n int) *impl.IO {
	return &impl.IO{ID: id, Op: op, Off: off, Buf: make([]byte, n)}
}

func TestSimSingleIO(t *testing.T) {
	dev := Device{ReadLatency: 80_000, WriteLatency: 20_000, FlushLatency: 50_000, Bandwidth: 2_000_000_000, Parallelism: 4}
	for _, tc := range []struct {
		name string
		io   *impl.IO
		want int64
	}{
		{"read 4k", simIO(1, impl.OpRead, 0, 4096), 80_000 + 2048},
		{"write 4k", simIO(1, impl.OpWrite, 0, 4096), 20_000 + 2048},
		{"write 64k", simIO(1, impl.OpWrite, 0, 65536), 20_000 + 32768},
		{"write 3 bytes rounds up", simIO(1, impl.OpWrite, 0, 3), 20_000 + 2},
		{"read 0 bytes", simIO(1, impl.OpRead, 0, 0), 80_000},
		{"flush", simIO(1, impl.OpFlush, 0, 0), 50_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSim(t, impl.Files{}, dev, 1)
			b.Submit(tc.io)
			got := drain(t, b)
			if len(got) != 1 || got[0].At != tc.want {
				t.Fatalf("completions %v, want one at %d", got, tc.want)
			}
			if b.Next() != nil {
				t.Fatal("Next returned an I/O with none in flight")
			}
			if b.Now() != tc.want {
				t.Fatalf("Now() = %d after drain, want %d", b.Now(), tc.want)
			}
		})
	}
}

// TestSimScaling checks Device.Scaling: an I/O that starts with n
// channels busy takes its latency x n^(1-Scaling), so that at a steady
// depth n the device completes n^Scaling times as many I/Os as alone.
func TestSimScaling(t *testing.T) {
	dev := simDev(64)
	dev.Scaling = 0.5
	b := newSim(t, impl.Files{}, dev, 1)
	for i := range 4 {
		b.Submit(simIO(uint64(i+1), impl.OpWrite, uint64(i), 1))
	}
	var got []int64
	for _, d := range drain(t, b) {
		got = append(got, d.At)
	}
	// Started with 1, 2, 3 and 4 busy: 10µs x 1, √2, √3, 2, plus the
	// 1ns transfer.
	if want := []int64{10_001, 14_143, 17_321, 20_001}; !slices.Equal(got, want) {
		t.Errorf("completion times %v, want %v", got, want)
	}

	// A closed loop at depth 4: each next I/O starts with 4 busy, so the
	// device completes one per 20µs/4, twice the rate of one alone.
	b = newSim(t, impl.Files{}, dev, 1)
	const depth, n = 4, 400
	for i := range depth {
		b.Submit(simIO(uint64(i+1), impl.OpWrite, 0, 1))
	}
	for i := depth; i < n+depth; i++ {
		if b.Next() == nil {
			t.Fatal("an I/O is missing")
		}
		if i < n {
			b.Submit(simIO(uint64(i+1), impl.OpWrite, 0, 1))
		}
	}
	rate := float64(n) * 1e9 / float64(b.Now())
	if want := 2 * 1e9 / 10_001.0; rate < 0.98*want || rate > 1.01*want {
		t.Errorf("%.0f I/Os per second at depth 4, want about %.0f (2x alone)", rate, want)
	}
}

// TestSimParallelism submits n equal writes at time 0 and checks the
// sorted completion times: latencies overlap up to the parallelism,
// transfers share the link.
func TestSimParallelism(t *testing.T) {
	for _, tc := range []struct {
		name        string
		parallelism int
		n, size     int
		want        []int64
	}{
		// 10µs + 1000 bytes at 1 GB/s = 11µs each, one after another.
		{"p=1 serializes", 1, 4, 1000, []int64{11_000, 22_000, 33_000, 44_000}},
		// Four latencies overlap; with a 1-byte transfer the link is idle.
		{"p=4 overlaps", 4, 4, 1, []int64{10_001, 10_002, 10_003, 10_004}},
		// Latencies overlap, transfers queue on the link: each I/O that
		// completes frees a channel for a queued one.
		{"p=4 shares bandwidth", 4, 8, 1000, []int64{11_000, 12_000, 13_000, 14_000, 22_000, 23_000, 24_000, 25_000}},
		// Parallelism beyond the I/O count changes nothing.
		{"p=64 n=2", 64, 2, 1000, []int64{11_000, 12_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSim(t, impl.Files{}, simDev(tc.parallelism), 1)
			for i := range tc.n {
				b.Submit(simIO(uint64(i+1), impl.OpWrite, uint64(i*tc.size), tc.size))
			}
			var got []int64
			for _, d := range drain(t, b) {
				got = append(got, d.At)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("completion times %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSimSeedDeterminism(t *testing.T) {
	jittery := simDev(8)
	jittery.Jitter = 0.5
	// Without jitter all eight latencies end together and zero-byte I/Os
	// skip the link, so only the RNG tie-break orders them.
	ties := simDev(8)
	ties.Bandwidth = 1
	for _, tc := range []struct {
		name string
		dev  Device
		size int
	}{
		{"jitter", jittery, 4096},
		{"ties", ties, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(seed int64) []simDone {
				b := newSim(t, impl.Files{}, tc.dev, seed)
				for i := range 32 {
					b.Submit(simIO(uint64(i+1), impl.OpWrite, uint64(i)*4096, tc.size))
				}
				return drain(t, b)
			}
			first := run(1)
			if again := run(1); !slices.Equal(first, again) {
				t.Fatalf("seed 1 twice gave different runs:\n%v\n%v", first, again)
			}
			differ := 0
			for seed := int64(2); seed <= 5; seed++ {
				if !slices.EqualFunc(first, run(seed), func(a, b simDone) bool { return a.ID == b.ID }) {
					differ++
				}
			}
			if differ == 0 {
				t.Fatal("seeds 2..5 all completed in seed 1's order")
			}
		})
	}
}

// TestSimSameBytes runs two overlapping writes to the same bytes, and a
// read of them, under many seeds: storage must hold the write that
// completed last, the read must see whatever had landed before it, and
// both orders of the writes must occur.
func TestSimSameBytes(t *testing.T) {
	dev := simDev(4)
	dev.Jitter = 0.3
	orders := map[string]int{}
	for seed := range int64(40) {
		mem := impl.NewMemStorageFrom(bytes.Repeat([]byte{0}, 4096))
		b := newSim(t, impl.Files{Image: mem}, dev, seed)
		a := &impl.IO{ID: 1, Op: impl.OpWrite, Buf: bytes.Repeat([]byte{0xaa}, 4096)}
		c := &impl.IO{ID: 2, Op: impl.OpWrite, Buf: bytes.Repeat([]byte{0xcc}, 4096)}
		r := simIO(3, impl.OpRead, 0, 4096)
		b.Submit(a)
		b.Submit(c)
		b.Submit(r)
		var order []uint64
		content := byte(0) // what storage holds so far
		for io := b.Next(); io != nil; io = b.Next() {
			order = append(order, io.ID)
			switch io {
			case a, c:
				content = io.Buf[0]
			case r:
				if want := bytes.Repeat([]byte{content}, 4096); !bytes.Equal(r.Buf, want) {
					t.Fatalf("seed %d: read completed after %v saw %#x..., want %#x", seed, order, r.Buf[0], content)
				}
			}
		}
		if got, want := mem.Bytes(), bytes.Repeat([]byte{content}, 4096); !bytes.Equal(got, want) {
			t.Fatalf("seed %d: order %v left %#x..., want %#x", seed, order, got[0], content)
		}
		orders[fmt.Sprint(slices.DeleteFunc(order, func(id uint64) bool { return id == 3 }))]++
	}
	if len(orders) != 2 {
		t.Fatalf("write orders over 40 seeds: %v, want both [1 2] and [2 1]", orders)
	}
}

// TestSimInFlight checks what InFlight reports as I/Os complete: every
// I/O accepted and not yet returned by Next, those holding a channel
// first, then the queued ones, in submission order, none of them on
// storage yet; and that the perform hook sees each I/O just before it
// reaches storage.
func TestSimInFlight(t *testing.T) {
	mem := impl.NewMemStorageFrom(make([]byte, 8*1000))
	dev := simDev(2)
	dev.Jitter = 0.5 // completions out of submission order
	b := newSim(t, impl.Files{Image: mem}, dev, 3)
	var hooked []uint64
	b.SetPerformHook(func(io *impl.IO) {
		hooked = append(hooked, io.ID)
		if io.Op == impl.OpWrite && mem.Bytes()[io.Off] != 0 {
			t.Errorf("%v: on storage before the hook ran", io)
		}
	})
	want := []uint64{}
	for i := range 5 {
		io := simIO(uint64(i+1), impl.OpWrite, uint64(i)*1000, 1000)
		io.Buf[0] = byte(i + 1)
		b.Submit(io)
		want = append(want, io.ID)
	}
	b.Submit(simIO(6, impl.OpFlush, 0, 0))
	want = append(want, 6)
	var buf []*impl.IO
	for {
		buf = b.InFlight(buf[:0])
		got := make([]uint64, len(buf))
		for i, io := range buf {
			got[i] = io.ID
			if io.Op == impl.OpWrite && mem.Bytes()[io.Off] != 0 {
				t.Errorf("%v: in flight but already on storage", io)
			}
		}
		// The two holding a channel come first, ordered by ID; the queued
		// ones follow in submission order.
		if !slices.Equal(got, want) {
			t.Fatalf("InFlight = %v, want %v", got, want)
		}
		io := b.Next()
		if io == nil {
			break
		}
		if hooked[len(hooked)-1] != io.ID {
			t.Fatalf("hook last saw io %d, Next returned io %d", hooked[len(hooked)-1], io.ID)
		}
		want = slices.DeleteFunc(want, func(id uint64) bool { return id == io.ID })
	}
	if len(hooked) != 6 {
		t.Errorf("hook called for %v, want all six I/Os", hooked)
	}
	b.SetPerformHook(nil)
	b.Submit(simIO(7, impl.OpRead, 0, 10))
	b.Next()
	if len(hooked) != 6 {
		t.Errorf("hook still called after removal: %v", hooked)
	}
}

// simLog is a Storage that logs writes and syncs with the virtual time.
// Which of two writes ending together lands first is the RNG's choice, so
// the log names no offsets.
type simLog struct {
	*impl.MemStorage
	now func() int64
	log []string
}

func (s *simLog) WriteAt(p []byte, off int64) (int, error) {
	s.log = append(s.log, fmt.Sprintf("%d write", s.now()))
	return s.MemStorage.WriteAt(p, off)
}

func (s *simLog) Sync() error {
	s.log = append(s.log, fmt.Sprintf("%d sync", s.now()))
	return nil
}

// TestSimFlush checks a flush against writes: it reaches storage (Sync)
// only at its completion, after every write that completed before it
// was submitted; it waits for a channel like any I/O; it does not wait
// for writes still in flight, which it does not cover.
func TestSimFlush(t *testing.T) {
	w := func(id uint64, off uint64) *impl.IO { return simIO(id, impl.OpWrite, off, 1000) }
	fl := func(id uint64) *impl.IO { return simIO(id, impl.OpFlush, 0, 0) }
	for _, tc := range []struct {
		name        string
		parallelism int
		steps       [][]*impl.IO // each: I/Os to submit, then one Next
		want        []string
	}{
		{
			name:        "after completed write",
			parallelism: 4,
			steps:       [][]*impl.IO{{w(1, 0)}, {fl(2)}},
			// The write lands at 11µs; the flush, submitted then, 10µs later.
			want: []string{"11000 write", "21000 sync"},
		},
		{
			name:        "queued behind write",
			parallelism: 1,
			steps:       [][]*impl.IO{{w(1, 0), fl(2)}, {}},
			want:        []string{"11000 write", "21000 sync"},
		},
		{
			name:        "does not wait for write in flight",
			parallelism: 4,
			steps:       [][]*impl.IO{{w(1, 0), fl(2)}, {}},
			want:        []string{"10000 sync", "11000 write"},
		},
		{
			name:        "covers two completed writes",
			parallelism: 2,
			steps:       [][]*impl.IO{{w(1, 0), w(2, 0x1000)}, {}, {fl(3)}},
			want:        []string{"11000 write", "12000 write", "22000 sync"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b *Backend
			st := &simLog{MemStorage: impl.NewMemStorage(), now: func() int64 { return b.Now() }}
			b = newSim(t, impl.Files{Image: st}, simDev(tc.parallelism), 1)
			for _, s := range tc.steps {
				for _, io := range s {
					b.Submit(io)
				}
				if b.Next() == nil {
					t.Fatal("Next returned nil")
				}
			}
			drain(t, b)
			if !slices.Equal(st.log, tc.want) {
				t.Fatalf("storage saw\n%s\nwant\n%s", strings.Join(st.log, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSimReadPastEnd(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 100)
	for _, tc := range []struct {
		name string
		off  uint64
		want []byte
	}{
		{"straddles end", 0, append(bytes.Clone(data), make([]byte, 4096-100)...)},
		{"at end", 100, make([]byte, 4096)},
		{"far past end", 1 << 30, make([]byte, 4096)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSim(t, impl.Files{Image: impl.NewMemStorageFrom(data)}, simDev(1), 1)
			r := simIO(1, impl.OpRead, tc.off, 4096)
			for i := range r.Buf {
				r.Buf[i] = 0xff
			}
			b.Submit(r)
			if got := b.Next(); got != r || r.Err != nil {
				t.Fatalf("Next = %v, err %v", got, r.Err)
			}
			if !bytes.Equal(r.Buf, tc.want) {
				t.Fatalf("read %v..., want %v...", r.Buf[:8], tc.want[:8])
			}
		})
	}
}

func TestSimErrors(t *testing.T) {
	b := newSim(t, impl.Files{}, simDev(1), 1)
	inFlight := simIO(1, impl.OpWrite, 0, 10)
	b.Submit(inFlight)
	noBacking := &impl.IO{ID: 2, Op: impl.OpRead, File: impl.BackingFile, Buf: make([]byte, 10)}
	b.Submit(noBacking)
	bad := &impl.IO{ID: 3, Op: impl.IOOp(9)}
	b.Submit(bad)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	late := simIO(4, impl.OpRead, 0, 10)
	b.Submit(late)

	// Refused I/Os come back first, at once; then the in-flight ones.
	want := []struct {
		io    *impl.IO
		at    int64
		errIs string
	}{
		{bad, 0, "unknown I/O op"},
		{late, 0, "submitted after Close"},
		{inFlight, 10_010, ""},
		{noBacking, 20_020, "has none"},
	}
	for _, w := range want {
		io := b.Next()
		if io != w.io || b.Now() != w.at {
			t.Fatalf("Next = %v at %d, want %v at %d", io, b.Now(), w.io, w.at)
		}
		if w.errIs == "" && io.Err != nil || w.errIs != "" && (io.Err == nil || !strings.Contains(io.Err.Error(), w.errIs)) {
			t.Fatalf("%v: err %v, want one containing %q", io, io.Err, w.errIs)
		}
	}
	if !errors.Is(late.Err, errSimClosed) {
		t.Fatalf("late I/O err %v does not wrap errSimClosed", late.Err)
	}
	if io := b.Next(); io != nil {
		t.Fatalf("Next = %v, want nil", io)
	}
	if st := b.Stats(); st.Reads != 1 || st.Writes != 1 {
		t.Fatalf("stats count refused I/Os: %+v", st)
	}
}

func TestSimStats(t *testing.T) {
	b := newSim(t, impl.Files{}, simDev(2), 1)
	for i := range 3 {
		b.Submit(simIO(uint64(i+1), impl.OpWrite, uint64(i)*1000, 1000))
	}
	b.Submit(simIO(4, impl.OpRead, 0, 500))
	drain(t, b)
	idle := b.Now()
	b.Submit(simIO(5, impl.OpFlush, 0, 0))
	drain(t, b)
	// Writes 1, 2 end at 11µs and 12µs; write 3 and the read start then
	// and end at 22µs and 22.5µs; the flush runs 22.5-32.5µs.
	want := Stats{
		Reads: 1, Writes: 3, Flushes: 1,
		ReadBytes: 500, WriteBytes: 3000,
		BusyTime:      32_500,
		WaitTime:      11_000 + 12_000,
		MaxQueueDepth: 4,
	}
	if idle != 22_500 || b.Now() != 32_500 {
		t.Fatalf("times %d, %d, want 22500, 32500", idle, b.Now())
	}
	if got := b.Stats(); got != want {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}
}

func TestDevicePresets(t *testing.T) {
	names := Presets()
	for _, want := range []string{"nvme", "ssd", "hdd"} {
		if !slices.Contains(names, want) {
			t.Errorf("Presets() = %v lacks %q", names, want)
		}
	}
	for _, name := range names {
		d, err := Preset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Name != name {
			t.Errorf("preset %q has Name %q", name, d.Name)
		}
		if err := d.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		if _, err := New(impl.Files{Image: impl.NewMemStorage()}, d, 1); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	_, err := Preset("floppy")
	if err == nil {
		t.Fatal("Preset(floppy) succeeded")
	}
	for _, name := range append(names, "floppy") {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not mention %q", err, name)
		}
	}
}

func TestDeviceValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Device)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*Device) {}, nil},
		{"zero latencies", func(d *Device) { d.ReadLatency, d.WriteLatency, d.FlushLatency = 0, 0, 0 }, nil},
		{"full jitter", func(d *Device) { d.Jitter = 1 }, nil},
		{"negative read latency", func(d *Device) { d.ReadLatency = -1 }, []string{"negative read latency -1ns"}},
		{"negative write latency", func(d *Device) { d.WriteLatency = -5 }, []string{"negative write latency -5ns"}},
		{"negative flush latency", func(d *Device) { d.FlushLatency = -7 }, []string{"negative flush latency -7ns"}},
		{"negative extend time", func(d *Device) { d.ExtendTime = -3 }, []string{"negative extend time -3ns"}},
		{"scaling above 1", func(d *Device) { d.Scaling = 1.5 }, []string{"scaling 1.5, want an exponent in [0, 1]"}},
		{"scaling NaN", func(d *Device) { d.Scaling = math.NaN() }, []string{"scaling NaN"}},
		{"zero bandwidth", func(d *Device) { d.Bandwidth = 0 }, []string{"bandwidth 0 B/s"}},
		{"negative bandwidth", func(d *Device) { d.Bandwidth = -1 }, []string{"bandwidth -1 B/s"}},
		{"zero parallelism", func(d *Device) { d.Parallelism = 0 }, []string{"parallelism 0"}},
		{"jitter over 1", func(d *Device) { d.Jitter = 1.5 }, []string{"jitter 1.5"}},
		{"negative jitter", func(d *Device) { d.Jitter = -0.1 }, []string{"jitter -0.1"}},
		{"several", func(d *Device) { d.Bandwidth, d.Parallelism = 0, -2 }, []string{"device test:", "bandwidth 0", "parallelism -2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := simDev(4)
			tc.change(&d)
			err := d.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if _, err := New(impl.Files{Image: impl.NewMemStorage()}, d, 1); err == nil {
				t.Error("New accepted the invalid device")
			}
		})
	}
	if _, err := New(impl.Files{}, simDev(1), 1); err == nil {
		t.Error("New accepted Files without an image")
	}
}

// BenchmarkSimBackend keeps qd small I/Os in flight on a MemStorage,
// replacing each as it completes; one op is one Submit and one Next.
func BenchmarkSimBackend(b *testing.B) {
	dev, err := Preset("nvme")
	if err != nil {
		b.Fatal(err)
	}
	for _, qd := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("qd=%d", qd), func(b *testing.B) {
			mem := impl.NewMemStorage()
			if err := mem.Truncate(1 << 20); err != nil {
				b.Fatal(err)
			}
			sim := newSim(b, impl.Files{Image: mem}, dev, 1)
			for i := range qd {
				op := impl.OpWrite
				if i%2 == 1 {
					op = impl.OpRead
				}
				sim.Submit(&impl.IO{ID: uint64(i + 1), Op: op, Off: uint64(i%256) * 4096, Buf: make([]byte, 512)})
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				io := sim.Next()
				if io.Err != nil {
					b.Fatal(io.Err)
				}
				sim.Submit(io)
				n++
			}
			b.ReportMetric(float64(sim.Now())/float64(n), "virt-ns/op")
		})
	}
}
