package impl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// CheckResult counts what Check found, in qemu-img check's terms.
//
// Without repair, Corruptions and Leaks are what the image holds. After a
// repair they are what remains, and CorruptionsFixed and LeaksFixed what
// was repaired, as `qemu-img check -r` reports them: the corruptions found
// are Corruptions+CorruptionsFixed, the leaks found Leaks+LeaksFixed.
type CheckResult struct {
	// Corruptions counts invalid or doubly used references: one per invalid
	// L1 or L2 entry, one per data cluster referenced again, and one per
	// cluster of an L2 table that overlaps clusters already in use.
	Corruptions int
	// Leaks counts clusters past the header that nothing references. (A
	// repair that an I/O error stopped may leave more than it found: an
	// L2 table copied past the end of file but not yet relinked.)
	Leaks int
	// CheckErrors counts I/O errors met while checking or repairing; while
	// an L2 table cannot be read, leaks are neither counted nor repaired.
	CheckErrors int
	// CorruptionsFixed counts corruptions repaired by clearing the entry.
	CorruptionsFixed int
	// LeaksFixed counts leaked clusters removed from the file.
	LeaksFixed int
	// AllocatedClusters counts L2 entries that reference a data cluster
	// (neither unallocated nor zero), valid or not, as the tables stand
	// when Check returns; TotalClusters is the guest size in clusters,
	// rounded up.
	AllocatedClusters, TotalClusters uint64
	// FragmentedClusters counts, as QEMU's QED check does, the entries of
	// an L2 table that reference a data cluster not exactly one cluster
	// past the one the table's previous such entry references.
	FragmentedClusters uint64
	// ImageEndOffset is the byte offset just past the last cluster in use
	// (header, L1, L2 tables and data), at most the file size. QEMU does
	// not report it for QED.
	ImageEndOffset uint64
	// Problems holds one readable line per finding, in scan order, leaks
	// last (one line per run of leaked clusters). After 1000 lines, a final
	// line says how many more were left out.
	Problems []string
}

// Clean reports whether the check found nothing left to repair: no
// corruptions, no leaks and no I/O errors.
func (r CheckResult) Clean() bool {
	return r.Corruptions == 0 && r.Leaks == 0 && r.CheckErrors == 0
}

// ExitCode returns qemu-img check's exit status for r: 0 when clean, 1 when
// I/O errors kept the check from completing, 2 when corruptions remain and
// 3 when only leaks remain. (qemu-img also exits 1 when it cannot check at
// all, which Check reports as an error.)
func (r CheckResult) ExitCode() int {
	switch {
	case r.CheckErrors > 0:
		return 1
	case r.Corruptions > 0:
		return 2
	case r.Leaks > 0:
		return 3
	}
	return 0
}

const (
	// checkChunk is the most Check reads of a table or copies at once, so
	// its memory does not grow with a header's table size.
	checkChunk = 64 << 10
	// checkMaxProblems bounds CheckResult.Problems for absurdly broken images.
	checkMaxProblems = 1000
)

// Check checks the QED image in st for consistency, as QEMU's qed-check.c
// does, and with repair also repairs it; st is used synchronously and must
// not be in use by an image meanwhile.
//
// The check marks the clusters of the header, the L1 table, every L2 table
// and every data cluster in a bitmap over the file's real size. An L1 entry
// must be a cluster-aligned offset past the header with the whole table
// inside the file; an L2 entry other than 0 (unallocated) and 1 (zero
// cluster) must be a cluster-aligned offset past the header and before the
// end of file. Invalid entries and references to clusters already in use
// are corruptions (an L2 table overlapping used clusters is not read);
// unreferenced whole clusters past the header are leaks.
//
// Repair clears invalid entries, writing only the changed sectors of a
// table, and syncs; it never changes what a valid reference reads. It
// clears no reference to a cluster that another reference reaches too (a
// cross-link: which one is right cannot be told, and the data of the one
// that is must stay where its guest offset finds it), and writes nothing
// into an L2 table whose clusters another reference reaches (a bogus table
// may be another table or someone's data): those stay corruptions, and
// with any corruption left no leak is repaired, since what an overlapping
// table references looks leaked. (QEMU also leaves cross-links, but clears
// invalid entries in any table it reads.) Autoclear feature bits are
// cleared, as QEMU's writable open does. Then leaks are removed: trailing
// leaked clusters by
// truncating the file, leaked clusters in the middle by moving clusters in
// use down into them (a data cluster, or a whole L2 table into a run of
// free clusters large enough; a table that no free run below it holds
// goes past the end of file first), each move a copy into free clusters,
// Sync, a rewrite of the sector holding the one reference, Sync, before
// the old place is written again or truncated. A crash at any point leaves
// a consistent image, with at worst a leak. The L1 table does not move:
// leaked clusters below it that nothing else can fill remain (an image
// QEMU made has its L1 table right after the header), and nothing moves
// into cluster 0, which holds the header even when header_size is 0. When
// no corruptions or I/O errors remain, the need-check feature bit is
// cleared by rewriting the header's first sector, and the image is synced.
//
// Sizes follow QEMU: the file's length counts rounded up to a whole sector,
// and a cluster the file holds only part of is past its end.
//
// Check returns an error, which names the problem and wraps its cause, only
// when it cannot check at all: the header is invalid, or the file size, the
// header or the L1 table cannot be read. Findings are counted in the result.
func Check(st Storage, repair bool) (CheckResult, error) {
	sz, err := st.Size()
	if err != nil {
		return CheckResult{}, fmt.Errorf("check image: size: %w", err)
	}
	if sz < HeaderLen {
		return CheckResult{}, fmt.Errorf("check image: %w: file has %d bytes, a QED header needs %d", ErrNotQED, sz, HeaderLen)
	}
	var hb [HeaderLen]byte
	if err := checkRead(st, hb[:], 0); err != nil {
		return CheckResult{}, fmt.Errorf("check image: read header: %w", err)
	}
	h, err := DecodeHeader(hb[:])
	if err != nil {
		return CheckResult{}, fmt.Errorf("check image: %w", err)
	}
	if err := h.Validate(uint64(sz)); err != nil {
		return CheckResult{}, fmt.Errorf("check image: invalid header: %w", err)
	}
	if repair {
		if err := h.writable(); err != nil {
			return CheckResult{}, fmt.Errorf("check image: refusing to repair: %w", err)
		}
	}
	c := newImageChecker(st, h, sectorLength(uint64(sz)), repair)
	if err := c.run(); err != nil {
		return CheckResult{}, err
	}
	return c.res, nil
}

// imageChecker is the state of one Check.
type imageChecker struct {
	st       Storage
	repair   bool
	h        Header
	g        Geometry
	size     uint64   // current file size in bytes, rounded up to a sector (sectorLength)
	hdrBytes uint64   // header_size in bytes
	used     []uint64 // bitmap of clusters in use, over the file's clusters rounded up
	nbits    uint64   // clusters in the bitmap
	// shared marks, in a repair, the clusters that more than one reference
	// reaches (the header and L1 table count as references): a table
	// holding any of them is not written, since which reference is right
	// cannot be told (census).
	shared  []uint64
	wrote   bool // repair wrote something not yet synced
	partial bool // an L2 table could not be read: the bitmap is incomplete
	omitted int  // problems left out of res.Problems
	res     CheckResult
}

func newImageChecker(st Storage, h Header, size uint64, repair bool) *imageChecker {
	g := GeometryOf(&h)
	nbits := size / g.ClusterSize
	if size%g.ClusterSize != 0 {
		nbits++ // the partial last cluster, which a data entry may reference
	}
	c := &imageChecker{
		st:       st,
		repair:   repair,
		h:        h,
		g:        g,
		size:     size,
		hdrBytes: uint64(h.HeaderSize) * g.ClusterSize,
		used:     make([]uint64, (nbits+63)/64),
		nbits:    nbits,
	}
	c.res.TotalClusters = h.ImageSize / g.ClusterSize
	if h.ImageSize%g.ClusterSize != 0 {
		c.res.TotalClusters++
	}
	return c
}

func (c *imageChecker) run() error {
	if c.repair {
		if err := c.census(); err != nil {
			return err
		}
		c.clearAutoclear()
	}
	c.setUsed(0, uint64(c.h.HeaderSize))
	c.setUsed(c.h.L1TableOffset/c.g.ClusterSize, c.g.TableSize)
	if err := c.scan(); err != nil {
		return err
	}
	if c.wrote {
		c.sync("sync repaired tables")
	}
	if !c.partial {
		found := c.countLeaks(true)
		c.res.Leaks = found
		// Leaks move only in an image left with no corruption: a table
		// that overlaps another is not read, and what it references
		// looks leaked but may be the data that is right.
		if c.repair && found > 0 && c.res.CheckErrors == 0 && c.res.Corruptions == 0 {
			c.repairLeaks()
			c.res.Leaks = c.countLeaks(false)
			c.res.LeaksFixed = max(0, found-c.res.Leaks)
		}
	}
	if c.repair && c.res.Corruptions == 0 && c.res.CheckErrors == 0 && c.h.Features&FeatureNeedCheck != 0 {
		c.markClean()
	}
	if last, ok := c.lastUsed(c.nbits); ok {
		c.res.ImageEndOffset = min((last+1)*c.g.ClusterSize, c.size)
	}
	if c.omitted > 0 {
		c.res.Problems = append(c.res.Problems, fmt.Sprintf("%d more findings not listed", c.omitted))
	}
	return nil
}

// scan walks the L1 table and every L2 table it references, marking
// clusters in use and counting (and with repair clearing) bad entries.
func (c *imageChecker) scan() error {
	l1buf := make([]byte, min(c.g.TableBytes, checkChunk))
	l2buf := make([]byte, len(l1buf))
	l1 := c.h.L1TableOffset
	leave := ""
	if c.repair && c.isShared(l1/c.g.ClusterSize, c.g.TableSize) {
		leave = "the L1 table shares clusters with another reference, so it is not written"
	}
	rerr, werr := c.walkTable(l1, l1buf, c.repair && leave == "", true, func(i, e uint64) uint64 {
		if e == 0 {
			return e
		}
		if why := c.tableProblem(e); why != "" {
			return c.invalid(fmt.Sprintf("L1 table at %#x entry %d: %s", l1, i, why), e, 1, leave)
		}
		first := e / c.g.ClusterSize
		if n := c.countUsed(first, c.g.TableSize); n > 0 {
			// As QEMU does: the table is not read, its other clusters are
			// not leaks, and the entry stays.
			msg := fmt.Sprintf("L1 table at %#x entry %d: L2 table at %#x overlaps %d cluster(s) already in use", l1, i, e, n)
			c.setUsed(first, c.g.TableSize)
			return c.invalid(msg, e, n, leaveShared)
		}
		c.setUsed(first, c.g.TableSize)
		c.scanL2(e, i, l2buf)
		return e
	})
	if rerr != nil {
		return fmt.Errorf("check image: read L1 table at %#x: %w", l1, rerr)
	}
	if werr != nil {
		c.checkError(fmt.Sprintf("write L1 table at %#x: %v", l1, werr))
	}
	return nil
}

// scanL2 checks the data cluster entries of the L2 table at off, which
// L1 entry l1i references.
func (c *imageChecker) scanL2(off, l1i uint64, buf []byte) {
	leave := ""
	if c.repair && c.isShared(off/c.g.ClusterSize, c.g.TableSize) {
		leave = "its table shares clusters with another reference, so it is not written"
	}
	var last uint64 // the previous entry referencing a data cluster
	rerr, werr := c.walkTable(off, buf, c.repair && leave == "", true, func(j, e uint64) uint64 {
		if e == 0 || e == ZeroCluster {
			return e
		}
		if last != 0 && last+c.g.ClusterSize != e {
			c.res.FragmentedClusters++
		}
		last = e
		ne := c.checkData(off, j, e, leave)
		if ne != 0 {
			c.res.AllocatedClusters++
		}
		return ne
	})
	if rerr != nil {
		c.partial = true
		c.checkError(fmt.Sprintf("L1 table at %#x entry %d: read L2 table at %#x: %v", c.h.L1TableOffset, l1i, off, rerr))
	}
	if werr != nil {
		c.checkError(fmt.Sprintf("write L2 table at %#x: %v", off, werr))
	}
}

// census marks in c.shared, before a repair writes anything, the clusters
// that more than one reference reaches: the header clusters, the L1 table,
// every L2 table that an L1 entry references inside the file, and every
// data cluster that an entry of such a table references. Even the L1
// table is not written where another reference reaches it: a damaged
// header may give it the wrong place or size. Unlike the check
// it reads every table, also one that overlaps another. Where an L2 table
// cannot be read, what it references is unknown, and every cluster counts
// as shared.
func (c *imageChecker) census() error {
	once := make([]uint64, len(c.used))
	c.shared = make([]uint64, len(c.used))
	mark := func(first, n uint64) {
		for i := first; i < first+n && i < c.nbits; i++ {
			w, b := i/64, uint64(1)<<(i%64)
			if once[w]&b != 0 {
				c.shared[w] |= b
			}
			once[w] |= b
		}
	}
	cs := c.g.ClusterSize
	mark(0, uint64(c.h.HeaderSize))
	mark(c.h.L1TableOffset/cs, c.g.TableSize)
	l1buf := make([]byte, min(c.g.TableBytes, checkChunk))
	l2buf := make([]byte, len(l1buf))
	unknown := false
	rerr, _ := c.walkTable(c.h.L1TableOffset, l1buf, false, true, func(_, e uint64) uint64 {
		if unknown || c.tableProblem(e) != "" {
			return e
		}
		mark(e/cs, c.g.TableSize)
		rerr, _ := c.walkTable(e, l2buf, false, true, func(_, d uint64) uint64 {
			if d != ZeroCluster && c.clusterProblem(d) == "" {
				mark(d/cs, 1)
			}
			return d
		})
		unknown = rerr != nil
		return e
	})
	if rerr != nil {
		return fmt.Errorf("check image: read L1 table at %#x: %w", c.h.L1TableOffset, rerr)
	}
	if unknown {
		for i := range c.shared {
			c.shared[i] = ^uint64(0)
		}
	}
	return nil
}

// isShared reports whether any of clusters [first, first+n) is shared
// (census); outside a repair none is.
func (c *imageChecker) isShared(first, n uint64) bool {
	if c.shared == nil {
		return false
	}
	for i := first; i < first+n && i < c.nbits; i++ {
		if c.shared[i/64]&(1<<(i%64)) != 0 {
			return true
		}
	}
	return false
}

// checkData checks L2 entry j of the table at off, e, which references a
// data cluster, and returns the entry's value after repair: an invalid
// entry is cleared unless leave says why not. A cluster referenced twice
// is left referenced twice: which reference is right cannot be told, and
// clearing either might drop the guest data that is.
func (c *imageChecker) checkData(off, j, e uint64, leave string) uint64 {
	if why := c.clusterProblem(e); why != "" {
		return c.invalid(fmt.Sprintf("L2 table at %#x entry %d: %s", off, j, why), e, 1, leave)
	}
	cl := e / c.g.ClusterSize
	if c.isUsed(cl) {
		return c.invalid(fmt.Sprintf("L2 table at %#x entry %d: cluster %#x is already in use", off, j, e), e, 1, leaveShared)
	}
	c.setUsed(cl, 1)
	return e
}

// leaveShared is why a repair leaves a reference to a cluster that
// another reference reaches too.
const leaveShared = "another reference reaches the same cluster, and which is right cannot be told"

// invalid records n corruptions described by msg for an entry holding e,
// and returns the entry's value after repair: a repair clears the entry
// (0) unless leave says why it must not, which the finding then gives.
func (c *imageChecker) invalid(msg string, e uint64, n int, leave string) uint64 {
	switch {
	case c.repair && leave == "":
		c.res.CorruptionsFixed += n
		c.problem(msg + " (cleared)")
		return 0
	case c.repair:
		msg += " (left: " + leave + ")"
	}
	c.res.Corruptions += n
	c.problem(msg)
	return e
}

// tableProblem says what is wrong with e as an L2 table offset, or "".
func (c *imageChecker) tableProblem(e uint64) string {
	switch end := e + c.g.TableBytes; {
	case e%c.g.ClusterSize != 0:
		return fmt.Sprintf("L2 table offset %#x is not cluster-aligned", e)
	case e < c.hdrBytes:
		return fmt.Sprintf("L2 table offset %#x lies inside the header (%d bytes)", e, c.hdrBytes)
	case end < e || end > c.size:
		return fmt.Sprintf("L2 table at %#x (%d bytes) extends past end of file (%d bytes)", e, c.g.TableBytes, c.size)
	}
	return ""
}

// clusterProblem says what is wrong with e as a data cluster offset, or "".
func (c *imageChecker) clusterProblem(e uint64) string {
	switch {
	case e%c.g.ClusterSize != 0:
		return fmt.Sprintf("cluster offset %#x is not cluster-aligned", e)
	case e < c.hdrBytes:
		return fmt.Sprintf("cluster offset %#x lies inside the header (%d bytes)", e, c.hdrBytes)
	case e+c.g.ClusterSize < e || e+c.g.ClusterSize > c.size:
		// Like QEMU, which rounds the file size down to a cluster: a
		// cluster the file holds only part of is past its end, and an
		// open would hand it out again.
		return fmt.Sprintf("cluster offset %#x is past end of file (%d bytes)", e, c.size)
	}
	return ""
}

// walkTable calls visit with the index and value of every entry of the
// table at off (every nonzero one, with skipZero: for callers to which a
// zero entry means nothing, as most of a sparse table is), reading it
// through buf in chunks. visit returns the new value; when write is set,
// the sectors whose entries changed are written back. A read error stops
// the walk; a write error is returned after it.
func (c *imageChecker) walkTable(off uint64, buf []byte, write, skipZero bool, visit func(i, e uint64) uint64) (readErr, writeErr error) {
	le := binary.LittleEndian
	var dirty [checkChunk / SectorSize]bool
	for base := uint64(0); base < c.g.TableBytes; base += uint64(len(buf)) {
		if err := checkRead(c.st, buf, off+base); err != nil {
			return err, writeErr
		}
		changed := false
		for k := 0; k < len(buf); k += 8 {
			e := le.Uint64(buf[k:])
			if e == 0 && skipZero {
				continue
			}
			if ne := visit((base+uint64(k))/8, e); ne != e {
				le.PutUint64(buf[k:], ne)
				dirty[k/SectorSize] = true
				changed = true
			}
		}
		if !changed || !write {
			continue
		}
		for s := 0; s < len(buf)/SectorSize; s++ {
			if !dirty[s] {
				continue
			}
			dirty[s] = false
			if err := checkWrite(c.st, buf[s*SectorSize:(s+1)*SectorSize], off+base+uint64(s*SectorSize)); err != nil && writeErr == nil {
				writeErr = err
			}
			c.wrote = true
		}
	}
	return nil, writeErr
}

// countLeaks counts (and when report is set, reports) the unused whole
// clusters past the header.
func (c *imageChecker) countLeaks(report bool) int {
	n := 0
	end := c.size / c.g.ClusterSize
	for i := uint64(c.h.HeaderSize); i < end; {
		if c.isUsed(i) {
			i++
			continue
		}
		j := i
		for j < end && !c.isUsed(j) {
			j++
		}
		n += int(j - i)
		if report {
			cs := c.g.ClusterSize
			c.problem(fmt.Sprintf("clusters %#x-%#x (%d) are leaked: nothing references them", i*cs, j*cs-1, j-i))
		}
		i = j
	}
	return n
}

// clusterOwner is what references a cluster that leak repair may move.
type clusterOwner struct {
	table    bool   // an L2 table; else a data cluster
	conflict bool   // referenced twice: do not move
	l1, l2   uint64 // the L1 entry of the table; the L2 entry of a data cluster
	off      uint64 // a table's offset
}

// leakRepair is the state of one leak repair. owners records what
// references each cluster in use at or after cluster from (and each
// cluster something has moved to since); below from it is incomplete.
type leakRepair struct {
	c      *imageChecker
	owners map[uint64]clusterOwner
	from   uint64
}

// repairLeaks removes leaked clusters: it truncates trailing ones, and
// fills the holes below the last cluster in use by moving clusters in use
// down, each move to a lower cluster, until none is left or a move is not
// possible (an I/O error, or the L1 table in the way).
//
// Each step moves one thing, the first of these that applies:
//   - the last cluster in use, when it is a data cluster, into the lowest
//     hole;
//   - the L2 table at the end, into the lowest free run that holds it;
//   - when no free run below that table holds it, the highest data
//     cluster below the table into the lowest hole, so that the free
//     clusters gather below the table (unstick);
//   - when no data cluster is left above the lowest hole, the L2 table
//     just above it, which its free clusters cannot hold without
//     overlapping the table itself: first past the end of file, then down
//     into the hole and its own old clusters (unstick).
//
// Every step lowers the sum of the cluster numbers in use, so repair ends.
// Owners are collected for the last clusters in use, as many as there are
// holes; unstick collects them for every cluster above the lowest hole.
func (c *imageChecker) repairLeaks() {
	// Cluster 0 holds the header even when header_size says 0 clusters
	// (QEMU then counts it leaked): nothing moves into it.
	hs := max(1, uint64(c.h.HeaderSize))
	last, ok := c.lastUsed(c.nbits)
	if !ok {
		return
	}
	holes := uint64(0)
	for i := hs; i < last; i++ {
		if !c.isUsed(i) {
			holes++
		}
	}
	r := &leakRepair{c: c, from: math.MaxUint64}
	if holes > 0 {
		// The last holes clusters in use are the first to move: find
		// their owners.
		t, n := last, uint64(0)
		for ; t > hs; t-- {
			if c.isUsed(t) {
				if n++; n == holes {
					break
				}
			}
		}
		if !r.cover(t) {
			holes = 0
		}
	}
	if !c.truncateAfter(last) || holes == 0 {
		return
	}
	cs, ts := c.g.ClusterSize, c.g.TableSize
	lo := hs // every cluster below lo is in use
	for {
		for lo < last && c.isUsed(lo) {
			lo++
		}
		if lo >= last {
			return
		}
		if last < r.from && !r.cover(lo) {
			return
		}
		o, ok := r.owners[last]
		if !ok || o.conflict {
			return // the L1 table, or a cluster we cannot account for
		}
		var moved bool
		switch start := o.off / cs; {
		case !o.table:
			moved = r.moveData(o, last, lo)
		case start+ts-1 != last:
			return
		default:
			if to, ok := c.freeRun(lo, start, ts); ok {
				_, moved = r.moveTable(o, to)
			} else {
				moved = r.unstick(lo, start)
			}
		}
		if !moved {
			return
		}
		if last, ok = c.lastUsed(c.nbits); !ok || !c.truncateAfter(last) {
			return
		}
	}
}

// unstick moves one thing down when the L2 table at the end of the image,
// at cluster s, fits in no free run below it; lo is the lowest free
// cluster. It moves the highest data cluster between lo and s into lo;
// when there is none, the first cluster in use above lo starts an L2
// table with fewer free clusters below it than it has clusters, and
// unstick moves that table past the end of file and from there to lo,
// never overwriting a table still referenced. It reports whether it moved
// something; it does not move the L1 table.
func (r *leakRepair) unstick(lo, s uint64) bool {
	c := r.c
	cs, ts := c.g.ClusterSize, c.g.TableSize
	if !r.cover(lo) {
		return false
	}
	l1 := c.h.L1TableOffset / cs
	for i := s; i > lo+1; {
		i--
		switch o, ok := r.owners[i]; {
		case !c.isUsed(i):
		case i >= l1 && i < l1+ts:
			i = l1 // skip the L1 table
		case !ok || o.conflict:
			return false
		case o.table:
			i = o.off / cs // skip the table
		default:
			return r.moveData(o, i, lo)
		}
	}
	p := lo + 1
	for p < s && !c.isUsed(p) {
		p++
	}
	o, ok := r.owners[p]
	if !ok || o.conflict || !o.table || o.off/cs != p || p-lo >= ts {
		return false // the L1 table is in the way
	}
	far, ok := r.moveTable(o, (c.size+cs-1)/cs)
	if !ok {
		return false
	}
	// [lo, p) was free, and the table has left [p, p+ts).
	_, ok = r.moveTable(far, lo)
	return ok
}

// cover makes sure owners covers every cluster at or after from,
// collecting them afresh if not; a read error is a check error.
func (r *leakRepair) cover(from uint64) bool {
	if from >= r.from {
		return true
	}
	owners, err := r.c.collectOwners(from)
	if err != nil {
		r.c.checkError(fmt.Sprintf("leak repair: %v", err))
		return false
	}
	r.owners, r.from = owners, from
	return true
}

// moveData moves the data cluster src, which o references, to the free
// cluster dst, and reports whether it did; a failure is a check error.
func (r *leakRepair) moveData(o clusterOwner, src, dst uint64) bool {
	c := r.c
	cs := c.g.ClusterSize
	if err := c.moveData(o, src*cs, dst*cs); err != nil {
		c.checkError(fmt.Sprintf("leak repair: move cluster %#x to %#x: %v", src*cs, dst*cs, err))
		return false
	}
	c.clearUsed(src, 1)
	c.setUsed(dst, 1)
	delete(r.owners, src)
	r.owners[dst] = o
	return true
}

// moveTable moves the L2 table o to the free clusters from cluster dst on,
// which may lie past the end of file, and returns its new owner and
// whether it moved; a failure is a check error.
func (r *leakRepair) moveTable(o clusterOwner, dst uint64) (clusterOwner, bool) {
	c := r.c
	cs, ts := c.g.ClusterSize, c.g.TableSize
	src := o.off / cs
	err := c.moveTable(o, dst*cs)
	c.grow(dst + ts)
	if err != nil {
		c.checkError(fmt.Sprintf("leak repair: move L2 table at %#x to %#x: %v", o.off, dst*cs, err))
		return o, false
	}
	c.clearUsed(src, ts)
	c.setUsed(dst, ts)
	for k := uint64(0); k < ts; k++ {
		delete(r.owners, src+k)
	}
	o.off = dst * cs
	for k := uint64(0); k < ts; k++ {
		r.owners[dst+k] = o
	}
	return o, true
}

// truncateAfter cuts the file after cluster last, if that shortens it,
// and reports whether repair may go on.
func (c *imageChecker) truncateAfter(last uint64) bool {
	end := (last + 1) * c.g.ClusterSize
	if end >= c.size {
		return true
	}
	if c.wrote && !c.sync("sync before truncate") {
		return false
	}
	if err := c.st.Truncate(int64(end)); err != nil {
		c.checkError(fmt.Sprintf("leak repair: truncate to %d bytes: %v", end, err))
		return false
	}
	c.size = end
	c.wrote = true
	return true
}

// grow extends the bitmap, and the file size it knows, after a write past
// the end of file that may have reached cluster n: it asks the storage
// for the size.
func (c *imageChecker) grow(n uint64) {
	if sz, err := c.st.Size(); err == nil && sectorLength(uint64(sz)) > c.size {
		c.size = sectorLength(uint64(sz))
	}
	n = max(n, (c.size+c.g.ClusterSize-1)/c.g.ClusterSize)
	for uint64(len(c.used))*64 < n {
		c.used = append(c.used, 0)
	}
	c.nbits = max(c.nbits, n)
}

// collectOwners records what references each cluster at or after t.
func (c *imageChecker) collectOwners(t uint64) (map[uint64]clusterOwner, error) {
	owners := make(map[uint64]clusterOwner)
	add := func(cl uint64, o clusterOwner) {
		if _, dup := owners[cl]; dup {
			o.conflict = true
		}
		owners[cl] = o
	}
	cs := c.g.ClusterSize
	l1buf := make([]byte, min(c.g.TableBytes, checkChunk))
	l2buf := make([]byte, len(l1buf))
	var l2err error
	rerr, _ := c.walkTable(c.h.L1TableOffset, l1buf, false, true, func(i, e uint64) uint64 {
		if e == 0 || c.tableProblem(e) != "" || l2err != nil {
			return e
		}
		for k := uint64(0); k < c.g.TableSize; k++ {
			if cl := e/cs + k; cl >= t {
				add(cl, clusterOwner{table: true, l1: i, off: e})
			}
		}
		rerr, _ := c.walkTable(e, l2buf, false, true, func(j, d uint64) uint64 {
			if d != 0 && d != ZeroCluster && c.clusterProblem(d) == "" && d/cs >= t {
				add(d/cs, clusterOwner{l1: i, l2: j})
			}
			return d
		})
		if rerr != nil {
			l2err = fmt.Errorf("read L2 table at %#x: %w", e, rerr)
		}
		return e
	})
	if rerr != nil {
		return nil, fmt.Errorf("read L1 table at %#x: %w", c.h.L1TableOffset, rerr)
	}
	return owners, l2err
}

// moveData copies the data cluster at src to the free cluster at dst and
// points its L2 entry there.
func (c *imageChecker) moveData(o clusterOwner, src, dst uint64) error {
	var b [8]byte
	if err := checkRead(c.st, b[:], c.h.L1TableOffset+8*o.l1); err != nil {
		return fmt.Errorf("read L1 entry %d: %w", o.l1, err)
	}
	table := binary.LittleEndian.Uint64(b[:])
	if why := c.tableProblem(table); why != "" {
		return fmt.Errorf("L1 entry %d: %s", o.l1, why)
	}
	if err := c.copyRange(src, dst, c.g.ClusterSize); err != nil {
		return err
	}
	return c.updateEntry(table, o.l2, src, dst)
}

// moveTable copies the L2 table o to the free clusters at dst and points
// its L1 entry there.
func (c *imageChecker) moveTable(o clusterOwner, dst uint64) error {
	if err := c.copyRange(o.off, dst, c.g.TableBytes); err != nil {
		return err
	}
	return c.updateEntry(c.h.L1TableOffset, o.l1, o.off, dst)
}

// copyRange copies n bytes from src to dst and syncs.
func (c *imageChecker) copyRange(src, dst, n uint64) error {
	buf := make([]byte, min(n, checkChunk))
	for done := uint64(0); done < n; done += uint64(len(buf)) {
		if err := checkRead(c.st, buf, src+done); err != nil {
			return fmt.Errorf("read %#x: %w", src+done, err)
		}
		if err := checkWrite(c.st, buf, dst+done); err != nil {
			return fmt.Errorf("write %#x: %w", dst+done, err)
		}
	}
	if err := c.st.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// updateEntry rewrites the sector holding entry i of the table at table
// from old to val, and syncs.
func (c *imageChecker) updateEntry(table, i, old, val uint64) error {
	pos := table + 8*i
	sec := pos &^ (SectorSize - 1)
	var b [SectorSize]byte
	if err := checkRead(c.st, b[:], sec); err != nil {
		return fmt.Errorf("read table at %#x: %w", table, err)
	}
	k := pos - sec
	if got := binary.LittleEndian.Uint64(b[k:]); got != old {
		return fmt.Errorf("table at %#x entry %d is %#x, want %#x", table, i, got, old)
	}
	binary.LittleEndian.PutUint64(b[k:], val)
	if err := checkWrite(c.st, b[:], sec); err != nil {
		return fmt.Errorf("write table at %#x entry %d: %w", table, i, err)
	}
	if err := c.st.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// clearAutoclear clears the autoclear feature bits, none of which this
// implementation (or QEMU) knows, as QEMU does when it opens an image
// writable: the specification says a writer that does not know an
// autoclear bit must clear it.
func (c *imageChecker) clearAutoclear() {
	if c.h.AutoclearFeatures == 0 {
		return
	}
	var b [SectorSize]byte
	if err := checkRead(c.st, b[:], 0); err != nil {
		c.checkError(fmt.Sprintf("clear autoclear features: read header: %v", err))
		return
	}
	binary.LittleEndian.PutUint64(b[32:], 0)
	if err := checkWrite(c.st, b[:], 0); err != nil {
		c.checkError(fmt.Sprintf("clear autoclear features: write header: %v", err))
		return
	}
	c.h.AutoclearFeatures = 0
	c.wrote = true
}

// markClean clears the need-check bit in the header's first sector.
func (c *imageChecker) markClean() {
	if !c.sync("sync before clearing need-check") {
		return
	}
	var b [SectorSize]byte
	if err := checkRead(c.st, b[:], 0); err != nil {
		c.checkError(fmt.Sprintf("clear need-check: read header: %v", err))
		return
	}
	f := binary.LittleEndian.Uint64(b[16:])
	binary.LittleEndian.PutUint64(b[16:], f&^FeatureNeedCheck)
	if err := checkWrite(c.st, b[:], 0); err != nil {
		c.checkError(fmt.Sprintf("clear need-check: write header: %v", err))
		return
	}
	c.wrote = true
	c.sync("sync after clearing need-check")
}

// sync syncs the storage, counting a failure as a check error.
func (c *imageChecker) sync(what string) bool {
	if err := c.st.Sync(); err != nil {
		c.checkError(fmt.Sprintf("%s: %v", what, err))
		return false
	}
	c.wrote = false
	return true
}

func (c *imageChecker) checkError(msg string) {
	c.res.CheckErrors++
	c.problem(msg)
}

func (c *imageChecker) problem(msg string) {
	if len(c.res.Problems) >= checkMaxProblems {
		c.omitted++
		return
	}
	c.res.Problems = append(c.res.Problems, msg)
}

// isUsed reports whether cluster i is marked in use.
func (c *imageChecker) isUsed(i uint64) bool {
	return i < c.nbits && c.used[i/64]&(1<<(i%64)) != 0
}

// setUsed marks clusters [first, first+n) in use.
func (c *imageChecker) setUsed(first, n uint64) {
	for i := first; i < first+n && i < c.nbits; i++ {
		c.used[i/64] |= 1 << (i % 64)
	}
}

// clearUsed marks clusters [first, first+n) free.
func (c *imageChecker) clearUsed(first, n uint64) {
	for i := first; i < first+n && i < c.nbits; i++ {
		c.used[i/64] &^= 1 << (i % 64)
	}
}

// countUsed counts the clusters of [first, first+n) marked in use.
func (c *imageChecker) countUsed(first, n uint64) int {
	k := 0
	for i := first; i < first+n; i++ {
		if c.isUsed(i) {
			k++
		}
	}
	return k
}

// lastUsed returns the highest cluster below end marked in use.
func (c *imageChecker) lastUsed(end uint64) (uint64, bool) {
	end = min(end, c.nbits)
	for end > 0 {
		w := c.used[(end-1)/64] & (^uint64(0) >> (63 - (end-1)%64))
		if w != 0 {
			return (end-1)/64*64 + uint64(63-bits.LeadingZeros64(w)), true
		}
		end = (end - 1) / 64 * 64
	}
	return 0, false
}

// freeRun returns the lowest r in [from, to) with clusters [r, r+n) free
// and r+n <= to.
func (c *imageChecker) freeRun(from, to, n uint64) (uint64, bool) {
	run := uint64(0)
	for i := from; i < to; i++ {
		if c.isUsed(i) {
			run = 0
			continue
		}
		if run++; run == n {
			return i + 1 - n, true
		}
	}
	return 0, false
}

// checkRead fills buf from off; bytes past end of file read as zeros.
func checkRead(st Storage, buf []byte, off uint64) error {
	if off > math.MaxInt64 {
		return fmt.Errorf("offset %#x out of range", off)
	}
	n, err := st.ReadAt(buf, int64(off))
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	clear(buf[n:])
	return nil
}

// checkWrite writes buf at off.
func checkWrite(st Storage, buf []byte, off uint64) error {
	if off > math.MaxInt64 {
		return fmt.Errorf("offset %#x out of range", off)
	}
	n, err := st.WriteAt(buf, int64(off))
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	return err
}
