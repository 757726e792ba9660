package workloads

import (
	"errors"
	"fmt"
)

// This file holds fio's strided zones (zonemode=strided with zonesize,
// zonerange and zoneskip; HOWTO "zonemode", fio's
// setup_strided_zone_mode in io_u.c), in each instance's region as
// fio's in its file. The requests go to a zone of zonerange bytes at
// the region's start until zonesize bytes have been transferred, then
// to the zone zonerange+zoneskip further on, back at the region's start
// past its end. In a zone, requests go as rw says over the zone's bytes
// alone: sequential ones from the zone's start, random ones over its
// blocks, and every zonerange bytes transferred (so at each zone's
// start) the zone starts afresh: its position back at its start, its
// random map empty.

// ZoneMode is fio's zonemode, of those runbench has.
type ZoneMode string

// The zone modes.
const (
	// ZoneNone has no zones (fio's default).
	ZoneNone ZoneMode = "none"
	// ZoneStrided moves through the region zone by zone.
	ZoneStrided ZoneMode = "strided"
)

// parseZoneMode parses zonemode: none, strided or zbd (zbd.go).
func parseZoneMode(v string) (ZoneMode, error) {
	switch ZoneMode(v) {
	case ZoneNone, ZoneStrided, ZoneZBD:
		return ZoneMode(v), nil
	}
	return "", errors.New("want none, strided or zbd")
}

// zoned reports whether j has strided zones: zonemode=strided, or a
// zonesize with zonemode unset, as fio.
func (j *Job) zoned() bool {
	return j.ZoneMode == ZoneStrided || j.ZoneMode == "" && j.ZoneSize > 0
}

// planZones checks the keys of strided zones and plans one zone: a job
// of zonerange bytes with the requests of one pass over it. It sets
// p.zone.
func (p *Plan) planZones() error {
	j := &p.job
	if j.ZoneMode == ZoneZBD {
		return nil // zbdPlan
	}
	if !j.zoned() {
		if j.ZoneSize > 0 {
			return j.keyError("zonesize", errors.New("zonemode=none takes no zonesize (fio refuses it too)"))
		}
		return nil
	}
	zr := j.ZoneRange
	if zr == 0 {
		zr = j.ZoneSize
	}
	step := zr + j.ZoneSkip
	rangeKey := "zonerange"
	if j.ZoneRange == 0 {
		rangeKey = "zonesize" // the range is the size
	}
	switch {
	case j.ZoneSize == 0:
		return j.keyError("zonesize", errors.New("zonemode=strided needs a zonesize (fio's rule)"))
	case zr%j.BlockSize != 0 || zr < j.BlockSize:
		return j.keyError(rangeKey, fmt.Errorf("the zones, zonerange=%s, must hold whole blocks of bs=%s", FormatSize(zr), FormatSize(j.BlockSize)))
	case zr > j.Size:
		return j.keyError(rangeKey, fmt.Errorf("the zones, zonerange=%s, are larger than the region, size=%s (fio's zones are parts of its file or device, whose size runbench takes from size, 64m unless set)", FormatSize(zr), FormatSize(j.Size)))
	case step < zr:
		return j.keyError("zoneskip", errors.New("too large"))
	case (j.Size-1)/step*step+zr > j.Size:
		return j.keyError(rangeKey, fmt.Errorf("not supported: the last zone, at %s, runs past the region's end, size=%s, where fio's requests fail and end the job", FormatSize((j.Size-1)/step*step), FormatSize(j.Size)))
	case j.NrFiles > 1:
		return j.keyError("zonemode", errors.New("fio turns strided zones off for a job with several files open"))
	case p.sizes != nil:
		return j.keyError("zonemode", errors.New("not supported: strided zones with block sizes that vary (bssplit, bsrange, bs=READ,WRITE)"))
	case j.OffsetAdd != 0 || j.RandomRun > 1:
		return j.keyError("zonemode", errors.New("not supported: strided zones with rw's offset modifier"))
	case j.IOLog != nil:
		return j.keyError("zonemode", errors.New("an iolog replay names its own offsets"))
	case j.Pattern != Plain && j.Pattern != Rewrite:
		return j.keyError("zonemode", fmt.Errorf("not supported: strided zones with pattern=%s", j.Pattern))
	case j.Distribution.Kind != Uniform:
		return j.keyError("zonemode", fmt.Errorf("not supported: strided zones with random_distribution=%s", j.Distribution.Kind))
	case j.Loops > 1 || j.TimeBased && j.Runtime > 0:
		return j.keyError("zonemode", errors.New("not supported: strided zones with loops or time_based (runbench does not model where fio's later loops start the zones)"))
	}
	z := *j
	z.Name, z.Size, z.Offset, z.SizePercent, z.OffsetPercent = j.Name+"/zone", zr, 0, 0, 0
	z.OffsetIncrement, z.OffsetIncrementPercent = 0, 0
	z.ZoneMode, z.ZoneSize, z.ZoneRange, z.ZoneSkip = ZoneNone, 0, 0, 0
	z.IOSize, z.Ops, z.Loops, z.TimeBased, z.Runtime, z.RampTime = 0, 0, 0, false, 0, 0
	z.Fsync, z.NumJobs, z.SharedRegion, z.ImageSize, z.Prefill, z.ReopenEvery = 0, 1, false, 0, false, 0
	z.Rate, z.RateIOPS, z.ThinkTime = RWPair{}, RWPair{}, 0
	zp, err := z.Plan()
	if err != nil {
		return err
	}
	p.zone, p.zoneRange = zp, zr
	return nil
}

// zonesGen generates an instance's requests over strided zones.
type zonesGen struct {
	zone  *Stream // the current zone's requests
	start uint64  // the current zone's start in the region
	bytes uint64  // bytes transferred in the current zone (fio's zone_bytes)
}

// newZonesGen starts the first zone of s, seeding it from s.rng.
func newZonesGen(s *Stream) *zonesGen {
	return &zonesGen{zone: &Stream{p: s.p.zone, rng: newRandFrom(s.rng), at: -1, bound: true, base: s.base}}
}

func (g *zonesGen) next(s *Stream) Op {
	p, j := s.p, &s.p.job
	if g.bytes >= j.ZoneSize {
		g.bytes = 0
		g.start += p.zoneRange + j.ZoneSkip
		if g.start >= j.Size {
			g.start = 0
		}
	}
	if g.bytes%p.zoneRange == 0 || g.zone.gen == nil {
		z := g.zone
		z.base, z.seq, z.left = s.base+g.start, 0, p.zone.opsPerJob
		z.gen = p.zone.pattern.newGen(z)
	}
	op, ok := g.zone.Next()
	if !ok {
		panic("workloads: a zone has no request left") // it starts afresh every zonerange bytes
	}
	g.bytes += op.Len
	return op
}
