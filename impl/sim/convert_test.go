package sim

import (
	"slices"
	"testing"

	"github.com/qedharness/qedharness/impl"
)

// convertDev is simDev(4) with conversions of 25µs.
func convertDev() Device {
	d := simDev(4)
	d.ConvertTime = 25_000
	return d
}

// extendDev is convertDev with extensions of a written neighbour at 5µs.
func extendDev() Device {
	d := convertDev()
	d.ExtendTime = 5_000
	return d
}

// runOne submits io to b, waits for it and returns how long it took.
func runOne(t *testing.T, b *Backend, io *impl.IO) int64 {
	t.Helper()
	start := b.Now()
	b.Submit(io)
	if got := b.Next(); got != io || io.Err != nil {
		t.Fatalf("%v: got %v, err %v", io, got, io.Err)
	}
	return b.Now() - start
}

// TestConvertLone checks what a lone write costs after the space it
// writes was grown, written, or zeroed: the conversion is paid once per
// unwritten block, by the first write that touches it.
func TestConvertLone(t *testing.T) {
	const write4k = 10_000 + 4096 // latency + transfer at 1 ns a byte
	grow := func(id uint64, size uint64) *impl.IO { return &impl.IO{ID: id, Op: impl.OpGrow, Off: size} }
	zero := func(id uint64, off, n uint64) *impl.IO {
		return &impl.IO{ID: id, Op: impl.OpWriteZeroes, Off: off, Len: n}
	}
	for _, tc := range []struct {
		name   string
		dev    Device
		before []*impl.IO // done first, untimed
		io     *impl.IO
		want   int64
	}{
		{"space the image had", convertDev(), nil, simIO(9, impl.OpWrite, 0, 4096), write4k},
		{"grown space", convertDev(), []*impl.IO{grow(1, 64<<10)}, simIO(9, impl.OpWrite, 32<<10, 4096), write4k + 25_000},
		{"grown space, no conversion modelled", simDev(4), []*impl.IO{grow(1, 64<<10)}, simIO(9, impl.OpWrite, 32<<10, 4096), write4k},
		{"grown space written already", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 32<<10, 4096), write4k},
		{"part of the block written already", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 512)}, simIO(9, impl.OpWrite, 32<<10+512, 512), 10_000 + 512},
		{"across written and unwritten blocks", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 32<<10, 8192), 10_000 + 8192 + 25_000},
		{"the block holding the old end", convertDev(), []*impl.IO{simIO(1, impl.OpWrite, 16<<10, 1000), grow(2, 64<<10)}, simIO(9, impl.OpWrite, 16<<10, 4096), write4k},
		// Right after a written block converts too: on ext4 extending the
		// written extent is a conversion all the same (fio, 4k contiguous
		// first writes: 0.75x overwrites at depth 32).
		{"right after the old end", convertDev(), []*impl.IO{simIO(1, impl.OpWrite, 16<<10, 1000), grow(2, 64<<10)}, simIO(9, impl.OpWrite, 20<<10, 4096), write4k + 25_000},
		{"a block past the old end", convertDev(), []*impl.IO{simIO(1, impl.OpWrite, 16<<10, 1000), grow(2, 64<<10)}, simIO(9, impl.OpWrite, 24<<10, 4096), write4k + 25_000},
		{"right after a first write", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 36<<10, 4096), write4k + 25_000},
		{"right before a first write", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 28<<10, 4096), write4k + 25_000},
		{"block 0", convertDev(), []*impl.IO{zero(1, 0, 8192)}, simIO(9, impl.OpWrite, 0, 4096), write4k + 25_000},
		{"written past the end, not grown", convertDev(), []*impl.IO{simIO(1, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 32<<10, 4096), write4k},
		{"zeroed whole blocks", convertDev(), []*impl.IO{zero(1, 4096, 8192)}, simIO(9, impl.OpWrite, 8192, 4096), write4k + 25_000},
		{"zeroed part of a block", convertDev(), []*impl.IO{zero(1, 4096, 2048)}, simIO(9, impl.OpWrite, 4096, 4096), write4k},
		{"a read of grown space", convertDev(), []*impl.IO{grow(1, 64<<10)}, simIO(9, impl.OpRead, 32<<10, 4096), write4k},
		// With ExtendTime, a first write next to a written block extends
		// that block's extent and costs ExtendTime; one inside unwritten
		// space (neither neighbour written) still costs ConvertTime.
		{"extend: right after the old end", extendDev(), []*impl.IO{simIO(1, impl.OpWrite, 16<<10, 1000), grow(2, 64<<10)}, simIO(9, impl.OpWrite, 20<<10, 4096), write4k + 5_000},
		{"extend: a block past the old end", extendDev(), []*impl.IO{simIO(1, impl.OpWrite, 16<<10, 1000), grow(2, 64<<10)}, simIO(9, impl.OpWrite, 24<<10, 4096), write4k + 25_000},
		{"extend: right after a first write", extendDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 36<<10, 4096), write4k + 5_000},
		{"extend: right before a first write", extendDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 28<<10, 4096), write4k + 5_000},
		{"extend: block 0, the next unwritten", extendDev(), []*impl.IO{zero(1, 0, 8192)}, simIO(9, impl.OpWrite, 0, 4096), write4k + 25_000},
		{"extend: block 0, the next written", extendDev(), []*impl.IO{zero(1, 0, 4096)}, simIO(9, impl.OpWrite, 0, 4096), write4k + 5_000},
		{"extend: the last block of the file", extendDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 56<<10, 4096)}, simIO(9, impl.OpWrite, 60<<10, 4096), write4k + 5_000},
		{"extend: the last block, the one before unwritten", extendDev(), []*impl.IO{grow(1, 64<<10)}, simIO(9, impl.OpWrite, 60<<10, 4096), write4k + 25_000},
		{"extend: zero, as ConvertTime", convertDev(), []*impl.IO{grow(1, 64<<10), simIO(2, impl.OpWrite, 32<<10, 4096)}, simIO(9, impl.OpWrite, 36<<10, 4096), write4k + 25_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := impl.NewMemStorageFrom(make([]byte, 16<<10)) // blocks 0-3 written
			b := newSim(t, impl.Files{Image: st}, tc.dev, 1)
			for _, io := range tc.before {
				runOne(t, b, io)
			}
			if got := runOne(t, b, tc.io); got != tc.want {
				t.Errorf("took %dns, want %d", got, tc.want)
			}
		})
	}
}

// TestConvertSerial checks first writes together convert one at a time
// after giving up their channels: four first writes on four channels
// complete a conversion apart, while a read queued behind them gets the
// first channel freed at the end of a transfer, not of a conversion.
func TestConvertSerial(t *testing.T) {
	b := newSim(t, impl.Files{}, convertDev(), 1)
	runOne(t, b, &impl.IO{ID: 1, Op: impl.OpGrow, Off: 1 << 20})
	start := b.Now()
	for i := range uint64(4) {
		b.Submit(simIO(10+i, impl.OpWrite, i*65536, 4096))
	}
	read := simIO(20, impl.OpRead, 0, 4096)
	b.Submit(read)
	if n := len(b.InFlight(nil)); n != 5 {
		t.Fatalf("%d I/Os in flight, want 5", n)
	}
	// The writes' transfers end at 10µs + k*4096ns, k = 1..4, on the
	// shared link; the first conversion starts at the first end. The read
	// takes the channel freed then, and its transfer waits for the link.
	var writes []int64
	for range 5 {
		io := b.Next()
		if io == nil {
			t.Fatal("an I/O is missing")
		}
		at := b.Now() - start
		if io == read {
			if want := int64(10_000 + 4*4096 + 4096); at != want {
				t.Errorf("the read completed at %dns, want %d", at, want)
			}
			continue
		}
		writes = append(writes, at)
	}
	first := int64(10_000 + 4096)
	if want := []int64{first + 25_000, first + 50_000, first + 75_000, first + 100_000}; !slices.Equal(writes, want) {
		t.Errorf("writes completed at %v, want %v", writes, want)
	}
	if s := b.Stats(); s.Converts != 4 || s.Writes != 4 || s.Reads != 1 {
		t.Errorf("stats %+v, want 4 converts, 4 writes, 1 read", s)
	}
}

// TestExtendSerial checks contiguous first writes together: the first
// splits unwritten space (ConvertTime), each next one extends the block
// the one before it wrote, marked at the end of its transfer
// (ExtendTime), all through the one conversion step. One channel keeps
// the transfers in submission order.
func TestExtendSerial(t *testing.T) {
	dev := extendDev()
	dev.Parallelism = 1
	b := newSim(t, impl.Files{}, dev, 1)
	runOne(t, b, &impl.IO{ID: 1, Op: impl.OpGrow, Off: 1 << 20})
	start := b.Now()
	for i := range uint64(4) {
		b.Submit(simIO(10+i, impl.OpWrite, i*4096, 4096))
	}
	var got []int64
	for range 4 {
		if io := b.Next(); io == nil {
			t.Fatal("an I/O is missing")
		}
		got = append(got, b.Now()-start)
	}
	// Transfers end every 14,096ns (28,192, 42,288, 56,384 after the
	// first); each conversion starts at its transfer's end or when the
	// one before it ends, whichever is later: 14,096+25,000, then 5,000
	// each.
	if want := []int64{39_096, 44_096, 49_096, 61_384}; !slices.Equal(got, want) {
		t.Errorf("writes completed at %v, want %v", got, want)
	}
	if s := b.Stats(); s.Converts != 4 || s.Extends != 3 {
		t.Errorf("stats %+v, want 4 converts, 3 of them extends", s)
	}
}
