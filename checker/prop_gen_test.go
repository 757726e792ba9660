package checker

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leanovate/gopter"

	"github.com/qedharness/qedharness/impl"
)

// This file holds the generators, shrinkers and text form shared by the
// property tests (prop_*_test.go). Every generated value is built from a
// seed by our own code, not by chains of gopter.Gen.Map (which drops
// shrinking), and carries a shrinker written for it.
//
// Environment knobs, all optional:
//
//	QED_PROP_SOAK=N    run N times as many cases (nightly: 100)
//	QED_PROP_SEED=N    gopter's seed (default fixed, so runs are reproducible;
//	                   with QED_PROP_SOAK a fresh seed is drawn and printed)
//	QED_PROP_REPLAY=s  replay one case in its one-line text form (TestPropReplay)
//	QED_SAVE_CORPUS=1  let TestPropConcurrent save a counterexample the corpus
//	                   lacks into testdata/regressions (otherwise a test run
//	                   only reads the corpus, and prints a new case)

// propSector is the sector size the disk specification and the recorder use.
const propSector = impl.SectorSize

// propDefaultSeed is gopter's seed when QED_PROP_SEED is not set and no
// soak is asked for: the default run is the same on every machine.
const propDefaultSeed = 20101006

// propSoak returns the QED_PROP_SOAK multiplier, at least 1.
func propSoak(t testing.TB) int {
	t.Helper()
	v := os.Getenv("QED_PROP_SOAK")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("QED_PROP_SOAK=%q: want a positive integer", v)
	}
	return n
}

// propParams returns gopter parameters for cases successful cases (times
// the soak), sequences of up to maxSize commands, one worker (the tests
// run their properties in parallel themselves), and the seed from
// QED_PROP_SEED, the fixed default, or the clock when soaking.
func propParams(t testing.TB, cases, maxSize int) *gopter.TestParameters {
	t.Helper()
	seed := int64(propDefaultSeed)
	if v := os.Getenv("QED_PROP_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("QED_PROP_SEED=%q: %v", v, err)
		}
		seed = n
	} else if propSoak(t) > 1 {
		seed = time.Now().UnixNano()
	}
	p := gopter.DefaultTestParametersWithSeed(seed)
	p.MinSuccessfulTests = cases * propSoak(t)
	p.MinSize = 1
	p.MaxSize = maxSize
	p.MaxShrinkCount = 400
	return p
}

// propGeom is an image geometry: cluster size 1<<ClusterBits bytes,
// TableSize clusters per table, Size guest bytes (a multiple of the
// sector, usually not of the cluster) and a raw backing file of Backing
// bytes (a multiple of the sector; 0 for none).
type propGeom struct {
	ClusterBits uint8
	TableSize   uint32
	Size        uint64
	Backing     uint64
}

// Cluster returns the cluster size in bytes.
func (g propGeom) Cluster() uint64 { return 1 << g.ClusterBits }

// Span returns the guest bytes one L2 table maps.
func (g propGeom) Span() uint64 {
	entries := g.Cluster() * uint64(g.TableSize) / 8
	if entries > 1<<40/g.Cluster() { // saturate: such spans exceed any size we generate
		return 1 << 62
	}
	return entries * g.Cluster()
}

// Validate checks g against the format's limits.
func (g propGeom) Validate() error {
	if g.ClusterBits < 12 || g.ClusterBits > 26 {
		return fmt.Errorf("cluster bits %d outside [12, 26]", g.ClusterBits)
	}
	if err := impl.ValidateGeometry(uint32(g.Cluster()), g.TableSize, g.Size); err != nil {
		return err
	}
	if g.Backing%propSector != 0 {
		return fmt.Errorf("backing size %d is not a multiple of %d", g.Backing, propSector)
	}
	return nil
}

// String renders g in the text form: "cluster=4k table=1 size=12800 backing=0".
func (g propGeom) String() string {
	return fmt.Sprintf("cluster=%s table=%d size=%d backing=%d", sizeName(g.Cluster()), g.TableSize, g.Size, g.Backing)
}

func sizeName(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return strconv.FormatUint(n, 10)
}

func parseSize(s string) (uint64, error) {
	mul := uint64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mul, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		mul, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n * mul, err
}

// maxMetaBytes bounds cluster size times table size, so that the header
// and L1 table of a generated image stay small enough to keep in memory
// many times over under -race; heavyMetaBytes is the bound for all but a
// few percent of generated geometries.
const (
	maxMetaBytes   = 64 << 20
	heavyMetaBytes = 256 << 10
)

// genGeom draws a geometry from r: cluster sizes over the whole valid
// range (4 KiB to 64 MiB, small ones most often), table sizes 1 to 16,
// sizes that are rarely cluster multiples and sometimes span several L2
// tables, and a backing file half of the time, usually ending inside a
// cluster.
//
// Clusters above 1 MiB cost tens of MiB of tables per image and seconds
// per case under -race, so genGeom draws them (5% of geometries) only when
// big is set, as soaks do; TestPropGeometryCorners covers them in every run.
func genGeom(r *rand.Rand, big bool) propGeom {
	var bits uint8
	switch x := r.IntN(100); {
	case x < 75:
		bits = uint8(12 + r.IntN(3)) // 4k..16k
	case x < 95 || !big:
		bits = uint8(15 + r.IntN(6)) // 32k..1m
	default:
		bits = uint8(21 + r.IntN(6)) // 2m..64m
	}
	g := propGeom{ClusterBits: bits, TableSize: 1 << r.IntN(5)}
	limit := uint64(heavyMetaBytes)
	if bits > 20 {
		limit = maxMetaBytes
	}
	for g.Cluster()*uint64(g.TableSize) > limit && g.TableSize > 1 {
		g.TableSize /= 2
	}
	cs, spc := g.Cluster(), g.Cluster()/propSector
	var base uint64
	switch r.IntN(3) {
	case 0: // less than a cluster to a few clusters
		base = uint64(r.IntN(4)) * cs
	default: // one to three L2 tables' worth, when that is not absurdly big
		if span := g.Span(); span <= 1<<36 {
			base = uint64(1+r.IntN(3)) * span
		} else {
			base = uint64(1+r.IntN(4)) * cs
		}
	}
	extra := uint64(0)
	if r.IntN(5) > 0 {
		extra = (1 + r.Uint64N(spc-1+1)) * propSector % cs
	}
	g.Size = max(base+extra, propSector)
	if r.IntN(2) == 0 {
		n := min(g.Size, 3*cs, 1<<20) / propSector
		g.Backing = (1 + r.Uint64N(n)) * propSector
	}
	return g
}

// shrinkGeom returns smaller geometries than g that still hold every byte
// below end (the end of the furthest operation): smaller clusters and
// tables, no or a shorter backing file, the smallest sufficient size.
func shrinkGeom(g propGeom, end uint64) []propGeom {
	var out []propGeom
	try := func(h propGeom) {
		if h != g && h.Size >= end && h.Validate() == nil {
			out = append(out, h)
		}
	}
	if g.Backing > 0 {
		h := g
		h.Backing = 0
		try(h)
		h.Backing = g.Backing / 2 / propSector * propSector
		try(h)
	}
	if end > 0 {
		h := g
		h.Size = (end + propSector - 1) / propSector * propSector
		try(h)
	}
	if g.TableSize > 1 {
		h := g
		h.TableSize = 1
		try(h)
	}
	for b := uint8(12); b < g.ClusterBits; b++ {
		h := g
		h.ClusterBits = b
		try(h)
	}
	return out
}

// interesting returns offsets (in bytes) where bugs live for g: the
// start, cluster boundaries, L2-table boundaries, the end of the backing
// file and of the image.
func interesting(g propGeom) []uint64 {
	pts := []uint64{0}
	for c := uint64(1); c <= 4; c++ {
		pts = append(pts, c*g.Cluster())
	}
	for k := uint64(1); k <= 3; k++ {
		if s := g.Span(); s < 1<<62 {
			pts = append(pts, k*s)
		}
	}
	if g.Backing > 0 {
		pts = append(pts, g.Backing)
	}
	pts = append(pts, g.Size)
	out := pts[:0]
	for _, p := range pts {
		if p <= g.Size {
			out = append(out, p)
		}
	}
	return out
}

// rangeGen draws extents inside a geometry, biased to the interesting
// places: near boundaries, into fresh clusters, into the cluster of a
// recent extent. unit is the granularity (1 for bytes, the sector for the
// concurrent property).
type rangeGen struct {
	r       *rand.Rand
	g       propGeom
	unit    uint64
	pts     []uint64
	touched []uint64 // clusters touched so far, most recent last
}

func newRangeGen(r *rand.Rand, g propGeom, unit uint64) *rangeGen {
	return &rangeGen{r: r, g: g, unit: unit, pts: interesting(g)}
}

// next returns an extent [off, off+n) with 0 < n and off+n <= size.
func (rg *rangeGen) next() (off, n uint64) {
	r, g, u := rg.r, rg.g, rg.unit
	cs := g.Cluster()
	switch x := r.IntN(100); {
	case x < 35 && len(rg.touched) > 0: // the same cluster as a recent request
		c := rg.touched[len(rg.touched)-1-r.IntN(min(3, len(rg.touched)))]
		off = c*cs + r.Uint64N(cs/u)*u
	case x < 55: // a fresh cluster after the furthest touched
		c := uint64(0)
		for _, t := range rg.touched {
			c = max(c, t+1)
		}
		c += uint64(r.IntN(3))
		off = c*cs + r.Uint64N(cs/u)*u*uint64(r.IntN(2))
	case x < 90: // near a boundary
		p := rg.pts[r.IntN(len(rg.pts))]
		d := uint64(r.IntN(4)) * u
		if u == 1 {
			d = uint64(r.IntN(1100))
		}
		if r.IntN(2) == 0 && p >= d {
			off = p - d
		} else {
			off = p + d
		}
	default: // anywhere
		off = r.Uint64N(g.Size/u) * u
	}
	if off >= g.Size {
		off = (g.Size - u) / u * u
	}
	switch x := r.IntN(100); {
	case x < 45:
		n = u * (1 + uint64(r.IntN(4)))
	case x < 75:
		n = u * (1 + r.Uint64N(max(cs/u, 1)))
	default: // across a boundary
		n = u * (1 + r.Uint64N(2*cs/u+8))
	}
	n = min(n, 256<<10, g.Size-off)
	if u == 1 && r.IntN(3) == 0 {
		n = max(1, n-uint64(r.IntN(int(min(n, 511)))))
	}
	rg.touched = append(rg.touched, off/cs)
	if n > 1 {
		rg.touched = append(rg.touched, (off+n-1)/cs)
	}
	return off, n
}

// propOpKind is the kind of an operation of a concurrent case.
type propOpKind uint8

const (
	opRead propOpKind = iota
	opWrite
	opFlush
	opReopen // runs alone: waits for every request, closes, opens again
	opCheck  // runs alone: impl.Check on the open image's file
	opZero   // write-zeroes (a trim): generated only by withZeroes
)

var propOpNames = [...]string{"read", "write", "flush", "reopen", "check", "write-zeroes"}

// ranged reports whether the op covers sectors.
func (k propOpKind) ranged() bool { return k == opRead || k == opWrite || k == opZero }

// String returns the kind's name as the text form writes it ("write").
func (k propOpKind) String() string { return propOpNames[k] }

// propOp is one operation of a concurrent case, in sectors.
type propOp struct {
	Kind          propOpKind
	Sector, Count uint64
}

// String renders op in the text form: "write s8+2", "flush".
func (o propOp) String() string {
	if o.Kind.ranged() {
		return fmt.Sprintf("%s s%d+%d", o.Kind, o.Sector, o.Count)
	}
	return o.Kind.String()
}

// propCase is one input of the concurrent property: a geometry, the sim
// backend's seed (which picks the completion order) and batches of
// operations; the operations of a batch are submitted together and the
// batch runs until every one has completed.
type propCase struct {
	Geom    propGeom
	Seed    int64
	Batches [][]propOp
}

// Ops counts the operations of c.
func (c propCase) Ops() int {
	n := 0
	for _, b := range c.Batches {
		n += len(b)
	}
	return n
}

// end returns the end in bytes of the furthest read or write.
func (c propCase) end() uint64 {
	e := uint64(0)
	for _, b := range c.Batches {
		for _, o := range b {
			e = max(e, (o.Sector+o.Count)*propSector)
		}
	}
	return e
}

// String renders c in its one-line text form, which parseCase reads:
//
//	geometry cluster=4k table=1 size=12800 backing=0; seed 7; batch write s0+1; batch write s8+1 | write s9+1
func (c propCase) String() string { return strings.Join(c.lines(), "; ") }

func (c propCase) lines() []string {
	l := []string{"geometry " + c.Geom.String(), fmt.Sprintf("seed %d", c.Seed)}
	for _, b := range c.Batches {
		ops := make([]string, len(b))
		for i, o := range b {
			ops[i] = o.String()
		}
		l = append(l, "batch "+strings.Join(ops, " | "))
	}
	return l
}

// genCase builds a concurrent case from seed and big (see genGeom) alone.
func genCase(seed int64, big bool) propCase {
	r := rand.New(rand.NewPCG(uint64(seed), 0x70726f70))
	g := genGeom(r, big)
	c := propCase{Geom: g, Seed: int64(r.Uint64() >> 1)}
	rg := newRangeGen(r, g, propSector)
	batches := 1 + r.IntN(5)
	for range batches {
		switch x := r.IntN(100); {
		case x < 8:
			c.Batches = append(c.Batches, []propOp{{Kind: opReopen}})
			continue
		case x < 12:
			c.Batches = append(c.Batches, []propOp{{Kind: opCheck}})
			continue
		}
		var b []propOp
		for range 1 + r.IntN(4) {
			switch x := r.IntN(100); {
			case x < 62:
				off, n := rg.next()
				b = append(b, propOp{Kind: opWrite, Sector: off / propSector, Count: n / propSector})
			case x < 92:
				off, n := rg.next()
				b = append(b, propOp{Kind: opRead, Sector: off / propSector, Count: n / propSector})
			default:
				b = append(b, propOp{Kind: opFlush})
			}
		}
		c.Batches = append(c.Batches, b)
	}
	return c
}

// genPropCase is the gopter generator of concurrent cases: it draws a
// case seed and builds the case from it, with shrinkCase as shrinker.
func genPropCase(big bool) gopter.Gen {
	return func(p *gopter.GenParameters) *gopter.GenResult {
		return gopter.NewGenResult(genCase(p.Rng.Int63(), big), shrinkCase)
	}
}

// shrinkCase is the shrinker of propCase. It proposes, in order: fewer
// batches, fewer operations, shorter and cluster-aligned operations, and
// smaller geometries. gopter keeps the first candidate that still fails
// and asks again, so a counterexample ends with nothing left to remove.
func shrinkCase(v any) gopter.Shrink {
	c := v.(propCase)
	var out []propCase
	with := func(batches [][]propOp) propCase {
		return propCase{Geom: c.Geom, Seed: c.Seed, Batches: batches}
	}
	for i := range c.Batches {
		out = append(out, with(slices.Delete(cloneBatches(c.Batches), i, i+1)))
	}
	for i, b := range c.Batches {
		if len(b) < 2 {
			continue
		}
		for j := range b {
			bs := cloneBatches(c.Batches)
			bs[i] = slices.Delete(bs[i], j, j+1)
			out = append(out, with(bs))
		}
	}
	// Split a batch in two: fewer operations in flight at once.
	for i, b := range c.Batches {
		if len(b) < 2 {
			continue
		}
		for j := 1; j < len(b); j++ {
			bs := cloneBatches(c.Batches)
			bs = slices.Insert(bs, i+1, slices.Clone(bs[i][j:]))
			bs[i] = bs[i][:j]
			out = append(out, with(bs))
		}
	}
	spc := c.Geom.Cluster() / propSector
	for i, b := range c.Batches {
		for j, o := range b {
			if !o.Kind.ranged() {
				continue
			}
			for _, s := range shrinkOp(o, spc) {
				bs := cloneBatches(c.Batches)
				bs[i][j] = s
				out = append(out, with(bs))
			}
		}
	}
	// Move the operations to the lowest clusters and tables, keeping
	// which share a cluster and which share a table, in the same and in
	// smaller geometries.
	if d, ok := remap(c, c.Geom); ok && d.String() != c.String() {
		out = append(out, d)
	}
	for _, g := range shrinkGeom(c.Geom, c.end()) {
		out = append(out, propCase{Geom: g, Seed: c.Seed, Batches: c.Batches})
		if d, ok := remap(c, g); ok {
			out = append(out, d)
		}
	}
	i := 0
	return func() (any, bool) {
		if i == len(out) {
			return nil, false
		}
		i++
		return out[i-1], true
	}
}

// shrinkOp returns simpler versions of a read or write: one sector,
// half as many, moved to the start of its cluster.
func shrinkOp(o propOp, spc uint64) []propOp {
	var out []propOp
	if o.Count > 1 {
		out = append(out, propOp{o.Kind, o.Sector, 1}, propOp{o.Kind, o.Sector, o.Count / 2})
	}
	if s := o.Sector / spc * spc; s != o.Sector {
		out = append(out, propOp{o.Kind, s, o.Count})
	}
	return out
}

func cloneBatches(bs [][]propOp) [][]propOp {
	out := make([][]propOp, len(bs))
	for i, b := range bs {
		out[i] = slices.Clone(b)
	}
	return out
}

// parseCase reads a case in the text form String and lines write: one
// directive per line or per ';', blank lines and '#' comments ignored.
// Directives other than geometry, seed and batch are returned in meta
// (key and rest of line), for the corpus's policy and expect lines.
func parseCase(text string) (c propCase, meta map[string]string, err error) {
	meta = map[string]string{}
	seenGeom := false
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ';' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch key {
		case "geometry":
			seenGeom = true
			for _, f := range strings.Fields(rest) {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return c, nil, fmt.Errorf("geometry field %q: want key=value", f)
				}
				n, err := parseSize(v)
				if err != nil {
					return c, nil, fmt.Errorf("geometry field %q: %v", f, err)
				}
				switch k {
				case "cluster":
					for c.Geom.ClusterBits = 0; c.Geom.Cluster() < n && c.Geom.ClusterBits < 40; c.Geom.ClusterBits++ {
					}
					if c.Geom.Cluster() != n {
						return c, nil, fmt.Errorf("geometry field %q: cluster size is not a power of two", f)
					}
				case "table":
					c.Geom.TableSize = uint32(n)
				case "size":
					c.Geom.Size = n
				case "backing":
					c.Geom.Backing = n
				default:
					return c, nil, fmt.Errorf("geometry field %q: unknown key", f)
				}
			}
		case "seed":
			if c.Seed, err = strconv.ParseInt(rest, 10, 64); err != nil {
				return c, nil, fmt.Errorf("seed %q: %v", rest, err)
			}
		case "batch":
			var b []propOp
			for _, f := range strings.Split(rest, "|") {
				o, err := parseOp(strings.TrimSpace(f))
				if err != nil {
					return c, nil, err
				}
				b = append(b, o)
			}
			c.Batches = append(c.Batches, b)
		default:
			meta[key] = rest
		}
	}
	if !seenGeom {
		return c, nil, fmt.Errorf("no geometry line")
	}
	if err := c.Geom.Validate(); err != nil {
		return c, nil, fmt.Errorf("geometry: %w", err)
	}
	if e := c.end(); e > c.Geom.Size {
		return c, nil, fmt.Errorf("an operation ends at byte %d, past the image size %d", e, c.Geom.Size)
	}
	return c, meta, nil
}

func parseOp(s string) (propOp, error) {
	name, ext, _ := strings.Cut(s, " ")
	k := slices.Index(propOpNames[:], name)
	if k < 0 {
		return propOp{}, fmt.Errorf("operation %q: unknown kind (want one of %v)", s, propOpNames)
	}
	o := propOp{Kind: propOpKind(k)}
	if !o.Kind.ranged() {
		if ext != "" {
			return o, fmt.Errorf("operation %q: %s takes no extent", s, name)
		}
		return o, nil
	}
	a, b, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(ext), "s"), "+")
	var err1, err2 error
	o.Sector, err1 = strconv.ParseUint(a, 10, 64)
	o.Count, err2 = strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || o.Count == 0 {
		return o, fmt.Errorf("operation %q: want %s sN+M with M > 0", s, name)
	}
	return o, nil
}

// remap moves c's operations into geometry g: the L2 tables c touches
// become tables 0, 1, ... in order, the clusters it touches under each
// become that table's clusters 0, 1, ..., and each operation keeps its
// offset within its cluster (modulo g's cluster size) and its length. The
// image size shrinks to the end of the furthest operation. It reports
// false when the layout does not fit g.
func remap(c propCase, g propGeom) (propCase, bool) {
	ospc, nspc := c.Geom.Cluster()/propSector, g.Cluster()/propSector
	ospan, nspan := c.Geom.Span()/propSector, g.Span()/propSector
	var tables []uint64
	clusters := map[uint64][]uint64{}
	for _, b := range c.Batches {
		for _, o := range b {
			if !o.Kind.ranged() {
				continue
			}
			t, k := o.Sector/ospan, o.Sector%ospan/ospc
			if !slices.Contains(tables, t) {
				tables = append(tables, t)
			}
			if !slices.Contains(clusters[t], k) {
				clusters[t] = append(clusters[t], k)
			}
		}
	}
	slices.Sort(tables)
	for _, ks := range clusters {
		slices.Sort(ks)
	}
	d := propCase{Geom: g, Seed: c.Seed, Batches: cloneBatches(c.Batches)}
	end := uint64(0)
	for _, b := range d.Batches {
		for j, o := range b {
			if !o.Kind.ranged() {
				continue
			}
			t, k := o.Sector/ospan, o.Sector%ospan/ospc
			nt := uint64(slices.Index(tables, t))
			nk := uint64(slices.Index(clusters[t], k))
			if (nk+1)*nspc > nspan {
				return c, false
			}
			b[j].Sector = nt*nspan + nk*nspc + o.Sector%ospc%nspc
			end = max(end, b[j].Sector+o.Count)
		}
	}
	if end > 0 {
		d.Geom.Size = end * propSector
	}
	d.Geom.Backing = min(d.Geom.Backing, d.Geom.Size)
	if d.Geom.Validate() != nil {
		return c, false
	}
	return d, true
}

// TestPropCaseText checks that generated cases, and every candidate their
// shrinker proposes, are valid and survive the text form unchanged, so a
// printed counterexample replays exactly.
func TestPropCaseText(t *testing.T) {
	t.Parallel()
	for seed := range int64(200) {
		c := genCase(seed, seed%10 == 0)
		cands := []propCase{c}
		next := shrinkCase(c)
		for v, ok := next(); ok; v, ok = next() {
			cands = append(cands, v.(propCase))
		}
		for _, d := range cands {
			back, _, err := parseCase(d.String())
			if err != nil {
				t.Fatalf("seed %d: %q does not parse back: %v", seed, d, err)
			}
			if back.String() != d.String() {
				t.Fatalf("seed %d: %q parses back as %q", seed, d, back)
			}
		}
	}
}

// TestPropParseErrors checks that malformed cases are refused with a
// reason, table-driven.
func TestPropParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, text string }{
		{"no geometry", "seed 1; batch write s0+1"},
		{"bad cluster", "geometry cluster=3k table=1 size=4096"},
		{"past the end", "geometry cluster=4k table=1 size=4096; batch write s8+1"},
		{"zero count", "geometry cluster=4k table=1 size=4096; batch write s0+0"},
		{"unknown op", "geometry cluster=4k table=1 size=4096; batch trim s0+1"},
		{"extent on flush", "geometry cluster=4k table=1 size=4096; batch flush s0+1"},
	} {
		if _, _, err := parseCase(tc.text); err == nil {
			t.Errorf("%s: %q parsed without error", tc.name, tc.text)
		}
	}
}
