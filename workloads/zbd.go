package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// This file holds fio's zoned-device mode on a regular file
// (zonemode=zbd with zonesize; fio's zbd.c). fio runs it on a file that
// is not a zoned device by emulating zones (init_zone_info): the file is
// cut into zones of zonesize bytes from its byte 0, each
// sequential-write-required, empty, its write pointer at its start and
// zonecapacity (or zonesize) bytes writable. Runbench's image is fio's
// file: an instance's file starts at its region's start minus offset
// (every instance's at the image's start with shared_region), so the
// zones are where fio's would be. Each request is chosen as fio chooses
// it and then moved as zbd_adjust_block moves it, against the zone state
// the stream keeps:
//
//   - a write goes to the write pointer of the zone its offset falls in,
//     or of another zone when that one may not be opened under
//     max_open_zones or job_max_open_zones (zbd_convert_to_write_zone); a
//     full zone (or one reset by zone_reset_threshold and
//     zone_reset_frequency) is reset first, which on a regular file only
//     moves the write pointer back; a zone whose remainder cannot hold a
//     block is finished; the write is cut at the zone's capacity, rounded
//     down to the block size;
//   - a read goes only where data was written (read_beyond_wp=1 reads
//     anywhere): into the written part of its zone, or of the next zone
//     with data (sequential) or the nearest (random, zbd_find_zone); when
//     no zone of the region holds a block of data the job ends, as fio's
//     io_u_eof, so a read job on runbench's fresh image reads nothing;
//   - a trim resets its zone (zbd_do_io_u_trim), which on a regular file
//     is no I/O: runbench issues nothing for it. A job of trims alone
//     issues no I/O at all, and runbench gives it no requests.
//
// The write pointers move when a request is generated, which is when the
// driver issues it: fio moves them when it queues the request
// (zbd_queue_io). A zone a write fills leaves the write zones at once, as
// with fio's synchronous engines (psync, libzbc: the request completes as
// it is queued). The instances of a job with shared_region (fio's clones
// of a job naming one file) share one zone state, as fio's clones share
// the file's zones and its open-zone limit; others have a file, and
// zones, each. As in fio, an instance's count of open zones (job_max_open_zones)
// goes down when its write fills a zone, whichever instance opened it,
// and wraps below 0 (fio's unsigned td->num_write_zones); and several
// of fio's paths end a job early (a sequential reader reaching the
// written data's end, a sequential writer finishing its last zone, a
// random writer finding no zone under the limits): runbench's streams
// end there too.
//
// Not reproduced: fio's zone locks (an instance writing to a zone
// another instance has a write in flight to waits for that write) and
// fio's draining of an instance's requests in flight (io_u_quiesce)
// before a zone reset or finish and when it looks for another zone,
// both timing rather than offsets; with an asynchronous engine and
// max_open_zones, that fio keeps a zone among the write zones until the
// write in flight that fills it completes (a write drawn to it meanwhile
// may go to another zone, where runbench's, the zone already closed,
// reopens and resets it); verify's changes to the zone choice
// (refused); zoneskip (refused); and the zones of several jobs sharing
// one file (a group of jobs running together that name one zoned file is
// refused: PlanGroup).

// ZoneZBD is fio's zoned-device mode, emulated on a regular file.
const ZoneZBD ZoneMode = "zbd"

// zbdMaxWriteZones is fio's ZBD_MAX_WRITE_ZONES (zbd_types.h), the most
// zones max_open_zones may allow.
const zbdMaxWriteZones = 4096

// zbdMaxZones bounds the zones a run emulates, over all its files, since
// each is kept in memory.
const zbdMaxZones = 1 << 20

// zbdPlan is what a plan of zonemode=zbd fixes for its streams.
type zbdPlan struct {
	zoneSize, capacity uint64
	shift              uint64 // how far fio's alignment moved the region's start up
	origSize           uint64 // size before the alignment: the file fio lays out ends at offset + size
	threshold, freq    float64
	maxWrite, jobMax   int
	note               string // what the job does otherwise than it seems to ask: its region rounded, no I/O
}

// zbdZone is one emulated zone: fio's fio_zone_info of a regular file.
type zbdZone struct {
	start, wp uint64 // in the file's bytes
	write     bool   // in the write zones (fio's z->write)
	reset     bool   // fio's z->reset_zone
}

// zbdDevice is the zone state of one file: fio's zoned_block_device_info,
// shared by the instances that share the file.
type zbdDevice struct {
	p          *zbdPlan
	zones      []zbdZone // nr_zones, then a sentinel at the file's zoned end
	writeZones []uint32  // fio's write_zones: maxWrite of them, then a 0 (fio's array is longer, and zero past its limit)
	numWrite   int
	writeCnt   uint32 // writes until the next reset by frequency
	validBytes uint64 // fio's wp_valid_data_bytes
	resets     uint64 // zones reset (fio's nr_zone_resets)
	accounting bool   // zone_reset_threshold set and the job writes (fio's accounting_vdb)
	realSize   uint64 // the file's size
}

// newZBDDevice emulates the zones of a file of size bytes, as fio's
// init_zone_info, and resets the write count as zbd_file_reset.
func newZBDDevice(p *zbdPlan, size uint64, writes bool) *zbdDevice {
	n := (size + p.zoneSize - 1) / p.zoneSize
	d := &zbdDevice{p: p, zones: make([]zbdZone, n+1), realSize: size, accounting: p.threshold > 0 && writes}
	for i := range d.zones {
		d.zones[i].start = uint64(i) * p.zoneSize
		d.zones[i].wp = d.zones[i].start
	}
	if p.maxWrite > 0 {
		d.writeZones = make([]uint32, p.maxWrite+1)
	}
	d.resetWriteCnt()
	return d
}

// nrZones returns the zones, without the sentinel.
func (d *zbdDevice) nrZones() uint32 { return uint32(len(d.zones) - 1) }

// zoneIdx is fio's zbd_offset_to_zone_idx: the zone of off, or the
// sentinel past the last.
func (d *zbdDevice) zoneIdx(off uint64) uint32 {
	return uint32(min(off/d.p.zoneSize, uint64(d.nrZones())))
}

// capEnd is fio's zbd_zone_capacity_end.
func (d *zbdDevice) capEnd(z uint32) uint64 { return d.zones[z].start + d.p.capacity }

// remainder is fio's zbd_zone_remainder: the bytes still writable.
func (d *zbdDevice) remainder(z uint32) uint64 {
	if e := d.capEnd(z); d.zones[z].wp < e {
		return e - d.zones[z].wp
	}
	return 0
}

// full is fio's zbd_zone_full: the zone cannot take required bytes.
func (d *zbdDevice) full(z uint32, required uint64) bool { return required > d.remainder(z) }

// resetWriteCnt is fio's _zbd_reset_write_cnt.
func (d *zbdDevice) resetWriteCnt() {
	d.writeCnt = math.MaxUint32
	if f := d.p.freq; f > 0 {
		d.writeCnt = uint32(min(1/f, math.MaxUint32))
	}
}

// decWriteCnt is fio's zbd_dec_and_reset_write_cnt: true every
// 1/zone_reset_frequency calls.
func (d *zbdDevice) decWriteCnt() bool {
	var n uint32
	if d.writeCnt > 0 {
		d.writeCnt--
		n = d.writeCnt
	}
	if n == 0 {
		d.resetWriteCnt()
	}
	return n == 0
}

// resetZone is fio's __zbd_reset_zone on a regular file: no I/O, the
// write pointer back at the zone's start.
func (d *zbdDevice) resetZone(z uint32) {
	zn := &d.zones[z]
	data := zn.wp - zn.start
	if data == 0 {
		return
	}
	if d.accounting {
		d.validBytes -= min(data, d.validBytes)
	}
	zn.wp = zn.start
	d.resets++
}

// finishZone is fio's zbd_finish_zone on a regular file: the write
// pointer at the zone's end.
func (d *zbdDevice) finishZone(z uint32) { d.zones[z].wp = d.zones[z+1].start }

// zbdGen generates an instance's requests in zonemode=zbd: it draws
// offsets as fio's get_next_offset and moves them as zbd_adjust_block.
type zbdGen struct {
	dev                *zbdDevice
	origin             uint64 // the image offset of the file's byte 0
	fileOffset, ioSize uint64 // the region in the file, as fio's f->file_offset and f->io_size
	minZone, maxZone   uint32
	numWrite           uint32    // fio's td->num_write_zones: unsigned, and counted down by the instance whose write fills a zone, whichever opened it
	lastPos            [2]uint64 // fio's f->last_pos of reads and writes
	wrote              bool      // a write was issued (fio's last_start[DDIR_WRITE] set)
	perm               lazyPerm  // the random map
	ended              bool
}

// newZBDGen starts instance i's zone generator on a file of its own;
// Plan.Streams puts instances with shared_region on one device.
func newZBDGen(s *Stream, i int) *zbdGen {
	p, z := s.p, s.p.zbd
	j := &p.job
	g := &zbdGen{ioSize: j.Size, perm: lazyPerm{n: p.lay.units}}
	g.fileOffset = j.Offset
	if p.starts != nil {
		g.fileOffset = p.starts[i]
	}
	g.origin = s.base - g.fileOffset // the job's file in a group's image too
	g.dev = newZBDDevice(z, p.zbdFileSize(i), j.RW.Writes())
	g.minZone, g.maxZone = g.dev.zoneIdx(g.fileOffset), g.dev.zoneIdx(g.fileOffset+g.ioSize)
	g.lastPos = [2]uint64{g.fileOffset, g.fileOffset}
	return g
}

// zbdFileSize returns the size of instance i's file, as fio lays it out:
// its start before the alignment, plus size; with shared_region, the
// largest of every instance's.
func (p *Plan) zbdFileSize(i int) uint64 {
	end := func(k int) uint64 {
		off := p.job.Offset
		if p.starts != nil {
			off = p.starts[k]
		}
		return off - p.zbd.shift + p.zbd.origSize
	}
	if !p.job.SharedRegion {
		return end(i)
	}
	var m uint64
	for k := range p.job.NumJobs {
		m = max(m, end(k))
	}
	return m
}

func (g *zbdGen) next(s *Stream) Op {
	op, _ := g.nextOK(s)
	return op
}

// nextOK returns the next request, or false once fio's job would have
// ended (io_u_eof: no data to read, no zone to write; or the region's
// end without time_based).
func (g *zbdGen) nextOK(s *Stream) (Op, bool) {
	j := &s.p.job
	if g.ended || !j.RW.Reads() && !j.RW.Writes() {
		g.ended = true
		return Op{}, false
	}
	kind := s.drawKind()
	// zbd_adjust_ddir: the first read of a job that also writes becomes
	// a write, so that there is data to read.
	if kind == OpRead && j.RW.Writes() && !g.wrote && !j.ReadBeyondWP && j.RWMixRead < 100 {
		kind = OpWrite
	}
	off, ok := g.offset(s, kind)
	var n uint64
	if ok {
		if kind == OpRead {
			off, n, ok = g.adjustRead(s, off)
		} else {
			off, n, ok = g.adjustWrite(s, off)
		}
	}
	if !ok {
		g.ended = true
		return Op{}, false
	}
	g.lastPos[kind] = off + n
	if kind == OpWrite {
		g.wrote = true
		g.queueWrite(off, n)
	}
	return Op{Kind: kind, Off: g.origin + off, Len: n}, true
}

// offset draws the request's offset in the file as fio's
// get_next_offset, after setup_zbd_zone_mode's move of a sequential
// writer past the capacity of its zone; false when fio finds none.
func (g *zbdGen) offset(s *Stream, kind OpKind) (uint64, bool) {
	p := s.p
	j := &p.job
	if j.RW.Random() {
		var block uint64
		if j.NoRandomMap {
			block = s.rng.Uint64N(p.lay.units)
		} else {
			if g.perm.i == g.perm.n && j.TimeBased && j.Runtime > 0 {
				g.fileReset()
			}
			block = g.perm.next(s.rng)
		}
		return g.fileOffset + block*j.BlockSize, true
	}
	d := g.dev
	pos := &g.lastPos[kind]
	if kind == OpWrite && d.p.capacity < d.p.zoneSize {
		if z := d.zoneIdx(*pos); z < d.nrZones() && *pos >= d.capEnd(z) {
			*pos = d.zones[z+1].start
		}
	}
	// get_next_seq_offset
	end := g.fileOffset + g.ioSize
	if *pos >= end && (j.TimeBased && j.Runtime > 0 || j.RW.Writes() && j.IOSize > j.Size) {
		*pos = g.fileOffset
	}
	if *pos >= d.realSize || *pos-g.fileOffset >= g.ioSize {
		return 0, false
	}
	return *pos, true
}

// fileReset is what fio's fio_file_reset does to a file whose random
// map a time_based job has filled (get_next_rand_block), before it
// draws again: the positions back at the region's start, no write
// issued (so the first read of a mixed job is a write again:
// zbd_adjust_ddir), and the reset count started afresh (zbd_file_reset).
func (g *zbdGen) fileReset() {
	g.lastPos = [2]uint64{g.fileOffset, g.fileOffset}
	g.wrote = false
	g.dev.resetWriteCnt()
}

// adjustRead is zbd_adjust_block's DDIR_READ: the read moved into
// written data; false when no zone has a block of it.
func (g *zbdGen) adjustRead(s *Stream, off uint64) (uint64, uint64, bool) {
	j := &s.p.job
	bs := j.BlockSize
	if j.ReadBeyondWP {
		return off, bs, true
	}
	d, random := g.dev, j.RW.Random()
	zb := d.zoneIdx(off)
	origStart := d.zones[zb].start
	rng := d.zones[zb].wp - d.zones[zb].start
	if rng < bs || !random && off+bs > d.zones[zb].wp {
		var ok bool
		if zb, ok = g.findZone(zb, bs, random); !ok {
			return 0, 0, false
		}
		rng = d.zones[zb].wp - d.zones[zb].start
		if !random {
			off = d.zones[zb].start
		}
	}
	z := &d.zones[zb]
	if rng <= bs {
		off = z.start
	} else if random {
		off = z.start + ((off-origStart)%(rng-bs))/bs*bs
	}
	n := min(bs, z.wp-off) / bs * bs
	return off, n, true
}

// findZone is fio's zbd_find_zone: the next zone after zb with
// minBytes of data, or with random I/O the nearest either side.
func (g *zbdGen) findZone(zb uint32, minBytes uint64, random bool) (uint32, bool) {
	d := g.dev
	zf, zl := int64(g.minZone), int64(g.maxZone)
	has := func(z int64) bool { return d.zones[z].start+minBytes <= d.zones[z].wp }
	for z1, z2 := int64(zb)+1, int64(zb)-1; z1 < zl || z2 >= zf; z1, z2 = z1+1, z2-1 {
		if z1 < zl {
			if has(z1) {
				return uint32(z1), true
			}
		} else if !random {
			break
		}
		if random && z2 >= zf && has(z2) {
			return uint32(z2), true
		}
	}
	return 0, false
}

// adjustWrite is zbd_adjust_block's DDIR_WRITE: the write moved to the
// write pointer of a zone it may write, that zone reset first when full
// or due by threshold and frequency, and cut at the zone's capacity;
// false when fio finds no zone to write.
func (g *zbdGen) adjustWrite(s *Stream, off uint64) (uint64, uint64, bool) {
	j := &s.p.job
	d, bs := g.dev, j.BlockSize
	zb := d.zoneIdx(off)
	for tries := 0; ; tries++ {
		var ok bool
		if zb, off, ok = g.convert(s, off, zb); !ok || tries > len(d.zones) {
			return 0, 0, false
		}
		if r := d.remainder(zb); r == 0 || r >= bs {
			break
		}
	}
	if d.p.freq > 0 && float64(d.validBytes) >= float64(g.ioSize)*d.p.threshold && d.decWriteCnt() {
		d.zones[zb].reset = true
	}
	z := &d.zones[zb]
	if z.reset || d.full(zb, bs) {
		z.reset = false
		d.resetZone(zb)
	}
	off = z.wp
	n := min(bs, d.capEnd(zb)-off) / bs * bs
	if n == 0 {
		return 0, 0, false
	}
	return off, n, true
}

// queueWrite is fio's zbd_queue_io and zbd_end_zone_io for a write
// queued and completed: the write pointer after it, and the zone out of
// the write zones once full.
func (g *zbdGen) queueWrite(off, n uint64) {
	d := g.dev
	zi := d.zoneIdx(off)
	z := &d.zones[zi]
	end := min(off+n, d.capEnd(zi))
	if d.accounting && z.wp <= end {
		d.validBytes += end - z.wp
	}
	z.wp = end
	if off+n >= d.capEnd(zi) {
		g.writeZonePut(zi)
	}
}

// writeZoneGet is fio's zbd_write_zone_get (without verify): whether the
// instance may write zone z, adding it to the write zones if need be.
func (g *zbdGen) writeZoneGet(z uint32) bool {
	d := g.dev
	if d.p.maxWrite == 0 {
		return true
	}
	if d.zones[z].write {
		return d.remainder(z) != 0
	}
	if d.p.jobMax > 0 && g.numWrite >= uint32(d.p.jobMax) || d.numWrite >= d.p.maxWrite {
		return false
	}
	d.writeZones[d.numWrite] = z
	d.numWrite++
	g.numWrite++
	d.zones[z].write = true
	return true
}

// writeZonePut is fio's zbd_write_zone_put.
func (g *zbdGen) writeZonePut(z uint32) {
	d := g.dev
	if !d.zones[z].write {
		return
	}
	for i := range d.numWrite {
		if d.writeZones[i] == z {
			copy(d.writeZones[i:], d.writeZones[i+1:])
			d.numWrite--
			g.numWrite-- // may wrap, as fio's unsigned count
			d.zones[z].write = false
			return
		}
	}
}

// pickIdx is fio's pick_random_zone_idx: an index into the write zones
// from where off falls in the region.
func (g *zbdGen) pickIdx(off uint64) int {
	hi, lo := bits.Mul64(off-g.fileOffset, uint64(g.dev.numWrite))
	q, _ := bits.Div64(hi%g.ioSize, lo, g.ioSize)
	return int(q)
}

// pickWriteZone is fio's zbd_pick_write_zone: the first write zone in
// the instance's range from pickIdx on, round.
func (g *zbdGen) pickWriteZone(off uint64) (uint32, bool) {
	d := g.dev
	k := g.pickIdx(off)
	for range d.numWrite {
		if k >= d.numWrite {
			k = 0
		}
		if z := d.writeZones[k]; g.minZone <= z && z < g.maxZone {
			return z, true
		}
		k++
	}
	return 0, false
}

// convert is fio's zbd_convert_to_write_zone, without its locks and
// waits: the zone the write at off (in zone zb) goes to, and the
// offset fio leaves the request at; false when there is none.
func (g *zbdGen) convert(s *Stream, off uint64, zb uint32) (uint32, uint64, bool) {
	j := &s.p.job
	d, bs, random := g.dev, j.BlockSize, j.RW.Random()
	if r := d.remainder(zb); r > 0 && r < bs {
		g.writeZonePut(zb)
		d.finishZone(zb)
		if zb+1 >= g.maxZone && !random {
			return 0, 0, false
		}
		if zb++; zb >= g.maxZone {
			zb = g.minZone
		}
	}
	if g.writeZoneGet(zb) {
		return zb, off, true
	}
	var zi uint32
	if d.p.maxWrite > 0 || d.p.jobMax > 0 {
		zi = d.writeZones[g.pickIdx(off)]
	} else {
		zi = d.zoneIdx(off)
	}
	zi = max(g.minZone, min(zi, g.maxZone-1))
	out := func(z uint32) (uint32, uint64, bool) { return z, d.zones[z].start, true }
	examine := d.p.maxWrite == 0 && d.p.jobMax == 0
	if !examine && d.numWrite > 0 {
		for {
			nz, ok := g.pickWriteZone(off)
			if !ok {
				return 0, 0, false
			}
			if nz == zi {
				examine = true
				break
			}
			zi = nz
		}
	}
	if examine && d.remainder(zi) >= bs {
		return out(zi)
	}
	// choose_other_zone, retry: fio drains its requests in flight and
	// tries again once, which finds the same state here.
	if random {
		if g.writeZoneGet(zb) {
			return zb, off, true
		}
		zi = zb
	}
	for i := g.ioSize / d.p.zoneSize; i > 0; i-- {
		zi++
		if d.zones[zi].start-g.fileOffset >= g.ioSize {
			zi = g.minZone
		}
		if d.zones[zi].write {
			continue
		}
		if g.writeZoneGet(zi) {
			return out(zi)
		}
	}
	for i := 0; i < d.numWrite; i++ {
		z := d.writeZones[i]
		if z < g.minZone || z >= g.maxZone {
			continue
		}
		if d.remainder(z) >= bs && g.writeZoneGet(z) {
			return out(z)
		}
	}
	if random {
		if z, ok := g.pickWriteZone(off); ok {
			d.finishZone(z)
			return out(z)
		}
	}
	return 0, 0, false
}

// zbdPlan checks the keys of zonemode=zbd as fio's init_zone_info,
// zbd_verify_sizes and zbd_verify_bs do, aligns the region to the
// zones as zbd_zone_align_file_sizes (moving every instance's start by
// the same amount), and refuses what runbench does not model. It runs
// before the regions are placed; it sets p.zbd.
func (p *Plan) zbdPlan(starts []uint64) error {
	j := &p.job
	bad := func(key, format string, args ...any) error {
		return j.keyError(key, fmt.Errorf(format, args...))
	}
	zs := j.ZoneSize
	switch {
	case zs == 0:
		return bad("zonemode", "zonemode=zbd on a regular file needs a zonesize (fio's init_zone_info: it emulates zones on a file that is not a zoned device, and runbench's image is such a file)")
	case zs%512 != 0:
		return bad("zonesize", "must be a multiple of 512 bytes (fio: at least 512; runbench's requests are whole sectors)")
	case j.ZoneCapacity > zs:
		return bad("zonecapacity", "larger than zonesize=%s (fio refuses it)", FormatSize(zs))
	case j.ZoneCapacity%512 != 0:
		return bad("zonecapacity", "must be a multiple of 512 bytes")
	case j.ZoneSkip != 0:
		// (zonerange is strided zones' alone: fio's zbd ignores it.)
		return bad("zoneskip", "not supported with zonemode=zbd (runbench does not model setup_zbd_zone_mode's skipping of a sequential job from zone to zone)")
	case j.MaxOpenZones > zbdMaxWriteZones:
		return bad("max_open_zones", "larger than %d (fio's limit)", zbdMaxWriteZones)
	case j.JobMaxOpenZones > zbdMaxWriteZones:
		return bad("job_max_open_zones", "larger than %d (fio's limit)", zbdMaxWriteZones)
	case j.JobMaxOpenZones > 0 && j.MaxOpenZones == 0 && j.RW.Writes():
		return bad("job_max_open_zones", "needs max_open_zones (fio: it cannot be used without a global open zones limit)")
	case p.sizes != nil:
		return bad("zonemode", "not supported: zonemode=zbd with block sizes that vary (bssplit, bsrange, bs=READ,WRITE)")
	case j.BlockSize > zs:
		return bad("bs", "larger than zonesize=%s: fio ends the job at the first write (I/O buflen exceeds zone size)", FormatSize(zs))
	case j.RW.Trims() && j.BlockSize != zs:
		return bad("bs", "a trim with zonemode=zbd resets a zone: fio wants the trim block size to be the zone size, %s (zbd_verify_bs)", FormatSize(zs))
	case j.RW.trimWrite():
		return bad("rw", "not supported: rw=%s with zonemode=zbd", j.RW)
	case j.OffsetAdd != 0 || j.RandomRun > 1:
		return bad("zonemode", "not supported: zonemode=zbd with rw's offset modifier")
	case j.NrFiles > 1:
		return bad("zonemode", "not supported: zonemode=zbd with several files (nrfiles)")
	case j.IOLog != nil:
		return bad("zonemode", "not supported: zonemode=zbd with an iolog replay")
	case j.Pattern != Plain:
		return bad("zonemode", "not supported: zonemode=zbd with pattern=%s (fio's zones decide where writes go)", j.Pattern)
	case j.Distribution.Kind != Uniform:
		return bad("zonemode", "not supported: zonemode=zbd with random_distribution=%s", j.Distribution.Kind)
	case j.BlockAlign > 0:
		return bad("blockalign", "not supported with zonemode=zbd")
	case j.Loops > 1:
		return bad("loops", "not supported with zonemode=zbd (runbench does not model how fio restarts the zones' files each loop)")
	case j.VerifyBacklog > 0:
		return bad("verify_backlog", "not supported with zonemode=zbd: fio's zone choice changes with verify")
	case j.OffsetIncrement%zs != 0 && j.NumJobs > 1:
		return bad("offset_increment", "not supported with zonemode=zbd unless a multiple of zonesize=%s (fio aligns each instance's region to the zones on its own)", FormatSize(zs))
	}
	capacity := j.ZoneCapacity
	if capacity == 0 {
		capacity = zs
	}
	if j.RW.Writes() && capacity < j.BlockSize {
		return bad("zonecapacity", "smaller than bs=%s: fio's writes fail (zone capacity smaller than minimum block size)", FormatSize(j.BlockSize))
	}
	if j.Offset > math.MaxUint64-j.Size-zs {
		return bad("offset", "offset + size overflows")
	}
	// init_zone_info: the file may not be smaller than a zone.
	if fileEnd := j.Offset + j.Size; fileEnd < zs {
		return bad("size", "fio's file, offset + size = %s (runbench's size is 64m unless set), is smaller than zonesize=%s: fio refuses a file smaller than one zone (zbd.c init_zone_info), and runbench's file is the job's region of the image: set a size of at least one zone", FormatSize(fileEnd), FormatSize(zs))
	}
	// zbd_zone_align_file_sizes
	off, size := j.Offset, j.Size
	if j.RW.Reads() && !j.RW.Writes() {
		if end := (off + size) / zs * zs; off+size > end {
			if end <= off {
				return bad("size", "the region, %s at %s, holds no whole zone end: fio rounds the end of a read job's region down to a zone boundary (zbd_zone_align_file_sizes), which leaves nothing", FormatSize(size), FormatSize(off))
			}
			size = end - off
		}
	} else {
		if off%zs != 0 {
			next := (off/zs + 1) * zs
			if next >= off+size {
				return bad("size", "io_size must be at least one zone: fio rounds offset=%s up to the next zone, %s, past the region's end (zbd_zone_align_file_sizes)", FormatSize(off), FormatSize(next))
			}
			size -= next - off
			off = next
		}
		if end := (off + size) / zs * zs; end != off+size {
			if end <= off {
				return bad("size", "io_size must be at least one zone: the region, %s at %s, holds no whole zone (zbd_zone_align_file_sizes)", FormatSize(size), FormatSize(off))
			}
			size = end - off
		}
	}
	shift := off - j.Offset
	files, fileEnd := uint64(j.NumJobs), j.Offset+j.Size
	if j.SharedRegion {
		files = 1
	}
	for k := range starts {
		starts[k] += shift
		fileEnd = max(fileEnd, starts[k]-shift+j.Size)
	}
	if n := (fileEnd-1)/zs + 1; n > zbdMaxZones/files {
		return bad("zonesize", "cuts fio's file (offset + size = %s) into %d zones, for each of %d files: runbench keeps at most %d zones in all", FormatSize(fileEnd), n, files, zbdMaxZones)
	}
	z := &zbdPlan{zoneSize: zs, capacity: capacity, shift: shift, origSize: j.Size,
		threshold: j.ZoneResetThreshold, freq: j.ZoneResetFrequency, maxWrite: j.MaxOpenZones, jobMax: j.JobMaxOpenZones}
	var notes []string
	if off != j.Offset || size != j.Size {
		notes = append(notes, fmt.Sprintf("fio rounds the region to whole zones (zbd_zone_align_file_sizes): offset %s, size %s, not %s, %s", FormatSize(off), FormatSize(size), FormatSize(j.Offset), FormatSize(j.Size)))
	}
	switch {
	case !j.RW.Reads() && !j.RW.Writes():
		z.note = "its trims reset zones, which on a regular file fio does without I/O (zbd_do_io_u_trim), so runbench issues no requests for it"
	case (!j.RW.Writes() || j.RWMixRead == 100 && (j.RW == RWMixed || j.RW == RWRandMixed)) && !j.ReadBeyondWP:
		z.note = "fio's emulated zones start empty and a read goes only below a write pointer (read_beyond_wp=0), so fio finds no data and ends the job at once: runbench issues no requests for it"
	}
	if z.note != "" {
		notes = append(notes, z.note)
	}
	z.note = strings.Join(notes, "; ")
	j.Offset, j.Size = off, size
	p.zbd = z
	return nil
}

// Note says what a run of the plan does otherwise than the job seems to
// ask, or "" when nothing: with zonemode=zbd, a region fio rounds to
// whole zones, or a job that issues no I/O.
func (p *Plan) Note() string {
	if p.zbd == nil || p.zbd.note == "" {
		return ""
	}
	return "zonemode=zbd: " + p.zbd.note
}

// resolveZoneUnits turns sizes given in zones (size=8z, offset=524z,
// io_size=2z, offset_increment=1z: fio's FIO_OPT_STR_VAL_ZONE) into
// bytes, as fio's zbd_recalc_options_with_zone_granularity: that many
// zonesize.
func (j *Job) resolveZoneUnits() error {
	for _, u := range []struct {
		key   string
		zones *uint64
		dst   *uint64
	}{{"size", &j.SizeZones, &j.Size}, {"offset", &j.OffsetZones, &j.Offset}, {"io_size", &j.IOSizeZones, &j.IOSize}, {"offset_increment", &j.OffsetIncrementZones, &j.OffsetIncrement}} {
		if *u.zones == 0 {
			continue
		}
		if j.ZoneSize == 0 {
			return j.keyError(u.key, errors.New("a size in zones needs a zonesize"))
		}
		hi, n := bits.Mul64(*u.zones, j.ZoneSize)
		if hi != 0 {
			return j.keyError(u.key, errors.New("overflows"))
		}
		*u.dst, *u.zones = n, 0
	}
	return nil
}

// setZones parses fio's zone count "Nz" into *zones, reporting whether v
// is one; it refuses a bad one as fio ("unexpected zone value").
func setZones(zones *uint64, v string) (bool, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(v), "z")
	if !ok {
		return false, nil
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return true, fmt.Errorf("%q: a count of zones must be a whole number from 1 (fio's Nz)", v)
	}
	*zones = n
	return true, nil
}

// parseResetFraction parses zone_reset_threshold and
// zone_reset_frequency: a fraction in [0, 1], as fio's.
func parseResetFraction(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q: want a fraction in [0, 1]", v)
	}
	return f, nil
}

// zbdVerify refuses verify with zonemode=zbd in a job that writes: fio
// then chooses zones otherwise (zbd_write_zone_get skips full zones
// rather than reset them, zbd_file_reset resets the region's zones
// before the writes), which runbench does not model.
func (s *section) zbdVerify() error {
	j := &s.job
	if j.ZoneMode != ZoneZBD || !j.RW.Writes() {
		return nil
	}
	if v := s.verify.verify; v == "" || v == "0" || v == "none" {
		return nil
	}
	at := s.lines["verify"]
	return &KeyError{File: at.file, Line: at.line, Job: j.Name, Key: "verify", Value: s.verify.verify,
		Err: errors.New("not supported with zonemode=zbd in a job that writes: fio's zone choice changes with verify (full zones are skipped, not reset; the zones are reset before the writes), which runbench does not model")}
}
