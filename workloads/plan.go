package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

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
	opsPerJob uint64 // 0: no op limit (a byte budget or the runtime)
	budget    uint64 // bytes per instance when sizes vary; 0: none
	depth     int    // the queue depth of a run at the job's own depth
	maxBS     uint64 // the largest request, which sizes the buffers
	unit      uint64 // bytes between the offsets Plain draws
	seqPass   uint64 // with a sequential rw's offset modifier: the requests of a pass
	files     *Plan  // with nrfiles > 1: the plan of one file, one pass of it
	filesPass uint64 // with nrfiles > 1: the requests of a pass over every file
	zone      *Plan  // with strided zones: the plan of one zone, one pass of it
	zoneRange uint64 // with strided zones: the bytes of a zone
	sizes     *blockSizes
	pattern   Pattern
	lay       layout     // how pattern divides each region
	dist      *distTable // the random distribution over the units
	iolog     []iologOp  // the iolog's operations, with read_iolog
	pace      *pacing    // how requests are spaced in time; nil: as fast as the depth allows
	starts    []uint64   // with offset_increment: where each instance's region starts
	// zbd, with zonemode=zbd, is what the zones' streams share (zbd.go).
	zbd *zbdPlan
	// With a group of jobs running together (PlanGroup): members are
	// the jobs' plans and info what the group knows of each; nil for a
	// job's own plan.
	members []*Plan
	info    []groupMember
	// fileBase is where, in a group's image, the job's file starts (0
	// alone); instBase numbers its first instance among the group's, for
	// its streams' seeds.
	fileBase uint64
	instBase int
	// prefilled is the prefilled image of the in-memory backends, built
	// at the first run that needs it; nil (a Plan not made by Job.Plan)
	// prefills every run afresh.
	prefilled *prefilledImage
}

// defaultPercentBase is the image size a percentage of size or offset
// takes when the job has no image_size: the default size.
const defaultPercentBase = 64 << 20

// Plan validates j and resolves its defaults. Every problem is a
// *KeyError naming the key at fault (for a combination of keys, the one
// to change), so a job file can point at its line.
func (j Job) Plan() (*Plan, error) {
	bad := func(key string, format string, args ...any) (*Plan, error) {
		return nil, j.keyError(key, fmt.Errorf(format, args...))
	}
	if j.Pattern == "" {
		j.Pattern = Plain
	}
	if j.Distribution.Kind == "" {
		j.Distribution.Kind = Uniform
	}
	if j.RateProcess == "" {
		j.RateProcess = RateLinear
	}
	if !validRW(j.RW) {
		return bad("rw", "want one of %s", joinValues(rwValues))
	}
	if err := j.resolveZoneUnits(); err != nil {
		return nil, err
	}
	if n, ok := singleRange(&j); ok {
		j.BlockSize, j.BSRange = n, ""
	}
	sizes, err := newBlockSizes(&j)
	if err != nil {
		return nil, err
	}
	minBS := j.BlockSize
	if sizes != nil {
		minBS = sizes.min
	}
	if minBS == 0 {
		return bad("bs", "must be a positive multiple of %d bytes", impl.SectorSize)
	}
	starts, err := j.resolvePercents(minBS)
	if err != nil {
		return nil, err
	}
	cs := uint64(j.ClusterSize)
	switch {
	case j.BlockSize == 0 || j.BlockSize%impl.SectorSize != 0:
		return bad("bs", "must be a positive multiple of %d bytes", impl.SectorSize)
	case j.IODepth < 0 || j.IODepth > maxIODepth:
		return bad("iodepth", "must be in [0, %d] (0: not set)", maxIODepth)
	case j.NumJobs < 1 || j.NumJobs > maxNumJobs:
		return bad("numjobs", "must be in [1, %d]", maxNumJobs)
	case j.Size%impl.SectorSize != 0:
		return bad("size", "must be a multiple of %d bytes", impl.SectorSize)
	case j.IOLog == nil && sizes == nil && j.Size < j.BlockSize:
		return bad("size", "smaller than bs=%s: the region holds no block", FormatSize(j.BlockSize))
	case j.IOLog == nil && sizes != nil && j.Size < sizes.min:
		return bad("size", "smaller than the smallest block size, %s: the region holds no block", FormatSize(sizes.min))
	case j.Offset%impl.SectorSize != 0:
		return bad("offset", "must be a multiple of %d bytes", impl.SectorSize)
	case j.BlockAlign%impl.SectorSize != 0:
		return bad("blockalign", "must be a multiple of %d bytes", impl.SectorSize)
	case j.RWMixRead < 0 || j.RWMixRead > 100:
		return bad("rwmixread", "a percentage must be in [0, 100]")
	case j.Fsync < 0:
		return bad("fsync", "must not be negative")
	case j.Runtime < 0:
		return bad("runtime", "must not be negative")
	}
	if err := j.checkPacing(); err != nil {
		return nil, err
	}
	if err := j.checkOffsetModifier(); err != nil {
		return nil, err
	}
	if err := j.Distribution.checkTheta(); err != nil {
		return bad("random_distribution", "%v", err)
	}
	switch j.Distribution.Kind {
	case Uniform:
	case Zipf, Pareto, Normal, Zoned, ZonedAbs, Sequence:
		if !j.RW.Random() {
			return bad("random_distribution", "%s needs random offsets (rw=randread, randwrite, randrw, randtrim or randtrimwrite), not rw=%s", j.Distribution.Kind, j.RW)
		}
	default:
		return bad("random_distribution", "unknown distribution")
	}
	if j.ClusterSize < impl.MinClusterSize || j.ClusterSize > impl.MaxClusterSize || j.ClusterSize&(j.ClusterSize-1) != 0 {
		return bad("cluster_size", "must be a power of two in [%s, %s]", FormatSize(impl.MinClusterSize), FormatSize(impl.MaxClusterSize))
	}
	if j.TableSize < impl.MinTableSize || j.TableSize > impl.MaxTableSize || j.TableSize&(j.TableSize-1) != 0 {
		return bad("table_size", "must be a power of two in [%d, %d]", impl.MinTableSize, impl.MaxTableSize)
	}
	p := &Plan{job: j, prefilled: new(prefilledImage), sizes: sizes, maxBS: j.BlockSize, unit: j.BlockSize}
	if sizes != nil {
		p.maxBS, p.unit = sizes.max, sizes.min
	}
	if j.BlockAlign > 0 {
		p.unit = j.BlockAlign
	}
	p.depth = max(j.IODepth, 1)
	if c, _ := engineClass(j.IOEngine); j.IOEngine != "" && c == engineSync {
		p.depth = 1
	}
	if j.IOLog != nil {
		if err := p.planIOLog(); err != nil {
			return nil, err
		}
		j = p.job
	}
	if j.ZoneMode == ZoneZBD {
		if err := p.zbdPlan(starts); err != nil {
			return nil, err
		}
		j = p.job
	}
	end, endKey, err := p.placeRegions(starts)
	if err != nil {
		return nil, err
	}
	if j.ImageSize == 0 {
		if end > math.MaxUint64-cs {
			return bad("size", "%s is too large for an image", endKey)
		}
		p.imageSize = (end + cs - 1) / cs * cs
		if j.SizePercent > 0 || j.OffsetPercent > 0 {
			p.imageSize = max(p.imageSize, defaultPercentBase)
		}
	} else {
		if j.ImageSize < end {
			key := "image_size"
			if j.SizePercent > 0 {
				key = "size"
			}
			return bad(key, "the image, image_size=%s, is smaller than the end of the last region, %s = %s", FormatSize(j.ImageSize), endKey, FormatSize(end))
		}
		p.imageSize = j.ImageSize
	}
	if err := impl.ValidateGeometry(j.ClusterSize, j.TableSize, p.imageSize); err != nil {
		key := "image_size"
		switch {
		case j.ImageSize == 0 && j.IOLog != nil:
			key = "read_iolog"
		case j.ImageSize == 0:
			key = "size"
		}
		return bad(key, "%v", err)
	}

	pat, ok := lookupPattern(j.Pattern)
	if !ok {
		return bad("pattern", "want one of %s", joinValues(patternNames()))
	}
	if j.IOLog != nil {
		pat = iologPattern{}
	} else if (sizes != nil || j.BlockAlign > 0) && j.Pattern != Plain && j.Pattern != Rewrite {
		return bad("pattern", "pattern=%s writes whole blocks of bs: it takes no bssplit, bsrange, blockalign or bs=READ,WRITE", j.Pattern)
	}
	lay, err := pat.layout(&j)
	if err != nil {
		return nil, err
	}
	if j.IOLog != nil {
		lay = layout{units: uint64(len(p.iolog)), unitBytes: p.unit}
	}
	if j.IOLog == nil && (sizes != nil || j.BlockAlign > 0) {
		lay = plainLayout(&j, p.unit, sizes)
		if lay.units == 0 {
			return bad("size", "holds no block of bs=%s at blockalign=%s", FormatSize(j.BlockSize), FormatSize(p.unit))
		}
		if j.Pattern == Rewrite {
			lay.prefill = true
		}
	}
	p.pattern, p.lay = pat, lay
	if lay.prefill {
		p.job.Prefill = true
	}
	if lay.fresh && p.regionsOverlap() {
		key := "shared_region"
		if j.OffsetIncrement > 0 {
			key = "offset_increment"
		}
		return bad(key, "the instances of pattern=%s would write the same fresh clusters: it needs a region each", j.Pattern)
	}
	if lay.fresh && !p.regionsAligned(cs) {
		return bad("offset_increment", "pattern=%s needs regions aligned to cluster_size=%s", j.Pattern, FormatSize(cs))
	}
	if j.OffsetAdd != 0 {
		per := lay.units
		if j.IOSize > 0 {
			per = (j.IOSize + j.BlockSize - 1) / j.BlockSize
		}
		p.seqPass = min(per, seqAddRun(j.Size, j.BlockSize, j.OffsetAdd))
	}
	if p.job.NrFiles > 1 {
		if err := p.planFiles(); err != nil {
			return nil, err
		}
	}
	if err := p.planZones(); err != nil {
		return nil, err
	}
	if err := p.planAmount(); err != nil {
		return nil, err
	}
	if j.Distribution.Kind != Uniform {
		if p.dist, err = newDistTable(j.Distribution, lay.units, lay.unitBytes, j.SequenceStride); err != nil {
			return bad("random_distribution", "%v", err)
		}
		if n := p.dist.sequenceLength(); n > 0 && (p.opsPerJob == 0 || p.opsPerJob > n) && p.budget == 0 {
			p.opsPerJob = n
		}
	}
	p.pace = newPacing(&p.job)
	return p, nil
}

// resolvePercents turns size=N%, offset=N% and offset_increment=N% into
// bytes of the image (image_size, or defaultPercentBase without it), as
// fio's get_start_offset (filesetup.c) does for its file: instance k's
// region starts at offset + k*offset_increment, a start that either
// percentage went into aligned up to minBS (fio's td_min_bs, offset_align
// being refused); size=N% is rounded down to a sector. It sets j.Offset
// to instance 0's start and j.OffsetIncrement to the increment in bytes,
// and returns every instance's start when an increment places them
// (nil otherwise). A share that rounds to nothing, or a start that
// overflows, is an error for its key.
func (j *Job) resolvePercents(minBS uint64) ([]uint64, error) {
	base := j.ImageSize
	if base == 0 {
		base = defaultPercentBase
	}
	percent := func(pct int) uint64 {
		hi, lo := bits.Mul64(base, uint64(pct))
		q, _ := bits.Div64(hi, lo, 100) // hi < 100: pct <= 100
		return q
	}
	sector := func(n uint64) uint64 { return n / impl.SectorSize * impl.SectorSize }
	align := false
	if j.OffsetIncrementPercent > 0 {
		j.OffsetIncrement, align = percent(j.OffsetIncrementPercent), true
	} else if j.OffsetIncrement%impl.SectorSize != 0 {
		return nil, j.keyError("offset_increment", fmt.Errorf("must be a multiple of %d bytes", impl.SectorSize))
	}
	raw := j.Offset
	if j.OffsetPercent > 0 {
		raw, align = percent(j.OffsetPercent), true
	}
	// start is fio's get_start_offset for subjob k.
	start := func(k int) (uint64, bool) {
		hi, inc := bits.Mul64(uint64(k), j.OffsetIncrement)
		off, carry := bits.Add64(raw, inc, 0)
		if hi != 0 || carry != 0 || off > math.MaxUint64-minBS {
			return 0, false
		}
		if align {
			off = (off/minBS + min(off%minBS, 1)) * minBS
		}
		return off, true
	}
	j.Offset, _ = start(0)
	var starts []uint64
	if j.OffsetIncrement > 0 && j.NumJobs > 1 {
		starts = make([]uint64, j.NumJobs)
		for k := range starts {
			off, ok := start(k)
			if !ok {
				return nil, j.keyError("offset_increment", fmt.Errorf("offset + %d*offset_increment overflows", k))
			}
			starts[k] = off
		}
	}
	if j.SizePercent > 0 {
		if j.Offset >= base {
			return nil, j.keyError("offset", fmt.Errorf("at or past the end of the image (%s), leaving size=%d%% nothing", FormatSize(base), j.SizePercent))
		}
		n := sector(min(percent(j.SizePercent), base-j.Offset))
		if n == 0 {
			return nil, j.keyError("size", fmt.Errorf("%d%% of the image's %s is less than a sector", j.SizePercent, FormatSize(base)))
		}
		j.Size = n
		if k := len(starts) - 1; k > 0 && starts[k] > base-n {
			// fio's setup_files cuts each file's size=N% at the
			// file's end after the subjob's start.
			return nil, j.keyError("offset_increment", fmt.Errorf("instance %d's region, at %s, would pass the end of the image (%s) that size=%d%% is of: fio cuts it short there, and runbench's instances have regions of one size", k, FormatSize(starts[k]), FormatSize(base), j.SizePercent))
		}
	}
	return starts, nil
}

// placeRegions records where each instance's region starts (starts, from
// resolvePercents; nil: size apart from offset, or all at offset with
// shared_region) and returns the end of the last region, with what it
// is for messages. Instances without a shared file may not overlap: fio's
// clones then each have a file of their own.
func (p *Plan) placeRegions(starts []uint64) (end uint64, what string, err error) {
	j := &p.job
	if starts == nil {
		regions := uint64(j.NumJobs)
		if j.SharedRegion {
			regions = 1
		}
		hi, span := bits.Mul64(regions, j.Size)
		end, carry := bits.Add64(j.Offset, span, 0)
		if hi != 0 || carry != 0 {
			return 0, "", j.keyError("size", errors.New("offset + numjobs*size overflows"))
		}
		return end, "offset + numjobs*size", nil
	}
	if !j.SharedRegion && j.OffsetIncrement < j.Size {
		return 0, "", j.keyError("offset_increment", fmt.Errorf("%s is less than size=%s, so the instances' regions would overlap, but without a shared file (filename, or shared_region=1) fio's clones each have a file of their own and share no data", FormatSize(j.OffsetIncrement), FormatSize(j.Size)))
	}
	for _, s := range starts {
		e, carry := bits.Add64(s, j.Size, 0)
		if carry != 0 {
			return 0, "", j.keyError("offset_increment", errors.New("offset + (numjobs-1)*offset_increment + size overflows"))
		}
		end = max(end, e)
	}
	p.starts = starts
	return end, "offset + (numjobs-1)*offset_increment + size", nil
}

// regionsAligned reports whether every instance's region starts at a
// multiple of n.
func (p *Plan) regionsAligned(n uint64) bool {
	for i := range p.job.NumJobs {
		if off, _ := p.Region(i); off%n != 0 {
			return false
		}
	}
	return true
}

// regionsOverlap reports whether two instances' regions share a byte.
func (p *Plan) regionsOverlap() bool {
	if p.job.NumJobs < 2 {
		return false
	}
	if p.starts == nil {
		return p.job.SharedRegion
	}
	return p.job.OffsetIncrement < p.job.Size
}

// planAmount works out how much each instance does: an op count, a byte
// budget (when sizes vary), or no limit (time_based with a runtime).
// Trims count as requests and bytes as reads and writes do.
func (p *Plan) planAmount() error {
	j, lay := &p.job, p.lay
	loops := uint64(max(j.Loops, 1))
	timeBased := j.TimeBased && j.Runtime > 0
	switch {
	case j.Ops > 0:
		p.opsPerJob = j.Ops
	case timeBased:
		p.opsPerJob = 0
	case p.iolog != nil:
		p.opsPerJob = satMul(uint64(len(p.iolog)), loops)
	case p.files != nil:
		p.opsPerJob = satMul(p.filesPass, loops)
	case p.seqPass > 0:
		p.opsPerJob = satMul(p.seqPass, loops)
	case p.sizes != nil:
		amount := j.Size
		if j.IOSize > 0 {
			amount = j.IOSize
		}
		p.budget = satMul(amount, loops)
	case j.IOSize > 0:
		p.opsPerJob = satMul((j.IOSize+j.BlockSize-1)/j.BlockSize, loops)
	case p.zbd != nil && j.NoRandomMap && j.RW.Random():
		// fio's budget is size as set (td->total_io_size), not the
		// region it rounded to whole zones, which only a random map
		// (full sooner) or a sequential job (at its end sooner) stops at.
		p.opsPerJob = satMul((p.zbd.origSize+j.BlockSize-1)/j.BlockSize, loops)
	default:
		p.opsPerJob = satMul(lay.units, loops)
	}
	if j.RW.trimWrite() && j.Ops == 0 && p.iolog == nil {
		// A pass trims every block and writes it again, as fio's
		// trimwrite: io_size=64k trims 64k and writes 64k.
		p.opsPerJob, p.budget = satMul(p.opsPerJob, 2), satMul(p.budget, 2)
	}
	if lay.fresh && p.opsPerJob > lay.units {
		key := "ops"
		switch {
		case j.Ops == 0 && j.IOSize > 0:
			key = "io_size"
		case j.Ops == 0:
			key = "loops"
		}
		return j.keyError(key, fmt.Errorf("exceeds the %d writes pattern=%s can make to the fresh clusters of size=%s", lay.units, j.Pattern, FormatSize(j.Size)))
	}
	return nil
}

// JobQD returns the queue depth the job asks for and true, when it asks
// for one: the iodepth it sets, or 1 for a synchronous ioengine (which
// keeps one request in flight); 0 and false when it sets neither, and a
// run takes the caller's queue depths.
func (p *Plan) JobQD() (int, bool) {
	if p.members != nil {
		// A group asks for depths when each of its jobs does; it is
		// recorded at the deepest.
		most := 0
		for _, m := range p.members {
			qd, ok := m.JobQD()
			if !ok {
				return 0, false
			}
			most = max(most, qd)
		}
		return most, true
	}
	if c, _ := engineClass(p.job.IOEngine); p.job.IOEngine != "" && c == engineSync {
		return 1, true
	}
	if p.job.IODepth > 0 {
		return p.job.IODepth, true
	}
	return 0, false
}

func validRW(rw RW) bool {
	for _, v := range rwValues {
		if rw == v {
			return true
		}
	}
	return false
}

// Job returns the validated job, with Prefill set where the pattern
// implies it. For a group of jobs running together (PlanGroup) it is
// the first job's, under the group's name, with NumJobs the instances
// of every job and Prefill set if any job prefills.
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
// a byte budget (sizes that vary: one pass over the region, io_size,
// loops) or only the runtime limits them, and for a group of jobs.
// Flushes (fsync) come on top.
func (p *Plan) OpsPerJob() uint64 { return p.opsPerJob }

// Region returns the guest byte range of instance i: at offset +
// i*offset_increment with an increment (fio's get_start_offset), else
// size apart from offset, or at offset for every instance with
// shared_region; in a group's image (PlanGroup), inside the job's file.
// A group's own plan has no regions of its own.
func (p *Plan) Region(i int) (off, size uint64) {
	off, size = p.region(i)
	return p.fileBase + off, size
}

// region is Region in the job's own file.
func (p *Plan) region(i int) (off, size uint64) {
	if p.starts != nil {
		return p.starts[i], p.job.Size
	}
	if p.job.SharedRegion {
		return p.job.Offset, p.job.Size
	}
	return p.job.Offset + uint64(i)*p.job.Size, p.job.Size
}
