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
	// Fill chooses how a new cluster's untouched part is written.
	Fill FillMode
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
	// FillMerged writes fill and data as one I/O, as qcow2 does.
	FillMerged FillMode = iota
	// FillSeparate writes the fill before the data, the fill after it and
	// the data as three I/Os, one after another, as QEMU's QED does; use
	// it to compare with QEMU like for like.
	FillSeparate
	// FillSparse skips a zero fill of clusters past the file's end at
	// open, which read as zeros already, and writes the guest data alone.
	FillSparse
)

var fillNames = [...]string{"merged", "separate", "sparse"}

// String returns "merged", "separate" or "sparse".
func (f FillMode) String() string {
	if int(f) < len(fillNames) {
		return fillNames[f]
	}
	return fmt.Sprintf("fill(%d)", f)
}

// ParseFillMode returns the FillMode named s.
func ParseFillMode(s string) (FillMode, error) {
	for i, n := range fillNames {
		if n == s {
			return FillMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown fill mode %q (want merged, separate or sparse)", s)
}

// Image is an open QED image: the engine plus the backend that carries
// out its I/O. Like etcd's RawNode it is driven by one goroutine and is
// not safe for concurrent use: Submit requests, then call Step or Run to
// process I/O completions; Done callbacks run inside those calls.
type Image struct {
	eng     engine
	be      Backend
	files   Files
	backing string
	closed  bool
	pending []*Request // completions to deliver
	inDone  bool
}

// Open opens the image held in files, doing its I/O through be, which the
// caller built over the same files. If the need-check bit is set and the
// image is writable it is checked and repaired first, as QEMU does.
func Open(files Files, be Backend, opts Options) (*Image, error) {
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
	im := &Image{be: be, files: files}
	if h.Features&FeatureBackingFile != 0 {
		name, err := ReadBackingName(files.Image, &h)
		if err != nil {
			return nil, fmt.Errorf("open image: %w", err)
		}
		im.backing = name
		if name != "" && files.Backing == nil {
			return nil, fmt.Errorf("open image: it has backing file %q, but no backing file was opened", im.backing)
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
		return Open(files, be, again)
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
	e := &im.eng
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
	e.unorderedMeta = opts.UnorderedMetadata
	if !opts.ReadOnly {
		if e.damaged, err = referencesPast(files.Image, &h, l1, e.openEnd); err != nil {
			return nil, fmt.Errorf("open image: %w", err)
		}
	}
	if files.Backing != nil && im.backing != "" {
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
	return im, nil
}

// Header returns the image's header as it is in memory.
func (im *Image) Header() Header { return im.eng.h }

// Geometry returns the image's geometry.
func (im *Image) Geometry() Geometry { return im.eng.g }

// BackingFile returns the backing file name stored in the header, or "".
func (im *Image) BackingFile() string { return im.backing }

// Stats returns what the engine has done so far.
func (im *Image) Stats() Stats { return im.eng.stats }

// Policy returns the policy in force.
func (im *Image) Policy() model.Policy { return im.eng.policy }

// InFlight returns the number of requests submitted and not yet done.
func (im *Image) InFlight() int { return im.eng.active }

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
	im.eng.submit(r)
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
	e := &im.eng
	for len(e.ios) > 0 || len(e.dones) > 0 {
		for i, io := range e.ios {
			e.ios[i] = nil
			im.be.Submit(io)
		}
		e.ios = e.ios[:0]
		im.pending, e.dones = e.dones, im.pending[:0]
		for i, r := range im.pending {
			im.pending[i] = nil
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
	im.eng.complete(io)
	im.flush()
	return true
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
	im.closed = true
	if b := im.eng.buffers; b != nil {
		b.give(&im.eng.pool)
		b.putTable(im.eng.l1)
		im.eng.buffers, im.eng.l1 = nil, nil
	}
	var err error
	if im.eng.active != 0 {
		err = fmt.Errorf("close: %d requests never completed", im.eng.active)
	}
	if cerr := im.be.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	if err == nil && !im.eng.readOnly {
		err = im.markClean()
	}
	return err
}

// markClean syncs the image and clears the need-check bit.
func (im *Image) markClean() error {
	st := im.files.Image
	if err := st.Sync(); err != nil {
		return fmt.Errorf("close: flush: %w", err)
	}
	e := &im.eng
	if e.h.Features&FeatureNeedCheck == 0 {
		return nil
	}
	e.h.Features &^= FeatureNeedCheck
	copy(e.hdrSector, e.h.Encode())
	if _, err := st.WriteAt(e.hdrSector, 0); err != nil {
		return fmt.Errorf("close: clear need-check bit: %w", err)
	}
	if err := st.Sync(); err != nil {
		return fmt.Errorf("close: flush: %w", err)
	}
	return nil
}
