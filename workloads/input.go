package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Limits on what one run or one matrix may ask for. Each catches a typo
// or an impossible request up front, with a message naming the key,
// rather than after hours of setup or when memory runs out.
const (
	// MaxQD is the largest queue depth a run accepts.
	MaxQD = maxIODepth
	// MaxInFlight bounds the requests a run keeps in flight: queue depth
	// x numjobs (each needs a request slot and a buffer).
	MaxInFlight = 1 << 20
	// MaxBufferBytes bounds the request buffers of a run: queue depth x
	// numjobs x bs, all allocated before the first request.
	MaxBufferBytes = 4 << 30
	// MaxPrefillClusters bounds the clusters a prefilled run (prefill=1,
	// pattern=rewrite) allocates before it starts. A run prefills the
	// clusters its requests touch when it has an op count (ops) that
	// touches fewer than the whole region, and the whole region
	// otherwise; 2^24 clusters take about 20 s and 130 MiB of L2 tables.
	MaxPrefillClusters = 1 << 24
	// MaxRuns bounds the runs of a matrix, warm-ups included: its
	// schedule is built before the first run.
	MaxRuns = 1 << 20
)

// CheckLimits reports what makes runs of p impractical at any queue
// depth: a prefill larger than MaxPrefillClusters, or request buffers
// beyond MaxInFlight or MaxBufferBytes even at queue depth 1. Each
// problem is a *KeyError naming the key to change.
func (p *Plan) CheckLimits() error {
	if p.members != nil {
		for _, m := range p.members {
			if err := m.CheckLimits(); err != nil {
				return err
			}
		}
		return p.checkGroupBuffers(nil)
	}
	if n := p.prefillClusterBound(); n > MaxPrefillClusters {
		key, how := "size", "a smaller size, or set ops so that only the clusters the run touches are prefilled"
		if p.opsPerJob > 0 && p.job.Ops > 0 {
			key, how = "ops", "fewer ops, or a smaller size"
		}
		return p.job.keyError(key, fmt.Errorf("%s allocates up to %d clusters before the run, more than the limit of %d; use %s",
			p.prefillReason(), n, MaxPrefillClusters, how))
	}
	return p.checkBuffers(1)
}

// CheckQD reports whether p can run at queue depth qd: qd in [1, MaxQD],
// and qd x numjobs requests in flight within MaxInFlight, their buffers
// within MaxBufferBytes. A problem with the buffers is a *KeyError for
// bs.
func (p *Plan) CheckQD(qd int) error {
	if qd < 1 || qd > MaxQD {
		return fmt.Errorf("queue depth %d not in [1, %d]", qd, MaxQD)
	}
	if p.members != nil {
		for _, m := range p.members {
			if err := m.CheckQD(qd); err != nil {
				return err
			}
		}
		return p.checkGroupBuffers(func(*Plan) int { return qd })
	}
	if err := p.checkOpenFiles(qd); err != nil {
		return err
	}
	return p.checkBuffers(qd)
}

// checkBuffers checks the request slots and buffers of a run at queue
// depth qd.
func (p *Plan) checkBuffers(qd int) error {
	j := &p.job
	inFlight := uint64(qd) * uint64(j.NumJobs) // both bounded by Plan: no overflow
	if inFlight > MaxInFlight {
		return p.job.keyError("numjobs", fmt.Errorf("queue depth %d x numjobs=%d is %d requests in flight, more than the limit of %d",
			qd, j.NumJobs, inFlight, MaxInFlight))
	}
	hi, bytes := bits.Mul64(inFlight, p.maxBS)
	if hi != 0 || bytes > MaxBufferBytes {
		total := FormatSize(bytes)
		if hi != 0 {
			total = "more than 16e"
		}
		return p.job.keyError("bs", fmt.Errorf("queue depth %d x numjobs=%d x bs=%s needs %s of request buffers, more than the limit of %s",
			qd, j.NumJobs, FormatSize(p.maxBS), total, FormatSize(MaxBufferBytes)))
	}
	return nil
}

// prefillReason names what makes p prefill.
func (p *Plan) prefillReason() string {
	if p.lay.prefill {
		return "pattern=" + string(p.job.Pattern)
	}
	return "prefill=1"
}

// regionClusters returns the clusters instance i's region touches.
func (p *Plan) regionClusters(i int) (first, n uint64) {
	cs := uint64(p.job.ClusterSize)
	off, size := p.Region(i)
	first = off / cs
	return first, (off+size-1)/cs - first + 1
}

// prefillClusterBound returns an upper bound, the same for every seed, on
// the clusters a run of p prefills: 0 without prefill; with an op count
// that cannot touch every cluster of the regions, the clusters those ops
// can touch; otherwise every cluster of the regions. It saturates at
// math.MaxUint64.
func (p *Plan) prefillClusterBound() uint64 {
	if p.members != nil {
		var n uint64
		for _, m := range p.members {
			n = satAdd(n, m.prefillClusterBound())
		}
		return n
	}
	if !p.job.Prefill {
		return 0
	}
	all := p.allRegionClusters()
	if touched, ok := p.touchedClusterBound(); ok && touched < all {
		return touched
	}
	return all
}

// allRegionClusters returns the clusters of every region, saturating.
func (p *Plan) allRegionClusters() uint64 {
	var all uint64
	for i := range p.job.NumJobs {
		_, n := p.regionClusters(i)
		all = satAdd(all, n)
	}
	return all
}

// touchedClusterBound returns how many clusters the reads and writes of
// all instances can touch at most, saturating, and false when the run has
// no op count (only a runtime limits it).
func (p *Plan) touchedClusterBound() (uint64, bool) {
	if p.opsPerJob == 0 {
		return 0, false
	}
	j := &p.job
	cs, bs := uint64(j.ClusterSize), p.maxBS
	// A block of bs bytes at any sector offset touches at most this many
	// clusters; fewer when every op is aligned to bs (each region starts
	// at a multiple of bs) and bs divides the cluster or is a multiple of
	// it.
	perOp := (bs+cs-2)/cs + 1
	if p.regionsAligned(bs) && j.Size%bs == 0 {
		switch {
		case cs%bs == 0:
			perOp = 1
		case bs%cs == 0:
			perOp = bs / cs
		}
	}
	return satMul(satMul(p.opsPerJob, perOp), uint64(p.job.NumJobs)), true
}

// prefillTouchedOnly reports whether a run of p prefills only the
// clusters its streams touch (true) or every cluster of its regions.
func (p *Plan) prefillTouchedOnly() bool {
	if p.members != nil {
		for _, m := range p.members {
			if m.job.Prefill && m.prefillTouchedOnly() {
				return true
			}
		}
		return false
	}
	touched, ok := p.touchedClusterBound()
	return ok && touched < p.allRegionClusters()
}

// SetupBytes returns an estimate of the bytes the file backend writes
// before a run of p starts: the backing file (the image's size) and the
// prefilled clusters. A run's own writes come on top.
func (p *Plan) SetupBytes() uint64 {
	var n uint64
	if p.job.Backing {
		n = p.imageSize
	}
	return satAdd(n, satMul(p.prefillClusterBound(), uint64(p.job.ClusterSize)))
}

func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// ParseSetting splits "key=value", as given to runbench -set, refusing a
// missing "=", an empty key and an empty value (a job file's bare "key"
// means key=1; on a command line, write key=1).
func ParseSetting(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	switch {
	case !ok:
		return "", "", fmt.Errorf("%q: want key=value", s)
	case k == "":
		return "", "", fmt.Errorf("%q: empty key", s)
	case v == "":
		return "", "", fmt.Errorf("%q: empty value for %s", s, k)
	}
	return k, v, nil
}

// SplitList splits a comma-separated list, trimming spaces around each
// element; an empty list or an empty element is an error, so that
// "1,,2" or "" is refused rather than read as "1,2" or a default.
func SplitList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty list")
	}
	parts := strings.Split(s, ",")
	for i, f := range parts {
		if parts[i] = strings.TrimSpace(f); parts[i] == "" {
			return nil, fmt.Errorf("%q: element %d of %d is empty", s, i+1, len(parts))
		}
	}
	return parts, nil
}

// checkGroupBuffers checks the request slots and buffers of a group's
// run, its jobs together, each at the depth qd gives it (nil: 1).
func (p *Plan) checkGroupBuffers(qd func(*Plan) int) error {
	var inFlight, bytes uint64
	for _, m := range p.members {
		d := 1
		if qd != nil {
			d = qd(m)
		}
		n := uint64(d) * uint64(m.job.NumJobs)
		inFlight = satAdd(inFlight, n)
		bytes = satAdd(bytes, satMul(n, m.maxBS))
	}
	switch {
	case inFlight > MaxInFlight:
		return p.job.keyError("numjobs", fmt.Errorf("the group's jobs keep %d requests in flight, more than the limit of %d", inFlight, MaxInFlight))
	case bytes > MaxBufferBytes:
		return p.job.keyError("bs", fmt.Errorf("the group's jobs need %s of request buffers, more than the limit of %s", FormatSize(bytes), FormatSize(MaxBufferBytes)))
	}
	return nil
}
