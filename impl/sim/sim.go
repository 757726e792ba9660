package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// Device describes a storage device for Backend. Every time is in
// virtual nanoseconds; nothing in the model reads a wall clock. Its JSON
// encoding is a preset file (LoadDevice), with the keys runs.json's
// provenance records each device with.
//
// The model: an I/O waits (FIFO) for one of Parallelism channels, holds
// it for its latency (jittered), then transfers its bytes over a link
// shared by all channels at Bandwidth, one transfer at a time in the order
// the latencies end, and completes when its transfer ends; it keeps its
// channel until then, waiting for the link included. A lone I/O therefore
// takes latency + bytes/Bandwidth, and many I/Os together never
// move more than Bandwidth bytes per second, however parallel the device.
// A flush holds a channel for FlushLatency and transfers nothing; a grow
// or a write-zeroes (a command that allocates or zeroes space without
// data: fallocate, WRITE ZEROES) holds one for WriteLatency and transfers
// nothing.
//
// With ConvertTime set, the model also keeps which 4 KiB blocks of the
// image are unwritten: the space a grow added, and the whole blocks a
// write-zeroes covered (fallocate's zero range leaves them so). A write
// that touches unwritten blocks, once its transfer ends, gives up its
// channel and then waits (FIFO) for the one conversion step the file
// system has, holds it for ConvertTime, and completes; its blocks are
// written from the end of its transfer on. That is ext4's direct write
// into fallocated space: it completes only once the extents are converted
// to written, one conversion at a time per file. A lone first write
// takes ConvertTime longer than an overwrite, and first writes together
// never complete faster than one per ConvertTime, in allocation order or
// not: a write right after a written block converts too (ext4 moves the
// boundary between the two extents, under the same lock and journal
// handle as a split; on this project's VM 4 KiB first writes one after
// another into fallocated space ran at 0.75x overwrites at depth 32 and
// 0.85x at depth 2). Such a write, though, whose block before or after
// is written, holds the step for ExtendTime when that is set: ext4 then
// only moves the boundary between the unwritten extent and its written
// neighbour (ext4_ext_convert_to_initialized's transfer to a neighbour),
// where a write inside unwritten space splits its extent in two or three
// and may grow the extent tree. Block merging and other gains of
// sequential order are not modelled.
type Device struct {
	// Name labels the device in reports; the model ignores it.
	Name string `json:"name"`
	// ReadLatency is the service time of a read before its transfer, in
	// virtual nanoseconds.
	ReadLatency int64 `json:"read_latency_ns"`
	// WriteLatency is the service time of a write before its transfer, in
	// virtual nanoseconds.
	WriteLatency int64 `json:"write_latency_ns"`
	// FlushLatency is the service time of a flush, in virtual nanoseconds.
	FlushLatency int64 `json:"flush_latency_ns"`
	// Bandwidth is the transfer rate of the link all channels share, in
	// bytes per (virtual) second. Transfer times round up to the
	// nanosecond.
	Bandwidth int64 `json:"bandwidth_bytes_per_sec"`
	// Parallelism is the number of I/Os the device services at once (its
	// channels); further I/Os wait in a FIFO queue. At least 1.
	Parallelism int `json:"parallelism"`
	// Jitter is the fraction by which each I/O's latency varies, drawn
	// uniformly from the backend's seeded RNG: 0.1 means ±10%. In [0, 1].
	Jitter float64 `json:"jitter"`
	// ConvertTime is the time a write into unwritten space holds the
	// conversion step, in virtual nanoseconds (see Device); 0, as every
	// preset has, leaves unwritten space untracked.
	ConvertTime int64 `json:"convert_ns,omitempty"`
	// Scaling is how the device's throughput grows with the I/Os it
	// serves at once: an I/O that starts with n channels busy (itself
	// included) takes its latency x n^(1-Scaling), so n I/Os together
	// complete n^Scaling times as many per second as one (a virtual
	// disk whose host serves more requests at once, each more slowly).
	// 0 (every preset) or 1: latency does not depend on load, and only
	// the channels and the link bound throughput. In [0, 1].
	Scaling float64 `json:"scaling,omitempty"`
	// ExtendTime is the time a write into unwritten space that extends a
	// written neighbour (the block before or after it is written) holds
	// the conversion step, in virtual nanoseconds; 0 charges it
	// ConvertTime, as the model did before it had this field. It counts
	// only when ConvertTime is set.
	ExtendTime int64 `json:"extend_ns,omitempty"`
}

// Validate reports every way d is not a usable device, or nil.
func (d Device) Validate() error {
	var errs []error
	for _, f := range []struct {
		what string
		ns   int64
	}{{"read latency", d.ReadLatency}, {"write latency", d.WriteLatency}, {"flush latency", d.FlushLatency}, {"convert time", d.ConvertTime}, {"extend time", d.ExtendTime}} {
		if f.ns < 0 {
			errs = append(errs, fmt.Errorf("negative %s %dns", f.what, f.ns))
		}
	}
	if d.Bandwidth <= 0 {
		errs = append(errs, fmt.Errorf("bandwidth %d B/s, want > 0", d.Bandwidth))
	}
	if d.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("parallelism %d, want >= 1", d.Parallelism))
	}
	if !(d.Jitter >= 0 && d.Jitter <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("jitter %v, want a fraction in [0, 1]", d.Jitter))
	}
	if !(d.Scaling >= 0 && d.Scaling <= 1) {
		errs = append(errs, fmt.Errorf("scaling %v, want an exponent in [0, 1]", d.Scaling))
	}
	if len(errs) == 0 {
		return nil
	}
	name := d.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Errorf("device %s: %w", name, errors.Join(errs...))
}

const (
	simUs = int64(1000)
	simMs = 1000 * simUs
)

// devicePresets lists the presets from fastest to slowest. Figures are
// typical datasheet numbers for one representative part of each class;
// flush latencies are not on datasheets and are our estimates.
var devicePresets = []Device{
	{
		// Datacenter NVMe TLC drive, after the Intel SSD DC P4510 datasheet:
		// 4 KiB QD1 latency 77µs read, 18µs write; sequential 3.2 GB/s read,
		// 2-3 GB/s write (we take 2.5 GB/s for both); 637K 4 KiB random-read
		// IOPS at high queue depth. Little's law gives ~49 reads in service;
		// we allow 64, so that at 4 KiB the link (1.6µs per I/O, 610K IOPS)
		// is the bound, as on the real drive. It has power-loss protection,
		// so a flush is little more than a command round trip (estimate).
		Name:         "nvme",
		ReadLatency:  77 * simUs,
		WriteLatency: 18 * simUs,
		FlushLatency: 20 * simUs,
		Bandwidth:    2_500_000_000,
		Parallelism:  64,
		Jitter:       0.1,
	},
	{
		// SATA SSD, after the Samsung 860 EVO datasheet: 4 KiB QD1 10K
		// read IOPS (~100µs) and 42K write IOPS (~24µs), each including the
		// ~8µs transfer of 4 KiB at the SATA III limit of 550 MB/s; 98K
		// read IOPS at QD32, i.e. ~10 I/Os in service. No power-loss
		// protection: a flush drains the volatile cache (~0.5ms, estimate).
		Name:         "ssd",
		ReadLatency:  90 * simUs,
		WriteLatency: 16 * simUs,
		FlushLatency: 500 * simUs,
		Bandwidth:    550_000_000,
		Parallelism:  10,
		Jitter:       0.2,
	},
	{
		// 7200 rpm SATA disk, after Seagate BarraCuda datasheets: 4.16ms
		// average rotational latency plus a seek of ~4ms across a file-sized
		// region (a full-stroke average is ~8.5ms); 150 MB/s sustained;
		// one head, so no parallelism. Seeks range from <1ms to ~16ms, hence
		// the wide jitter. A flush costs about one rotation (estimate).
		// Sequential locality is not modelled: every I/O pays a seek.
		Name:         "hdd",
		ReadLatency:  8 * simMs,
		WriteLatency: 8 * simMs,
		FlushLatency: 8333 * simUs,
		Bandwidth:    150_000_000,
		Parallelism:  1,
		Jitter:       0.5,
	},
}

// Presets returns the names Preset accepts, from the fastest
// device to the slowest.
func Presets() []string {
	names := make([]string, len(devicePresets))
	for i, d := range devicePresets {
		names[i] = d.Name
	}
	return names
}

// Preset returns the preset device called name; see Presets.
func Preset(name string) (Device, error) {
	for _, d := range devicePresets {
		if d.Name == name {
			return d, nil
		}
	}
	return Device{}, fmt.Errorf("unknown device preset %q (valid: %s)", name, strings.Join(Presets(), ", "))
}

// Stats counts what a Backend's device has done. I/Os and bytes
// are counted when an I/O completes; I/Os refused at Submit are not
// counted. Times are in virtual nanoseconds.
type Stats struct {
	// Reads, Writes and Flushes count completed I/Os by kind, and Grows
	// and ZeroWrites the commands that transfer no data.
	Reads, Writes, Flushes, Grows, ZeroWrites uint64
	// Converts counts the writes that went through the conversion step
	// (Device.ConvertTime), counted when they leave their channel, and
	// Extends those of them that extended a written neighbour
	// (Device.ExtendTime).
	Converts, Extends uint64
	// ReadBytes and WriteBytes count bytes of completed reads and writes.
	ReadBytes, WriteBytes uint64
	// BusyTime is the virtual time during which at least one I/O held a
	// channel; BusyTime divided by Now is the device's utilization.
	BusyTime int64
	// WaitTime is the total virtual time I/Os spent queued for a channel.
	WaitTime int64
	// MaxQueueDepth is the most I/Os outstanding at once (submitted and not
	// yet completed, whether in service or queued).
	MaxQueueDepth int
}

// errSimClosed is the cause of the error an I/O submitted after Close gets.
var errSimClosed = errors.New("sim backend is closed")

// simStream is the PCG stream constant; the seed picks the state.
const simStream = 0x9e3779b97f4a7c15

// simPending is an I/O queued for a channel.
type simPending struct {
	io        *impl.IO
	key       uint64 // tie-break among equal times, drawn at Submit
	latency   int64  // jittered, drawn at Submit
	submitted int64
}

// simEvent is an I/O the device holds. While xfer > 0, at is the end of
// its latency and the transfer is still to be scheduled on the link;
// once xfer is 0, at is the end of its transfer, or once converting (it
// has given up its channel) the end of its conversion: its completion.
type simEvent struct {
	at         int64
	key        uint64
	xfer       int64
	io         *impl.IO
	converting bool
}

// Backend is a Backend that simulates a Device in virtual time over
// Files. Submit never advances time; Next advances it to the earliest
// completion and only then applies that I/O to storage with Perform, so
// I/Os in flight together land in completion order: of two overlapping
// writes to the same bytes the later completion wins, and a read in flight
// with a write sees the write iff the write completed first.
//
// The only randomness, latency jitter and the order of I/Os whose times
// tie, comes from a PCG generator seeded at construction: the same device,
// seed and sequence of Submit and Next calls give the same completion
// order and times. A Backend is not safe for concurrent use.
type Backend struct {
	files impl.Files
	dev   Device
	rng   *rand.PCG

	now      int64
	linkFree int64 // when the shared link finishes its last reserved transfer
	convFree int64 // when the conversion step finishes its last reserved conversion
	busy     int   // channels in use

	// unwritten has a bit set for each 4 KiB block of the image that is
	// unwritten (Device.ConvertTime); nil when the device has none.
	unwritten []uint64

	events  []simEvent // min-heap by (at, key)
	waiting []simPending
	whead   int
	refused []*impl.IO // I/Os failed at Submit, returned by Next before any other
	rhead   int

	closed bool
	stats  Stats

	// onPerform, when set (SetPerformHook), sees each I/O just before Next
	// applies it to storage.
	onPerform func(io *impl.IO)
}

var _ impl.Backend = (*Backend)(nil)

// New returns a Backend over files simulating dev, with its
// randomness seeded from seed. It fails if dev is invalid or files has no
// image storage.
func New(files impl.Files, dev Device, seed int64) (*Backend, error) {
	if err := dev.Validate(); err != nil {
		return nil, fmt.Errorf("sim backend: %w", err)
	}
	if files.Image == nil {
		return nil, errors.New("sim backend: no image storage")
	}
	b := &Backend{
		files:  files,
		dev:    dev,
		rng:    rand.NewPCG(uint64(seed), simStream),
		events: make([]simEvent, 0, dev.Parallelism),
	}
	if dev.ConvertTime > 0 {
		b.unwritten = []uint64{} // the image as it is counts as written
	}
	return b, nil
}

// Device returns the device the backend simulates.
func (b *Backend) Device() Device { return b.dev }

// Now returns the virtual time in nanoseconds: 0 at construction, then the
// completion time of the I/O Next last returned. It never decreases.
func (b *Backend) Now() int64 { return b.now }

// Stats returns the device's counters as of Now.
func (b *Backend) Stats() Stats { return b.stats }

// Submit queues io for the device at the current virtual time; it starts
// at once if a channel is free. After Close, or for an unknown op, io
// fails instead: Next returns it, with Err set, before any other I/O and
// without advancing time.
func (b *Backend) Submit(io *impl.IO) {
	if b.closed {
		io.Err = fmt.Errorf("sim backend: %v submitted after Close: %w", io, errSimClosed)
		b.refused = append(b.refused, io)
		return
	}
	if io.Op > impl.OpWriteZeroes {
		io.Err = fmt.Errorf("sim backend: %v: unknown I/O op", io)
		b.refused = append(b.refused, io)
		return
	}
	p := simPending{io: io, key: b.rng.Uint64(), latency: b.latency(io.Op), submitted: b.now}
	if b.busy < b.dev.Parallelism {
		b.start(p)
	} else {
		if b.whead > 0 && b.whead >= len(b.waiting)/2 {
			n := copy(b.waiting, b.waiting[b.whead:])
			clear(b.waiting[n:])
			b.waiting, b.whead = b.waiting[:n], 0
		}
		b.waiting = append(b.waiting, p)
	}
	if d := b.busy + len(b.waiting) - b.whead; d > b.stats.MaxQueueDepth {
		b.stats.MaxQueueDepth = d
	}
}

// Next advances virtual time to the earliest completion, applies that I/O
// to storage, and returns it with Err set. It returns nil when no I/O is
// in flight.
func (b *Backend) Next() *impl.IO {
	if b.rhead < len(b.refused) {
		io := b.refused[b.rhead]
		b.refused[b.rhead] = nil
		if b.rhead++; b.rhead == len(b.refused) {
			b.refused, b.rhead = b.refused[:0], 0
		}
		return io
	}
	for len(b.events) > 0 {
		ev := &b.events[0]
		b.advance(ev.at)
		if ev.xfer > 0 {
			// Latency over: queue the transfer on the link. Latencies end
			// in time order, so reserving now serves the link FIFO.
			b.linkFree = max(ev.at, b.linkFree) + ev.xfer
			ev.at, ev.xfer = b.linkFree, 0
			b.down(0)
			continue
		}
		hit, extends := false, false
		if !ev.converting {
			hit, extends = b.converts(ev.io)
		}
		if hit {
			// Transfer over, into unwritten space: queue for the
			// conversion step, FIFO as transfers end, and free the
			// channel.
			cost := b.dev.ConvertTime
			if extends {
				cost = cmp.Or(b.dev.ExtendTime, cost)
				b.stats.Extends++
			}
			b.convFree = max(ev.at, b.convFree) + cost
			ev.at, ev.converting = b.convFree, true
			b.down(0)
			b.stats.Converts++
			b.release()
			continue
		}
		io, converted := ev.io, ev.converting
		b.pop()
		if !converted {
			b.release()
		}
		if b.onPerform != nil {
			b.onPerform(io)
		}
		var oldSize int64
		if b.unwritten != nil && io.Op == impl.OpGrow {
			oldSize, _ = b.files.Image.Size()
		}
		io.Err = impl.Perform(b.files, io)
		if b.unwritten != nil && io.Err == nil && io.File == impl.ImageFile {
			switch io.Op {
			case impl.OpGrow:
				// fallocate allocates whole blocks: the one holding the old
				// end was written up to it, the rest is unwritten.
				b.markUnwritten((oldSize+unwrittenBlock-1)/unwrittenBlock, (int64(io.Off)+unwrittenBlock-1)/unwrittenBlock)
			case impl.OpWriteZeroes:
				b.markUnwritten((int64(io.Off)+unwrittenBlock-1)/unwrittenBlock, (int64(io.Off)+int64(io.Len))/unwrittenBlock)
			}
		}
		switch io.Op {
		case impl.OpRead:
			b.stats.Reads++
			b.stats.ReadBytes += uint64(len(io.Buf))
		case impl.OpWrite:
			b.stats.Writes++
			b.stats.WriteBytes += uint64(len(io.Buf))
		case impl.OpFlush:
			b.stats.Flushes++
		case impl.OpGrow:
			b.stats.Grows++
		case impl.OpWriteZeroes:
			b.stats.ZeroWrites++
		}
		return io
	}
	return nil
}

// InFlight appends to dst, and returns, every I/O accepted by Submit and
// not yet returned by Next: first those the device holds (in their
// latency, transfer or conversion), by ID, then those queued for a
// channel, in FIFO order.
// With IDs increasing in issue order, as the engine numbers them, that is
// submission order. None of them has touched storage yet, since Next
// applies an I/O only at its completion; at a crash, though, any write
// among them may have reached the medium, and a crash model takes them as
// candidates. The I/Os remain the backend's: callers may read them, not
// change them. I/Os refused at Submit are not in flight. InFlight reads
// the event heap and the queue the device keeps anyway, so it adds no
// cost to Submit or Next.
func (b *Backend) InFlight(dst []*impl.IO) []*impl.IO {
	n := len(dst)
	for i := range b.events {
		dst = append(dst, b.events[i].io)
	}
	// The heap holds the started I/Os in no useful order. Every one of
	// them was submitted before every queued one: an I/O starts at Submit
	// only when nothing is queued, and the queue starts in FIFO order.
	started := dst[n:]
	slices.SortFunc(started, func(x, y *impl.IO) int { return cmp.Compare(x.ID, y.ID) })
	for _, p := range b.waiting[b.whead:] {
		dst = append(dst, p.io)
	}
	return dst
}

// SetPerformHook makes Next call fn with each I/O just before applying it
// to storage (fn nil removes the hook). A crash model uses it to learn
// which flush is about to take effect, so that it covers only the writes
// that completed before that flush was submitted. fn must not call the
// backend. The hook costs one nil check per completion when unset.
func (b *Backend) SetPerformHook(fn func(io *impl.IO)) { b.onPerform = fn }

// Close marks the backend closed: I/Os submitted afterwards fail with an
// error. I/Os already in flight still complete through Next; Close does
// not wait for them, since nothing runs unless Next is called. It does not
// close the storage. It always returns nil.
func (b *Backend) Close() error {
	b.closed = true
	return nil
}

// unwrittenBlock is the size in bytes of the blocks Device.ConvertTime
// tracks: a file system block.
const unwrittenBlock = 4096

// converts reports whether io is a write into unwritten blocks of the
// image that must be converted, and marks its blocks written: from now
// on no other write pays for them. It reports too whether the write
// extends a written neighbour: the block before its first, or after its
// last, is written (inside the image, not itself unwritten).
func (b *Backend) converts(io *impl.IO) (hit, extends bool) {
	if b.unwritten == nil || io.Op != impl.OpWrite || io.File != impl.ImageFile || len(io.Buf) == 0 {
		return false, false
	}
	first := io.Off / unwrittenBlock
	last := (io.Off + uint64(len(io.Buf)) - 1) / unwrittenBlock
	for blk := first; blk <= last && blk/64 < uint64(len(b.unwritten)); blk++ {
		w, bit := &b.unwritten[blk/64], uint64(1)<<(blk%64)
		hit = hit || *w&bit != 0
		*w &^= bit
	}
	if !hit {
		return false, false
	}
	if first > 0 && !b.isUnwritten(first-1) {
		return true, true
	}
	size, err := b.files.Image.Size()
	return true, err == nil && (last+1)*unwrittenBlock < uint64(size) && !b.isUnwritten(last+1)
}

// isUnwritten reports whether block blk is marked unwritten.
func (b *Backend) isUnwritten(blk uint64) bool {
	return blk/64 < uint64(len(b.unwritten)) && b.unwritten[blk/64]&(1<<(blk%64)) != 0
}

// markUnwritten marks the blocks [from, to) unwritten.
func (b *Backend) markUnwritten(from, to int64) {
	if from >= to {
		return
	}
	if n, old := int((to+63)/64), len(b.unwritten); n > old {
		b.unwritten = slices.Grow(b.unwritten, n-old)[:n]
		clear(b.unwritten[old:])
	}
	for blk := from; blk < to; blk++ {
		b.unwritten[blk/64] |= 1 << (blk % 64)
	}
}

// release frees a channel and gives it to the first I/O waiting.
func (b *Backend) release() {
	b.busy--
	if b.whead < len(b.waiting) {
		p := b.waiting[b.whead]
		b.waiting[b.whead] = simPending{}
		if b.whead++; b.whead == len(b.waiting) {
			b.waiting, b.whead = b.waiting[:0], 0
		}
		b.stats.WaitTime += b.now - p.submitted
		b.start(p)
	}
}

// latency returns op's latency, jittered.
func (b *Backend) latency(op impl.IOOp) int64 {
	var base int64
	switch op {
	case impl.OpRead:
		base = b.dev.ReadLatency
	case impl.OpWrite, impl.OpGrow, impl.OpWriteZeroes:
		base = b.dev.WriteLatency
	default:
		base = b.dev.FlushLatency
	}
	if b.dev.Jitter == 0 || base == 0 {
		return base
	}
	u := float64(b.rng.Uint64()>>11)*0x1p-53*2 - 1 // uniform in [-1, 1)
	return base + int64(float64(base)*b.dev.Jitter*u)
}

// transfer returns the time to move n bytes over the link, rounded up.
func (b *Backend) transfer(n uint64) int64 {
	if n == 0 {
		return 0
	}
	bw := uint64(b.dev.Bandwidth)
	hi, lo := bits.Mul64(n, 1e9)
	if hi >= bw {
		return math.MaxInt64 / 2
	}
	q, r := bits.Div64(hi, lo, bw)
	if r != 0 {
		q++
	}
	return int64(min(q, math.MaxInt64/2))
}

// start gives p a channel at the current time.
func (b *Backend) start(p simPending) {
	var xfer int64
	if p.io.Op != impl.OpFlush {
		xfer = b.transfer(uint64(len(p.io.Buf)))
	}
	b.busy++
	lat := p.latency
	if s := b.dev.Scaling; s > 0 && s < 1 && b.busy > 1 {
		lat = int64(float64(lat) * math.Pow(float64(b.busy), 1-s))
	}
	b.push(simEvent{at: b.now + lat, key: p.key, xfer: xfer, io: p.io})
}

// advance moves virtual time to t, accounting busy time.
func (b *Backend) advance(t int64) {
	if b.busy > 0 {
		b.stats.BusyTime += t - b.now
	}
	b.now = t
}

// The event heap, hand-rolled to avoid container/heap's boxing.

func (b *Backend) less(i, j int) bool {
	ei, ej := &b.events[i], &b.events[j]
	return ei.at < ej.at || ei.at == ej.at && ei.key < ej.key
}

func (b *Backend) push(ev simEvent) {
	b.events = append(b.events, ev)
	for i := len(b.events) - 1; i > 0; {
		p := (i - 1) / 2
		if !b.less(i, p) {
			break
		}
		b.events[i], b.events[p] = b.events[p], b.events[i]
		i = p
	}
}

func (b *Backend) pop() {
	n := len(b.events) - 1
	b.events[0] = b.events[n]
	b.events[n] = simEvent{}
	b.events = b.events[:n]
	b.down(0)
}

func (b *Backend) down(i int) {
	n := len(b.events)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && b.less(r, l) {
			c = r
		}
		if !b.less(c, i) {
			return
		}
		b.events[i], b.events[c] = b.events[c], b.events[i]
		i = c
	}
}
