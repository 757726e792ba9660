package workloads

import (
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
	opsPerJob uint64 // 0: no limit
	pattern   Pattern
	lay       layout    // how pattern divides each region
	cdf       []float64 // zipf's cumulative weights of the ranks, nil without zipf
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
		return nil, j.keyError(key, fmt.Errorf(format, args...))
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

	pat, ok := lookupPattern(j.Pattern)
	if !ok {
		return bad("pattern", "want one of %s", joinValues(patternNames()))
	}
	lay, err := pat.layout(&j)
	if err != nil {
		return nil, err
	}
	p.pattern, p.lay = pat, lay
	if lay.prefill {
		p.job.Prefill = true
	}

	switch {
	case j.Ops > 0:
		p.opsPerJob = j.Ops
	case j.Runtime > 0:
		p.opsPerJob = 0
	default:
		p.opsPerJob = lay.units
	}
	if lay.fresh && p.opsPerJob > lay.units {
		return bad("ops", "exceeds the %d writes pattern=%s can make to the fresh clusters of size=%s", lay.units, j.Pattern, FormatSize(j.Size))
	}
	if j.Distribution.Kind == Zipf {
		if lay.units > maxZipfBlocks {
			return bad("random_distribution", "zipf draws from at most %d blocks per instance; size/bs is %d", maxZipfBlocks, lay.units)
		}
		p.cdf = zipfCDF(lay.units, j.Distribution.Theta)
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
