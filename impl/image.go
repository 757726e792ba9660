package impl

import (
	"errors"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/model"
)

// CreateOptions choose the geometry of a new image. Zero values take
// QEMU's defaults.
type CreateOptions struct {
	// ClusterSize in bytes: a power of two in [4 KiB, 64 MiB].
	ClusterSize uint32
	// TableSize in clusters: a power of two in [1, 16].
	TableSize uint32
	// BackingFile is the backing file name stored in the header, as
	// given (absolute, or relative to the image). Empty for none. The
	// backing file is always raw (QED_F_BACKING_FORMAT_NO_PROBE is set).
	BackingFile string
}

// geometry returns the cluster and table sizes opts choose, defaults
// applied, or why they cannot hold an image of size bytes.
func (opts CreateOptions) geometry(size uint64) (cs, ts uint32, err error) {
	cs, ts = opts.ClusterSize, opts.TableSize
	if cs == 0 {
		cs = DefaultClusterSize
	}
	if ts == 0 {
		ts = DefaultTableSize
	}
	return cs, ts, ValidateGeometry(cs, ts, size)
}

// Create lays out a new, empty image of size guest bytes in st, replacing
// whatever st held: header cluster, then a zeroed L1 table, as QEMU's
// qed_create does.
func Create(st Storage, size uint64, opts CreateOptions) error {
	cs, ts, err := opts.geometry(size)
	if err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	h := Header{ClusterSize: cs, TableSize: ts, HeaderSize: 1, L1TableOffset: uint64(cs), ImageSize: size}
	if opts.BackingFile != "" {
		if len(opts.BackingFile) > MaxBackingName {
			return fmt.Errorf("create image: backing file name of %d bytes is longer than %d", len(opts.BackingFile), MaxBackingName)
		}
		if HeaderLen+len(opts.BackingFile) > int(cs) {
			return fmt.Errorf("create image: backing file name of %d bytes does not fit in a %d-byte header cluster", len(opts.BackingFile), cs)
		}
		h.Features = FeatureBackingFile | FeatureBackingFormatNoProbe
		h.BackingNameOffset = HeaderLen
		h.BackingNameSize = uint32(len(opts.BackingFile))
	}
	if err := st.Truncate(0); err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	hdr := append(h.Encode(), opts.BackingFile...)
	if _, err := st.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("create image: write header: %w", err)
	}
	if err := st.Truncate(int64(cs) + int64(cs)*int64(ts)); err != nil {
		return fmt.Errorf("create image: write L1 table: %w", err)
	}
	if err := st.Sync(); err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	return nil
}

// Options configure an open image.
type Options struct {
	// Policy decides when allocating writes may run in parallel; nil
	// means model.FreezeAny, QED as merged.
	Policy model.Policy
	// ReadOnly refuses writes and never changes the file.
	ReadOnly bool
	// L2CacheTables is the L2 cache capacity in tables; 0 means 512.
	L2CacheTables int
	// Clock returns the current time in nanoseconds (virtual time on the
	// sim backend); nil reads as 0, so freeze times are not measured.
	Clock func() int64
	// Fill chooses how a new cluster's untouched part is written; the
	// zero value, FillElide, writes no zeros where the file reads as
	// zeros already.
	Fill FillMode
	// Metadata chooses when L2 entry updates are written: the zero value,
	// MetaWriteBack, lets an allocating write complete once its data and
	// the cached table are, and writes dirty table sectors in batches
	// (before a guest flush completes, and at close), as qcow2's metadata
	// cache does; MetaWriteThrough writes each update before the request
	// completes, as QEMU's QED does.
	Metadata MetaMode
	// Grow chooses who grows the image file: the zero value, GrowAhead,
	// has the image grow it ahead of allocation in chunks, so that no data
	// write moves the file's size; GrowOff leaves it to the writes.
	Grow GrowMode
	// UnorderedMetadata turns off the ordered metadata writer: every
	// table update is written at once as its own I/O, so two writes of one
	// sector may be in flight together and land in either order. It is
	// the naive scheme, unsafe on purpose, for checkers to demonstrate
	// what the ordering buys; never use it for data.
	UnorderedMetadata bool
	// SkipCheck opens an image whose need-check bit is set without
	// checking it first (for inspection; a writable open normally checks
	// and repairs, as QEMU does).
	SkipCheck bool
	// WakeAll reconsiders every frozen request after every completion of a
	// request in flight, even when the policy is a model.Blocker that names
	// the one request a frozen request waits for. It costs a lookup per
	// frozen request per completion. Admissions differ when a frozen
	// request's lookup changes before its blocker completes: the blocker's
	// new L2 table is linked (a waiting write may then allocate under it),
	// or another completion allocates part of a multi-cluster segment. It
	// exists to compare the two schemes.
	WakeAll bool
	// Buffers, if not nil, supplies the image's I/O buffers and L1 table
	// when it opens and takes them back when it closes (the engine keeps
	// no table after Close then), so that images opened one after another
	// reuse memory rather than fault fresh memory in.
	Buffers *BufferPool
}

// FillMode says how an allocating write fills the part of a new cluster
// that the guest did not write (with backing-file data or zeros).
type FillMode uint8

const (
	// FillElide, the default, writes no zero fill where the file reads as
	// zeros already (space past its end at open, and space the image grew
	// it by): the guest data alone. Elsewhere it is FillMerged. A
	// copy-on-write fill from the backing file is always written, with
	// the data, as one I/O.
	FillElide FillMode = iota
	// FillMerged writes fill and data as one I/O, as qcow2 does.
	FillMerged
	// FillSeparate writes the fill before the data, the fill after it and
	// the data as three I/Os, one after another, as QEMU's QED does; use
	// it to compare with QEMU like for like.
	FillSeparate
)

var fillNames = [...]string{"elide", "merged", "separate"}

// String returns "elide", "merged" or "separate".
func (f FillMode) String() string {
	if int(f) < len(fillNames) {
		return fillNames[f]
	}
	return fmt.Sprintf("fill(%d)", f)
}

// ParseFillMode returns the FillMode named s ("sparse", its old name,
// means elide).
func ParseFillMode(s string) (FillMode, error) {
	if s == "sparse" {
		return FillElide, nil
	}
	for i, n := range fillNames {
		if n == s {
			return FillMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown fill mode %q (want elide, merged or separate)", s)
}

// MetaMode says when L2 table updates reach the disk.
type MetaMode uint8

const (
	// MetaWriteBack, the default: an allocating write completes when its
	// data is written and the cached L2 table updated; dirty table
	// sectors are written in batches before a guest flush completes, when
	// 4096 are dirty, and at close, with a flush first when there is a
	// backing file. A write not yet covered by a completed flush may be
	// lost at a crash (or a killed process), as the disk contract allows;
	// one covered is not.
	MetaWriteBack MetaMode = iota
	// MetaWriteThrough writes each L2 update before its request
	// completes, one sector write at a time, newest content last.
	MetaWriteThrough
)

// String returns "writeback" or "writethrough".
func (m MetaMode) String() string {
	switch m {
	case MetaWriteBack:
		return "writeback"
	case MetaWriteThrough:
		return "writethrough"
	}
	return fmt.Sprintf("meta(%d)", m)
}

// ParseMetaMode returns the MetaMode named s.
func ParseMetaMode(s string) (MetaMode, error) {
	switch s {
	case "writeback":
		return MetaWriteBack, nil
	case "writethrough":
		return MetaWriteThrough, nil
	}
	return 0, fmt.Errorf("unknown metadata mode %q (want writeback or writethrough)", s)
}

// GrowMode says who extends the image file as clusters are allocated.
type GrowMode uint8

const (
	// GrowAhead, the default: the image extends the file ahead of
	// allocation (OpGrow: fallocate where the file system has it), in
	// chunks that double from 1 MiB to 64 MiB as allocation goes on, so
	// no data write moves the file's size (ext4 serializes those) and
	// the space reads as zeros without a fill. A clean close cuts the
	// unused tail; a crash leaves it, which check counts as leaked
	// clusters and repair truncates.
	GrowAhead GrowMode = iota
	// GrowOff leaves the file to grow with the writes past its end, as
	// QEMU's QED does.
	GrowOff
)

// String returns "ahead" or "off".
func (m GrowMode) String() string {
	switch m {
	case GrowAhead:
		return "ahead"
	case GrowOff:
		return "off"
	}
	return fmt.Sprintf("grow(%d)", m)
}

// Image is an open QED image: the engine plus the backend that carries
// out its I/O. Like etcd's RawNode it is driven by one goroutine and is
// not safe for concurrent use: Submit requests, then call Step or Run to
// process I/O completions; Done callbacks run inside those calls.
type Image struct {
	eng    *Engine
	be     Backend
	files  Files
	closed bool
	inDone bool
}

// Open opens the image held in files, doing its I/O through be, which the
// caller built over the same files. If the need-check bit is set and the
// image is writable it is checked and repaired first, as QEMU does.
func Open(files Files, be Backend, opts Options) (*Image, error) {
	e, err := NewEngine(files, opts)
	if err != nil {
		return nil, err
	}
	return &Image{eng: e, be: be, files: files}, nil
}

// NewEngine loads the image held in files and returns its engine: it
// reads the header, the L1 table and (for a writable image) every L2
// table once, synchronously; a writable image with the need-check bit
// set is checked and repaired first, as QEMU does, and unknown autoclear
// bits are cleared. After it returns, the engine does no I/O of its own.
func NewEngine(files Files, opts Options) (*Engine, error) {
	size, err := files.Image.Size()
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	first := make([]byte, SectorSize)
	if _, err := files.Image.ReadAt(first, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("open image: read header: %w", err)
	}
	if size < HeaderLen {
		return nil, fmt.Errorf("open image: %w: file has %d bytes, a QED header needs %d", ErrNotQED, size, HeaderLen)
	}
	h, err := DecodeHeader(first)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	if err := h.Validate(uint64(size)); err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	if !opts.ReadOnly {
		if err := h.writable(); err != nil {
			return nil, fmt.Errorf("open image: %w; open it read-only", err)
		}
	}
	e := &Engine{}
	if h.Features&FeatureBackingFile != 0 {
		name, err := ReadBackingName(files.Image, &h)
		if err != nil {
			return nil, fmt.Errorf("open image: %w", err)
		}
		e.backingName = name
		if name != "" && files.Backing == nil {
			return nil, fmt.Errorf("open image: it has backing file %q, but no backing file was opened", e.backingName)
		}
	}
	if h.Features&FeatureNeedCheck != 0 && !opts.ReadOnly && !opts.SkipCheck {
		res, err := Check(files.Image, true)
		if err != nil {
			return nil, fmt.Errorf("open image: need-check bit set: %w", err)
		}
		if res.Corruptions > 0 || res.CheckErrors > 0 {
			return nil, fmt.Errorf("open image: need-check bit set, and the repair left %d corruptions and %d check errors (cross-links it cannot resolve; see check)", res.Corruptions, res.CheckErrors)
		}
		again := opts
		again.SkipCheck = true
		return NewEngine(files, again)
	}
	if h.AutoclearFeatures != 0 && !opts.ReadOnly {
		// No autoclear bit is defined: clear them all, as the spec says.
		h.AutoclearFeatures = 0
		copy(first, h.Encode())
		if _, err := files.Image.WriteAt(first, 0); err != nil {
			return nil, fmt.Errorf("open image: clear autoclear features: %w", err)
		}
	}
	g := GeometryOf(&h)
	l1 := opts.Buffers.table(g.TableEntries) // every entry is read
	if err := readTable(files.Image, l1, int64(h.L1TableOffset)); err != nil {
		return nil, fmt.Errorf("open image: read L1 table: %w", err)
	}
	e.h, e.g, e.hdrSector = h, g, first
	e.policy = opts.Policy
	if e.policy == nil {
		e.policy = model.FreezeAny{}
	}
	if b, ok := e.policy.(model.Blocker); ok && !opts.WakeAll {
		e.blocker = b
	}
	e.clock = opts.Clock
	e.readOnly = opts.ReadOnly
	e.headerEnd = uint64(h.HeaderSize) * g.ClusterSize
	e.l1 = l1
	capacity := opts.L2CacheTables
	if capacity <= 0 {
		capacity = 512
	}
	e.cache = newL2Cache(capacity)
	e.fileSize = usableLength(uint64(size), g.ClusterSize)
	e.openEnd = e.fileSize
	e.zeroFrom = g.StartOfCluster(sectorLength(uint64(size)) + g.ClusterSize - 1)
	e.fill = opts.Fill
	e.openSize = sectorLength(uint64(size))
	e.grownEnd = e.openSize
	if !opts.ReadOnly && opts.Grow == GrowAhead {
		e.growOn, e.growChunk = true, min(growChunkClusters*g.ClusterSize, growChunkMax)
		e.maxFileEnd = e.openEnd + g.L1Entries()*g.TableBytes + (g.ImageSize+g.ClusterSize-1)/g.ClusterSize*g.ClusterSize
	}
	e.unorderedMeta = opts.UnorderedMetadata
	e.meta.writeBack = !opts.ReadOnly && opts.Metadata == MetaWriteBack && !opts.UnorderedMetadata
	if !opts.ReadOnly {
		var usedEnd uint64
		if e.damaged, usedEnd, err = scanReferences(files.Image, &h, l1, e.openEnd); err != nil {
			return nil, fmt.Errorf("open image: %w", err)
		}
		if usedEnd < e.fileSize {
			// A leaked tail (a crash's grown space, or clusters whose
			// L2 update never landed): allocate from its start, zeros
			// written where it held anything (below zeroFrom), and let
			// a clean close cut what stays unused.
			e.fileSize, e.reclaimed = usedEnd, true
		}
	}
	if files.Backing != nil && e.backingName != "" {
		bs, err := files.Backing.Size()
		if err != nil {
			return nil, fmt.Errorf("open image: backing file: %w", err)
		}
		e.backing, e.backingSize = true, uint64(bs)
	}
	if opts.Buffers != nil {
		e.buffers = opts.Buffers
		e.buffers.take(&e.pool)
	}
	return e, nil
}

// Header returns the image's header as it is in memory.
func (im *Image) Header() Header { return im.eng.h }

// Geometry returns the image's geometry.
func (im *Image) Geometry() Geometry { return im.eng.g }

// BackingFile returns the backing file name stored in the header, or "".
func (im *Image) BackingFile() string { return im.eng.backingName }

// Stats returns what the engine has done so far.
func (im *Image) Stats() Stats { return im.eng.stats }

// Policy returns the policy in force.
func (im *Image) Policy() model.Policy { return im.eng.policy }

// InFlight returns the number of requests submitted and not yet done.
func (im *Image) InFlight() int { return im.eng.active }

// Engine returns the engine the image drives, for inspection (footprints,
// descriptions and state hashes for an explorer). Calling its Submit,
// Complete or Ready behind the image's back breaks the image.
func (im *Image) Engine() *Engine { return im.eng }

// Submit starts r. Its Done callback runs from a later Submit, Step or Run
// call on the same goroutine (or from this one, for a request that fails
// validation or completes without I/O).
func (im *Image) Submit(r *Request) {
	if im.closed {
		r.Err = errors.New("image is closed")
		if r.Done != nil {
			r.Done(r)
		}
		return
	}
	im.eng.Submit(r)
	im.flush()
}

// flush hands the engine's I/Os to the backend and delivers completions.
// Done callbacks may submit further requests; their outputs are handled
// by the same loop.
func (im *Image) flush() {
	if im.inDone {
		return
	}
	im.inDone = true
	defer func() { im.inDone = false }()
	for im.eng.HasReady() {
		rd := im.eng.Ready()
		for _, io := range rd.IOs {
			im.be.Submit(io)
		}
		for _, r := range rd.Done {
			if r.Done != nil {
				r.Done(r)
			}
		}
	}
}

// Step waits for one I/O to complete and processes it. It returns false
// when no I/O is in flight.
func (im *Image) Step() bool {
	io := im.be.Next()
	if io == nil {
		return false
	}
	im.Complete(io)
	return true
}

// Complete processes io, an I/O of the image's backend that completed,
// as Step does with the one it waits for. It is for a driver that waits
// on the backend by means of its own (one that also wakes when a request
// arrives, such as the file backend's Wait) instead of calling Step; the
// I/O must come from the image's backend, once.
func (im *Image) Complete(io *IO) {
	im.eng.Complete(io)
	im.flush()
}

// Run processes completions until no I/O is in flight.
func (im *Image) Run() {
	for im.Step() {
	}
}

// do submits r, runs until it completes and returns its error.
func (im *Image) do(r *Request) error {
	done := false
	r.Done = func(*Request) { done = true }
	im.Submit(r)
	for !done && im.Step() {
	}
	if !done {
		return fmt.Errorf("%s at %d: request stalled with no I/O in flight", r.Op, r.Off)
	}
	return r.Err
}

// ReadAt reads len(p) guest bytes at off, running the image until done.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if err := im.do(&Request{Op: ReqRead, Off: uint64(off), Buf: p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt writes p at guest offset off, running the image until done.
func (im *Image) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("write at negative offset %d", off)
	}
	if err := im.do(&Request{Op: ReqWrite, Off: uint64(off), Buf: p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteZeroesAt makes the n guest bytes at off read as zeros
// (ReqWriteZeroes), running the image until done.
func (im *Image) WriteZeroesAt(off, n int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("write-zeroes of %d bytes at %d: negative offset or length", n, off)
	}
	return im.do(&Request{Op: ReqWriteZeroes, Off: uint64(off), Len: uint64(n)})
}

// Flush makes every completed write durable.
func (im *Image) Flush() error { return im.do(&Request{Op: ReqFlush}) }

// Close waits for every request, flushes, clears the need-check bit (a
// clean shutdown, as QEMU's close does) and closes the backend. It does
// not close the storages.
func (im *Image) Close() error {
	if im.closed {
		return nil
	}
	im.Run()
	for im.eng.WriteBack() {
		im.flush()
		im.Run()
	}
	im.closed = true
	clean, err := im.eng.Close()
	if cerr := im.be.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	if err == nil && !im.eng.readOnly {
		err = im.markClean(clean)
	}
	return err
}

// markClean carries out a clean close: it cuts the tail the image grew
// and did not use, syncs the image and clears the need-check bit.
func (im *Image) markClean(c CleanClose) error {
	st := im.files.Image
	if c.Truncate > 0 {
		if err := st.Truncate(int64(c.Truncate)); err != nil {
			return fmt.Errorf("close: cut the unused grown tail: %w", err)
		}
	}
	if err := st.Sync(); err != nil {
		return fmt.Errorf("close: flush: %w", err)
	}
	if c.Header == nil {
		return nil
	}
	if _, err := st.WriteAt(c.Header, 0); err != nil {
		return fmt.Errorf("close: clear need-check bit: %w", err)
	}
	if err := st.Sync(); err != nil {
		return fmt.Errorf("close: flush: %w", err)
	}
	return nil
}
