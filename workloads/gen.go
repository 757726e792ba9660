package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// maxZipfBlocks bounds the blocks a zipf job draws from, since its
// cumulative distribution is tabulated (8 bytes per block).
const maxZipfBlocks = 1 << 22

// Limits on a job's counts, to catch typos before they allocate.
const (
	maxIODepth = 1 << 16
	maxNumJobs = 1 << 10
)

// Plan is a validated job with its defaults resolved and its tables
// computed. It is immutable, so one plan may serve many runs at once.
type Plan struct {
	job       Job
	imageSize uint64
	opsPerJob uint64 // 0: no limit
	units     uint64 // blocks (plain, rewrite), fresh units (first-touch) or block slots (same-cluster) per region
	unitBytes uint64 // bytes per first-touch unit
	cdf       []float64
	// prefilled is the prefilled image of the in-memory backends, built
	// at the first run that needs it; nil (a Plan not made by Job.Plan)
	// prefills every run afresh.
	prefilled *prefilledImage
}

// Plan validates j and resolves its defaults. Every problem is a
// *KeyError naming the key at fault (for a combination of keys, the one
// to change), so a job file can point at its line.
func (j Job) Plan() (*Plan, error) {
	bad := func(key string, format string, args ...any) (*Plan, error) {
		v, _ := j.Get(key)
		return nil, &KeyError{Job: j.Name, Key: key, Value: v, Err: fmt.Errorf(format, args...)}
	}
	if j.Pattern == "" {
		j.Pattern = Plain
	}
	if j.Distribution.Kind == "" {
		j.Distribution.Kind = Uniform
	}
	if !validRW(j.RW) {
		return bad("rw", "want one of %s", joinValues(rwValues))
	}
	cs := uint64(j.ClusterSize)
	switch {
	case j.BlockSize == 0 || j.BlockSize%impl.SectorSize != 0:
		return bad("bs", "must be a positive multiple of %d bytes", impl.SectorSize)
	case j.IODepth < 1 || j.IODepth > maxIODepth:
		return bad("iodepth", "must be in [1, %d]", maxIODepth)
	case j.NumJobs < 1 || j.NumJobs > maxNumJobs:
		return bad("numjobs", "must be in [1, %d]", maxNumJobs)
	case j.Size%impl.SectorSize != 0:
		return bad("size", "must be a multiple of %d bytes", impl.SectorSize)
	case j.Size < j.BlockSize:
		return bad("size", "smaller than bs=%s: the region holds no block", FormatSize(j.BlockSize))
	case j.Offset%impl.SectorSize != 0:
		return bad("offset", "must be a multiple of %d bytes", impl.SectorSize)
	case j.RWMixRead < 0 || j.RWMixRead > 100:
		return bad("rwmixread", "a percentage must be in [0, 100]")
	case j.Fsync < 0:
		return bad("fsync", "must not be negative")
	case j.Runtime < 0:
		return bad("runtime", "must not be negative")
	}
	if j.Distribution.Kind == Zipf {
		if !(j.Distribution.Theta > 0) || j.Distribution.Theta == 1 || math.IsInf(j.Distribution.Theta, 0) {
			return bad("random_distribution", "zipf exponent must be positive, finite and not 1")
		}
		if !j.RW.Random() {
			return bad("random_distribution", "zipf needs random offsets (rw=randread, randwrite or randrw), not rw=%s", j.RW)
		}
	} else if j.Distribution.Kind != Uniform {
		return bad("random_distribution", "unknown distribution")
	}
	if j.ClusterSize < impl.MinClusterSize || j.ClusterSize > impl.MaxClusterSize || j.ClusterSize&(j.ClusterSize-1) != 0 {
		return bad("cluster_size", "must be a power of two in [%s, %s]", FormatSize(impl.MinClusterSize), FormatSize(impl.MaxClusterSize))
	}
	if j.TableSize < impl.MinTableSize || j.TableSize > impl.MaxTableSize || j.TableSize&(j.TableSize-1) != 0 {
		return bad("table_size", "must be a power of two in [%d, %d]", impl.MinTableSize, impl.MaxTableSize)
	}
	hi, span := bits.Mul64(uint64(j.NumJobs), j.Size)
	end, carry := bits.Add64(j.Offset, span, 0)
	if hi != 0 || carry != 0 {
		return bad("size", "offset + numjobs*size overflows")
	}
	p := &Plan{job: j, prefilled: new(prefilledImage)}
	if j.ImageSize == 0 {
		if end > math.MaxUint64-cs {
			return bad("size", "offset + numjobs*size is too large for an image")
		}
		p.imageSize = (end + cs - 1) / cs * cs
	} else {
		if j.ImageSize < end {
			return bad("image_size", "smaller than the end of the last region, offset + numjobs*size = %s", FormatSize(end))
		}
		p.imageSize = j.ImageSize
	}
	if err := impl.ValidateGeometry(j.ClusterSize, j.TableSize, p.imageSize); err != nil {
		key := "image_size"
		if j.ImageSize == 0 {
			key = "size"
		}
		return bad(key, "%v", err)
	}

	switch j.Pattern {
	case Plain, Rewrite:
		p.units = j.Size / j.BlockSize
		if j.Pattern == Rewrite {
			p.job.Prefill = true
		}
	case FirstTouch, SameCluster:
		if j.RW != RWWrite && j.RW != RWRandWrite {
			return bad("pattern", "%s writes fresh clusters: it needs rw=write or rw=randwrite, not rw=%s", j.Pattern, j.RW)
		}
		if j.Prefill {
			return bad("prefill", "prefill allocates every cluster, leaving none fresh for pattern=%s", j.Pattern)
		}
		if j.Offset%cs != 0 {
			return bad("offset", "pattern=%s needs regions aligned to cluster_size=%s", j.Pattern, FormatSize(cs))
		}
		if j.Size%cs != 0 {
			return bad("size", "pattern=%s needs a multiple of cluster_size=%s", j.Pattern, FormatSize(cs))
		}
		clusters := j.Size / cs
		if j.Pattern == FirstTouch {
			perUnit := (j.BlockSize + cs - 1) / cs
			p.unitBytes = perUnit * cs
			p.units = clusters / perUnit
			if p.units == 0 {
				return bad("size", "holds no run of %d fresh clusters for bs=%s", perUnit, FormatSize(j.BlockSize))
			}
		} else {
			if j.BlockSize >= cs || cs%j.BlockSize != 0 {
				return bad("bs", "pattern=same-cluster writes parts of a cluster: bs must divide cluster_size=%s and be smaller", FormatSize(cs))
			}
			p.units = clusters * (cs / j.BlockSize)
		}
	default:
		return bad("pattern", "want one of %s", joinValues(patternValues))
	}

	switch {
	case j.Ops > 0:
		p.opsPerJob = j.Ops
	case j.Runtime > 0:
		p.opsPerJob = 0
	default:
		p.opsPerJob = p.units
	}
	if (j.Pattern == FirstTouch || j.Pattern == SameCluster) && p.opsPerJob > p.units {
		return bad("ops", "exceeds the %d writes pattern=%s can make to the fresh clusters of size=%s", p.units, j.Pattern, FormatSize(j.Size))
	}
	if j.Distribution.Kind == Zipf {
		if p.units > maxZipfBlocks {
			return bad("random_distribution", "zipf draws from at most %d blocks per instance; size/bs is %d", maxZipfBlocks, p.units)
		}
		p.cdf = zipfCDF(p.units, j.Distribution.Theta)
	}
	return p, nil
}

func validRW(rw RW) bool {
	for _, v := range rwValues {
		if rw == v {
			return true
		}
	}
	return false
}

// zipfCDF tabulates the cumulative weights of ranks 1..n under exponent theta.
func zipfCDF(n uint64, theta float64) []float64 {
	cdf := make([]float64, n)
	var sum float64
	for i := range cdf {
		sum += math.Pow(float64(i+1), -theta)
		cdf[i] = sum
	}
	return cdf
}

// Job returns the validated job, with Prefill set where the pattern
// implies it.
func (p *Plan) Job() Job { return p.job }

// Name returns the job's name.
func (p *Plan) Name() string { return p.job.Name }

// ImageSize returns the guest size of the image the job runs on.
func (p *Plan) ImageSize() uint64 { return p.imageSize }

// CreateOptions returns the geometry of the image the job runs on; the
// caller fills in the backing file name if Backing is set.
func (p *Plan) CreateOptions() impl.CreateOptions {
	return impl.CreateOptions{ClusterSize: p.job.ClusterSize, TableSize: p.job.TableSize}
}

// Disk returns the disk specification a run of the plan is judged
// against: the image's backing file, if any, spans the whole guest size.
func (p *Plan) Disk() model.Disk {
	if !p.job.Backing {
		return model.Disk{}
	}
	return model.Disk{BackingSectors: p.imageSize / impl.SectorSize}
}

// OpsPerJob returns the reads and writes each instance issues, or 0 when
// only the runtime limits them. Flushes (fsync) come on top.
func (p *Plan) OpsPerJob() uint64 { return p.opsPerJob }

// Region returns the guest byte range of instance i.
func (p *Plan) Region(i int) (off, size uint64) {
	return p.job.Offset + uint64(i)*p.job.Size, p.job.Size
}

// OpKind is the kind of a generated operation.
type OpKind uint8

const (
	// OpRead reads Len bytes at Off.
	OpRead OpKind = iota
	// OpWrite writes Len bytes at Off.
	OpWrite
	// OpFlush flushes; Off and Len are 0.
	OpFlush
)

// String returns "read", "write" or "flush".
func (k OpKind) String() string {
	switch k {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpFlush:
		return "flush"
	}
	return fmt.Sprintf("opkind(%d)", k)
}

// Op is one generated operation, in guest bytes.
type Op struct {
	Kind     OpKind
	Off, Len uint64
}

// String renders the op as "write 0x10000+4096".
func (o Op) String() string {
	if o.Kind == OpFlush {
		return "flush"
	}
	return fmt.Sprintf("%s %#x+%d", o.Kind, o.Off, o.Len)
}

// Stream generates the operations of one job instance. Its sequence
// depends only on the plan, the seed and the instance number, never on
// when operations complete. A Stream is not safe for concurrent use.
type Stream struct {
	p     *Plan
	rng   *rand.Rand
	base  uint64
	left  uint64 // reads and writes still to issue
	bound bool   // left counts down; false: no limit
	seq   uint64 // reads and writes issued
	write int    // writes since the last flush
	flush bool   // a flush is due next

	perm       lazyPerm
	scatterMul uint64
	scatterAdd uint64
	slots      []uint64 // same-cluster: block order within the cluster
	cluster    uint64   // same-cluster: the current cluster of the region
}

// streamSalt separates the PCG streams of instances from each other and
// from other users of the same seed (the sim backend's).
const streamSalt = 0xda942042e4dd58b5

// Streams returns one stream per instance (NumJobs of them), seeded from
// seed.
func (p *Plan) Streams(seed int64) []*Stream {
	out := make([]*Stream, p.job.NumJobs)
	for i := range out {
		out[i] = p.newStream(seed, i)
	}
	return out
}

func (p *Plan) newStream(seed int64, i int) *Stream {
	s := &Stream{
		p:     p,
		rng:   rand.New(rand.NewPCG(uint64(seed), streamSalt^uint64(i+1)*0x9e3779b97f4a7c15)),
		left:  p.opsPerJob,
		bound: p.opsPerJob > 0,
	}
	s.base, _ = p.Region(i)
	switch p.job.Pattern {
	case FirstTouch:
		s.perm.n = p.units
	case SameCluster:
		s.perm.n = p.units / (uint64(p.job.ClusterSize) / p.job.BlockSize)
		s.slots = make([]uint64, uint64(p.job.ClusterSize)/p.job.BlockSize)
	default:
		s.perm.n = p.units
		if p.cdf != nil {
			s.scatterMul, s.scatterAdd = scatter(s.rng, p.units)
		}
	}
	return s
}

// scatter picks an affine bijection of [0, n): rank r maps to
// (r*mul + add) mod n, spreading a zipf job's hot blocks over the region
// as fio's zipf hashing does.
func scatter(rng *rand.Rand, n uint64) (mul, add uint64) {
	if n <= 1 {
		return 1, 0
	}
	for {
		mul = rng.Uint64N(n-1) + 1
		if gcd(mul, n) == 1 {
			return mul, rng.Uint64N(n)
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Next returns the instance's next operation, or false when it has
// issued all its reads and writes (and the flush owed after them).
func (s *Stream) Next() (Op, bool) {
	if s.flush {
		s.flush = false
		return Op{Kind: OpFlush}, true
	}
	if s.bound {
		if s.left == 0 {
			return Op{}, false
		}
		s.left--
	} else if s.exhausted() {
		return Op{}, false
	}
	op := s.gen()
	s.seq++
	if op.Kind == OpWrite && s.p.job.Fsync > 0 {
		if s.write++; s.write == s.p.job.Fsync {
			s.write, s.flush = 0, true
		}
	}
	return op, true
}

// exhausted reports whether an unbounded stream has run out of fresh
// clusters.
func (s *Stream) exhausted() bool {
	pt := s.p.job.Pattern
	return (pt == FirstTouch || pt == SameCluster) && s.seq >= s.p.units
}

func (s *Stream) gen() Op {
	j := &s.p.job
	bs := j.BlockSize
	switch j.Pattern {
	case FirstTouch:
		unit := s.seq
		if j.RW.Random() {
			unit = s.perm.next(s.rng)
		}
		off := s.base + unit*s.p.unitBytes
		if cs := uint64(j.ClusterSize); bs < cs && j.RW.Random() {
			off += s.rng.Uint64N(cs/bs) * bs
		}
		return Op{Kind: OpWrite, Off: off, Len: bs}
	case SameCluster:
		k := uint64(len(s.slots))
		i := s.seq % k
		if i == 0 {
			s.cluster = s.seq / k
			for b := range s.slots {
				s.slots[b] = uint64(b)
			}
			if j.RW.Random() {
				s.cluster = s.perm.next(s.rng)
				s.rng.Shuffle(len(s.slots), func(a, b int) { s.slots[a], s.slots[b] = s.slots[b], s.slots[a] })
			}
		}
		return Op{Kind: OpWrite, Off: s.base + s.cluster*uint64(j.ClusterSize) + s.slots[i]*bs, Len: bs}
	}
	kind := OpWrite
	switch j.RW {
	case RWRead, RWRandRead:
		kind = OpRead
	case RWMixed, RWRandMixed:
		if s.rng.IntN(100) < j.RWMixRead {
			kind = OpRead
		}
	}
	var block uint64
	switch {
	case !j.RW.Random():
		block = s.seq % s.p.units
	case s.p.cdf != nil:
		u := s.rng.Float64() * s.p.cdf[len(s.p.cdf)-1]
		rank := uint64(sort.SearchFloat64s(s.p.cdf, u))
		rank = min(rank, s.p.units-1)
		hi, lo := bits.Mul64(rank, s.scatterMul)
		block = (bits.Rem64(hi, lo, s.p.units) + s.scatterAdd) % s.p.units
	case j.NoRandomMap:
		block = s.rng.Uint64N(s.p.units)
	default:
		block = s.perm.next(s.rng)
	}
	return Op{Kind: kind, Off: s.base + block*bs, Len: bs}
}

// lazyPerm draws a uniformly random permutation of [0, n) one element at
// a time: a Fisher-Yates shuffle that stores only the swapped positions,
// so its memory grows with the draws, not with n. After n draws it starts
// a new permutation, as fio's random map starts a new pass. Up to
// densePermMax elements it keeps the swapped positions in an array
// rather than a map: the same draws and values, at a fraction of the
// cost of map updates.
type lazyPerm struct {
	n, i  uint64
	swaps map[uint64]uint64
	dense []uint32 // n <= densePermMax: value+1 at each swapped position, 0 elsewhere
}

// densePermMax is the largest permutation lazyPerm keeps in an array
// (256 KiB).
const densePermMax = 1 << 16

func (p *lazyPerm) next(rng *rand.Rand) uint64 {
	if p.n == 0 {
		panic(errors.New("workloads: permutation of nothing"))
	}
	if p.n <= densePermMax {
		return p.nextDense(rng)
	}
	if p.i == p.n {
		p.i = 0
		clear(p.swaps)
	}
	if p.swaps == nil {
		p.swaps = make(map[uint64]uint64)
	}
	j := p.i + rng.Uint64N(p.n-p.i)
	at := func(k uint64) uint64 {
		if v, ok := p.swaps[k]; ok {
			return v
		}
		return k
	}
	vj := at(j)
	if j != p.i {
		p.swaps[j] = at(p.i)
	}
	delete(p.swaps, p.i)
	p.i++
	return vj
}

// nextDense is next with the swapped positions in p.dense.
func (p *lazyPerm) nextDense(rng *rand.Rand) uint64 {
	if p.i == p.n {
		p.i = 0
		clear(p.dense)
	}
	if p.dense == nil {
		p.dense = make([]uint32, p.n)
	}
	j := p.i + rng.Uint64N(p.n-p.i)
	at := func(k uint64) uint64 {
		if v := p.dense[k]; v != 0 {
			return uint64(v - 1)
		}
		return k
	}
	vj := at(j)
	if j != p.i {
		p.dense[j] = uint32(at(p.i) + 1)
	}
	p.dense[p.i] = 0
	p.i++
	return vj
}
