package workloads

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// zbdStream returns instance 0's stream of a zonemode=zbd job and its
// zone generator.
func zbdStream(t *testing.T, set map[string]string) (*Stream, *zbdGen) {
	t.Helper()
	set["zonemode"] = "zbd"
	s := mustPlan(t, "zbd", set).Streams(1)[0]
	g, ok := s.gen.(*zbdGen)
	if !ok {
		t.Fatalf("the stream's generator is %T, not the zones'", s.gen)
	}
	return s, g
}

// setWPs sets the write pointers of the zones, in bytes past each
// zone's start.
func setWPs(g *zbdGen, wps ...uint64) {
	for i, w := range wps {
		g.dev.zones[i].wp = g.dev.zones[i].start + w
	}
}

// TestZBDAdjustRead checks where reads go, worked out by hand from
// fio's zbd_adjust_block (DDIR_READ) and zbd_find_zone: four zones of
// 16k, reads of 4k. A read whose zone holds less than a block, or
// (sequential) whose block passes the write pointer, goes to the next
// zone with a block of data (sequential) or the nearest, the one after
// first (random), at its start; a random read in a zone with more data
// than a block goes to start + ((off - its zone's start) % (data - bs)),
// rounded down to a block; the read is cut at the write pointer. With
// no zone to go to the job ends.
func TestZBDAdjustRead(t *testing.T) {
	const k = 1 << 10
	a := []uint64{12 * k, 0, 4 * k, 0} // zone 0: 12k of data, zone 2: 4k
	b := []uint64{12 * k, 0, 0, 0}
	tests := []struct {
		rw         string
		beyond     string
		wps        []uint64
		off        uint64
		wantOff    uint64
		wantLen    uint64
		wantOK     bool
		whyFromFio string
	}{
		{"randread", "0", a, 20 * k, 32 * k, 4 * k, true, "zone 1 empty: the nearest after it, zone 2, holds a block; its 4k is not more than bs: its start"},
		{"randread", "0", a, 8 * k, 0, 4 * k, true, "(8k % (12k-4k)) = 0"},
		{"randread", "0", a, 4 * k, 4 * k, 4 * k, true, "(4k % 8k) = 4k"},
		{"randread", "0", a, 52 * k, 32 * k, 4 * k, true, "zone 3 empty: no zone after it, zone 2 before"},
		{"randread", "0", b, 40 * k, 0, 4 * k, true, "zones 3 and 1 empty, then zone 0: (40k-32k) % 8k = 0"},
		{"randread", "0", b, 44 * k, 4 * k, 4 * k, true, "zones 3 and 1 empty, then zone 0: (44k-32k) % 8k = 4k"},
		{"randread", "0", []uint64{0, 0, 0, 0}, 20 * k, 0, 0, false, "no zone has data: eof"},
		{"randread", "1", []uint64{0, 0, 0, 0}, 20 * k, 20 * k, 4 * k, true, "read_beyond_wp: as drawn"},
		{"read", "0", a, 0, 0, 4 * k, true, "below the write pointer"},
		{"read", "0", a, 8 * k, 8 * k, 4 * k, true, "its block ends at the write pointer"},
		{"read", "0", a, 12 * k, 32 * k, 4 * k, true, "at the write pointer: the next zone with data, zone 2, at its start"},
		{"read", "0", a, 16 * k, 32 * k, 4 * k, true, "zone 1 empty: zone 2"},
		{"read", "0", a, 36 * k, 0, 0, false, "zone 2's data read, zone 3 empty, none after: eof"},
		{"read", "0", b, 40 * k, 0, 0, false, "sequential reads look forward only: eof"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/beyond=%s/off=%dk", tt.rw, tt.beyond, tt.off/k), func(t *testing.T) {
			s, g := zbdStream(t, map[string]string{"rw": tt.rw, "size": "64k", "zonesize": "16k", "bs": "4k", "read_beyond_wp": tt.beyond})
			setWPs(g, tt.wps...)
			off, n, ok := g.adjustRead(s, tt.off)
			if ok != tt.wantOK || ok && (off != tt.wantOff || n != tt.wantLen) {
				t.Errorf("read at %dk: %dk+%dk ok=%v, want %dk+%dk ok=%v (%s)", tt.off/k, off/k, n/k, ok, tt.wantOff/k, tt.wantLen/k, tt.wantOK, tt.whyFromFio)
			}
		})
	}
}

// TestZBDAdjustWrite checks where writes go, worked out by hand from
// fio's zbd_adjust_block (DDIR_WRITE) and zbd_convert_to_write_zone:
// four zones of 16k, writes of 4k.
func TestZBDAdjustWrite(t *testing.T) {
	const k = 1 << 10
	tests := []struct {
		name    string
		set     map[string]string
		wps     []uint64
		open    []uint32 // the write zones, in order
		jobOpen uint32   // the instance's count of them
		off     uint64
		want    uint64
		after   []uint64 // write pointers after, past each zone's start
		resets  uint64
	}{
		{"no limit: the drawn zone's write pointer", nil, []uint64{0, 8 * k, 0, 0}, nil, 0, 20 * k, 24 * k, []uint64{0, 12 * k, 0, 0}, 0},
		{"no limit: a full zone is reset", nil, []uint64{0, 0, 16 * k, 0}, nil, 0, 36 * k, 32 * k, []uint64{0, 0, 4 * k, 0}, 1},
		// Zone 0's remainder, 2k, cannot hold a block: fio finishes it
		// and moves on to zone 1.
		{"capacity: a zone that cannot hold a block is finished", map[string]string{"zonecapacity": "14k"}, []uint64{12 * k, 0, 0, 0}, nil, 0, 0, 16 * k, []uint64{16 * k, 4 * k, 0, 0}, 0},
		{"capacity: a block that fits", map[string]string{"zonecapacity": "14k"}, []uint64{8 * k, 0, 0, 0}, nil, 0, 4 * k, 8 * k, []uint64{12 * k, 0, 0, 0}, 0},
		// max_open_zones=2, both open: zone 0 may not open, so
		// write_zones[(4k-0)*2/64k = 0], zone 1, takes the write.
		{"limit: another open zone", map[string]string{"max_open_zones": "2"}, []uint64{0, 8 * k, 0, 4 * k}, []uint32{1, 3}, 2, 4 * k, 24 * k, []uint64{0, 12 * k, 0, 4 * k}, 0},
		// write_zones[40k*2/64k = 1], zone 3.
		{"limit: the open zone picked by offset", map[string]string{"max_open_zones": "2"}, []uint64{0, 8 * k, 0, 4 * k}, []uint32{1, 3}, 2, 40 * k, 52 * k, []uint64{0, 8 * k, 0, 8 * k}, 0},
		{"limit: the drawn zone is open", map[string]string{"max_open_zones": "2"}, []uint64{0, 8 * k, 0, 4 * k}, []uint32{1, 3}, 2, 20 * k, 24 * k, []uint64{0, 12 * k, 0, 4 * k}, 0},
		// Zone 1 is open but full (its write in flight, in fio): the
		// retry finds zone 0 and zone 2 closed and no room to open them,
		// then the open zone 3 with room.
		{"limit: the picked open zone is full", map[string]string{"max_open_zones": "2"}, []uint64{0, 16 * k, 0, 4 * k}, []uint32{1, 3}, 2, 4 * k, 52 * k, []uint64{0, 16 * k, 0, 8 * k}, 0},
		// Zone 1, picked, has 2k left of its 14k capacity, less than a
		// block: the retry finds no zone to open and takes the open
		// zone with room for a block, zone 3 (not zone 1, which would
		// then be finished).
		{"limit: the picked open zone has less than a block left", map[string]string{"max_open_zones": "2", "zonecapacity": "14k"}, []uint64{0, 12 * k, 0, 4 * k}, []uint32{1, 3}, 2, 4 * k, 52 * k, []uint64{0, 12 * k, 0, 8 * k}, 0},
		{"limit: a zone opens while there is room", map[string]string{"max_open_zones": "2"}, []uint64{0, 8 * k, 0, 0}, []uint32{1}, 1, 36 * k, 32 * k, []uint64{0, 8 * k, 4 * k, 0}, 0},
		// job_max_open_zones=1 and the instance has zone 0 open: zone 1
		// may not open although the file's limit has room.
		{"job limit", map[string]string{"max_open_zones": "4", "job_max_open_zones": "1"}, []uint64{4 * k, 0, 0, 0}, []uint32{0}, 1, 20 * k, 4 * k, []uint64{8 * k, 0, 0, 0}, 0},
		// Another instance's write filled a zone this one opened, so
		// this one's count went below 0: fio's unsigned count wraps, and
		// the instance may open no zone.
		{"job limit: a count wrapped below 0", map[string]string{"max_open_zones": "4", "job_max_open_zones": "2"}, []uint64{4 * k, 0, 0, 0}, []uint32{0}, ^uint32(0), 20 * k, 4 * k, []uint64{8 * k, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"rw": "randwrite", "size": "64k", "zonesize": "16k", "bs": "4k"}
			for k, v := range tt.set {
				set[k] = v
			}
			s, g := zbdStream(t, set)
			setWPs(g, tt.wps...)
			for _, z := range tt.open {
				g.dev.zones[z].write = true
				g.dev.writeZones[g.dev.numWrite] = z
				g.dev.numWrite++
			}
			g.numWrite = tt.jobOpen
			off, n, ok := g.adjustWrite(s, tt.off)
			if !ok || off != tt.want || n != 4*k {
				t.Fatalf("write drawn at %dk: %dk+%dk ok=%v, want %dk+4k", tt.off/k, off/k, n/k, ok, tt.want/k)
			}
			g.queueWrite(off, n)
			for i, w := range tt.after {
				if got := g.dev.zones[i].wp - g.dev.zones[i].start; got != w {
					t.Errorf("zone %d's write pointer %dk past its start, want %dk", i, got/k, w/k)
				}
			}
			if g.dev.resets != tt.resets {
				t.Errorf("%d zone resets, want %d", g.dev.resets, tt.resets)
			}
		})
	}
}

// TestZBDSequentialWrite checks sequential writes, by hand from fio's
// get_next_seq_offset and setup_zbd_zone_mode: each at the previous
// one's end, past a zone's capacity at the next zone's start; at the
// region's end the job ends (the first case ends after 12 writes, of
// the 16 blocks of its region), or with time_based starts again at the
// region's start, where the full zones are reset.
func TestZBDSequentialWrite(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]string
		want   string
		resets uint64
	}{
		{"capacity", map[string]string{"zonecapacity": "12k", "size": "64k", "bs": "4k"}, "0 4 8 16 20 24 32 36 40 48 52 56", 0},
		// Each zone is reset when the second pass comes back to it
		// full: two resets a pass after the first.
		{"time_based", map[string]string{"size": "32k", "bs": "8k", "runtime": "1", "time_based": "1"}, "0 8 16 24 0 8 16 24 0 8 16 24 0 8 16 24", 6},
		{"offset", map[string]string{"offset": "32k", "size": "32k", "bs": "16k"}, "32 48", 0},
		// 2k left of a 14k capacity: zone 0 is finished and the write
		// goes to zone 1; zone 1 likewise, the last zone, and a
		// sequential job ends there (zbd_convert_to_write_zone).
		{"capacity not a multiple of bs", map[string]string{"zonecapacity": "14k", "size": "32k", "bs": "4k"}, "0 4 8 16 20 24", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"rw": "write", "zonesize": "16k"}
			for k, v := range tt.set {
				set[k] = v
			}
			s, g := zbdStream(t, set)
			if got := offsetsK(drain(s, 16)); got != tt.want {
				t.Errorf("offsets %s, want %s", got, tt.want)
			}
			if g.dev.resets != tt.resets {
				t.Errorf("%d zone resets, want %d", g.dev.resets, tt.resets)
			}
		})
	}
}

// drawnOffsets returns the offsets instance 0 of a plain randwrite job
// draws: the same random map from the same seed as a zbd job's, before
// zbd_adjust_block moves them.
func drawnOffsets(t *testing.T, set map[string]string, n int) []uint64 {
	t.Helper()
	plain := map[string]string{}
	for k, v := range set {
		switch k {
		case "zonemode", "zonesize", "max_open_zones", "zone_reset_threshold", "zone_reset_frequency":
		default:
			plain[k] = v
		}
	}
	var out []uint64
	for _, op := range drain(mustPlan(t, "plain", plain).Streams(1)[0], n) {
		out = append(out, op.Off)
	}
	return out
}

// TestZBDRandomWrite checks random writes against models of fio's zone
// choice, each a few lines from zbd_adjust_block: the job draws the
// offsets a plain job would, and each write goes to a write pointer:
//   - without limits, its drawn zone's, the zone reset when full;
//   - with max_open_zones=1, the open zone's (the drawn zone opens
//     when none is: zbd_write_zone_get; the others go to
//     write_zones[0]), and a zone closes when a write fills it;
//   - with zone_reset_threshold and zone_reset_frequency, once the
//     region holds threshold*size bytes, every 1/frequency-th write
//     resets its zone first (zbd_dec_and_reset_write_cnt), the count
//     starting afresh at each pass over the region (time_based: fio's
//     get_next_rand_block calls fio_file_reset, and so zbd_file_reset,
//     when the random map is full).
func TestZBDRandomWrite(t *testing.T) {
	const zs, bs = 64 << 10, 16 << 10
	base := map[string]string{"rw": "randwrite", "zonemode": "zbd", "zonesize": "64k", "size": "256k", "bs": "16k", "runtime": "1", "time_based": "1"}
	type model func(offs []uint64) []uint64
	noLimit := func(offs []uint64) []uint64 {
		wp := map[uint64]uint64{}
		var out []uint64
		for _, off := range offs {
			z := off / zs
			if wp[z] == zs {
				wp[z] = 0
			}
			out = append(out, z*zs+wp[z])
			wp[z] += bs
		}
		return out
	}
	openOne := func(offs []uint64) []uint64 {
		wp := map[uint64]uint64{}
		open := int64(-1)
		var out []uint64
		for _, off := range offs {
			if open < 0 {
				open = int64(off / zs)
			}
			z := uint64(open)
			if wp[z] == zs {
				wp[z] = 0
			}
			out = append(out, z*zs+wp[z])
			if wp[z] += bs; wp[z] == zs {
				open = -1
			}
		}
		return out
	}
	threshold := func(offs []uint64) []uint64 {
		wp := map[uint64]uint64{}
		var valid uint64
		cnt := 2 // 1/0.5
		var out []uint64
		for i, off := range offs {
			if i > 0 && i%16 == 0 {
				cnt = 2 // a new pass: fio_file_reset, zbd_file_reset
			}
			z := off / zs
			if valid >= 128<<10 { // 0.5 of 256k
				if cnt--; cnt == 0 {
					cnt = 2
					valid -= wp[z]
					wp[z] = 0
				}
			}
			if wp[z] == zs {
				valid -= zs
				wp[z] = 0
			}
			out = append(out, z*zs+wp[z])
			wp[z] += bs
			valid += bs
		}
		return out
	}
	tests := []struct {
		name  string
		set   map[string]string
		model model
	}{
		{"no limit", nil, noLimit},
		{"max_open_zones=1", map[string]string{"max_open_zones": "1"}, openOne},
		{"threshold", map[string]string{"zone_reset_threshold": "0.5", "zone_reset_frequency": "0.5"}, threshold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{}
			for k, v := range base {
				set[k] = v
			}
			for k, v := range tt.set {
				set[k] = v
			}
			const n = 64 // four passes over the 16 blocks
			want := tt.model(drawnOffsets(t, set, n))
			ops := drain(mustPlan(t, "zbd", set).Streams(1)[0], n)
			if len(ops) != n {
				t.Fatalf("%d ops, want %d", len(ops), n)
			}
			for i, op := range ops {
				if op.Kind != OpWrite || op.Off != want[i] || op.Len != bs {
					t.Fatalf("op %d: %v, want a write at %#x+%d", i, op, want[i], bs)
				}
			}
		})
	}
}

// TestZBDPlan checks the plan's sizes: zone units, fio's alignment of
// the region to the zones (zbd_zone_align_file_sizes) and the checks
// fio makes.
func TestZBDPlan(t *testing.T) {
	const k = 1 << 10
	tests := []struct {
		set          map[string]string
		offset, size uint64
		note         string
	}{
		{map[string]string{"rw": "randwrite", "zonesize": "256m", "size": "8z", "offset": "524z"}, 524 * 256 << 20, 8 * 256 << 20, ""},
		{map[string]string{"rw": "write", "zonesize": "16k", "offset": "10k", "size": "40k"}, 16 * k, 32 * k, "offset 16k, size 32k, not 10k, 40k"},
		{map[string]string{"rw": "read", "zonesize": "16k", "offset": "10k", "size": "40k"}, 10 * k, 38 * k, "ends the job at once"},
		{map[string]string{"rw": "read", "zonesize": "16k", "size": "40k", "read_beyond_wp": "1"}, 0, 32 * k, "rounds the region to whole zones"},
		{map[string]string{"rw": "randrw", "rwmixread": "100", "zonesize": "16k", "size": "64k"}, 0, 64 * k, "ends the job at once"},
		{map[string]string{"rw": "randtrim", "zonesize": "16k", "bs": "16k", "size": "64k"}, 0, 64 * k, "without I/O"},
		{map[string]string{"rw": "randwrite", "zonesize": "16k", "size": "64k", "io_size": "2z"}, 0, 64 * k, ""},
		{map[string]string{"rw": "randwrite", "zonesize": "16k", "size": "64k", "zonerange": "32k"}, 0, 64 * k, ""},
	}
	for _, tt := range tests {
		tt.set["zonemode"] = "zbd"
		p := mustPlan(t, "zbd", tt.set)
		j := p.Job()
		if j.Offset != tt.offset || j.Size != tt.size {
			t.Errorf("%v: region %d+%d, want %d+%d", tt.set, j.Offset, j.Size, tt.offset, tt.size)
		}
		if tt.note == "" && p.Note() != "" || !strings.Contains(p.Note(), tt.note) {
			t.Errorf("%v: note %q, want one with %q", tt.set, p.Note(), tt.note)
		}
		if noIO := strings.Contains(p.Note(), "issues no requests"); noIO != (len(drain(p.Streams(1)[0], 5)) == 0) {
			t.Errorf("%v: note %q, but the stream's requests say otherwise", tt.set, p.Note())
		}
	}
	if p := mustPlan(t, "zbd", map[string]string{"rw": "randwrite", "zonemode": "zbd", "zonesize": "16k", "size": "64k", "io_size": "2z"}); p.OpsPerJob() != 8 {
		t.Errorf("io_size=2z of 16k zones: %d ops of 4k, want 8", p.OpsPerJob())
	}
	// A region rounded from 40k to 32k: a pass is the 8 blocks of the
	// rounded region, random (the random map is full) or sequential (at
	// its end); with norandommap fio's budget, size=40k, is 10 blocks.
	for _, tt := range []struct {
		rw, norandommap string
		ops             uint64
	}{{"randwrite", "0", 8}, {"write", "0", 8}, {"randwrite", "1", 10}, {"write", "1", 8}} {
		p := mustPlan(t, "zbd", map[string]string{"rw": tt.rw, "norandommap": tt.norandommap, "zonemode": "zbd", "zonesize": "16k", "size": "40k"})
		if p.OpsPerJob() != tt.ops {
			t.Errorf("rw=%s norandommap=%s, size=40k of 16k zones: %d ops of 4k, want %d", tt.rw, tt.norandommap, p.OpsPerJob(), tt.ops)
		}
	}
}

// TestZBDRefused checks the errors of zonemode=zbd, each naming its key.
func TestZBDRefused(t *testing.T) {
	z := func(kv ...string) map[string]string {
		m := map[string]string{"zonemode": "zbd", "rw": "randwrite"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	checkPlanError(t, z(), "zonemode", "needs a zonesize")
	checkPlanError(t, z("zonesize", "256m"), "size", "64m (runbench's size is 64m unless set), is smaller than zonesize=256m")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "bs", "32k"), "bs", "larger than zonesize")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "zonecapacity", "32k"), "zonecapacity", "larger than zonesize")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "zonecapacity", "2k"), "zonecapacity", "smaller than bs")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "job_max_open_zones", "2"), "job_max_open_zones", "needs max_open_zones")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "max_open_zones", "5000"), "max_open_zones", "4096")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "rw", "randtrim"), "bs", "zone size")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "rw", "trimwrite", "bs", "16k"), "rw", "not supported")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "bssplit", "4k/50:8k/50"), "zonemode", "block sizes that vary")
	checkPlanError(t, z("zonesize", "16k", "offset", "10k", "size", "20k"), "size", "at least one zone")
	checkPlanError(t, z("size", "4z"), "size", "needs a zonesize")
	checkPlanError(t, z("zonesize", "16k", "size", "1m", "zoneskip", "16k"), "zoneskip", "not supported")
	checkPlanError(t, z("zonesize", "512", "bs", "512", "size", "1g"), "zonesize", "runbench keeps at most 1048576 zones")
}

// zbdCheck follows a run's requests in submission order through the
// emulated zones of one file (zs, capacity cap, from the image's
// start), and fails at a write that is not at its zone's write pointer
// (or at the start of a full zone, which fio resets) or a read of data
// not written.
type zbdCheck struct {
	t        *testing.T
	im       *impl.Image
	zs, cap  uint64
	wp       map[uint64]uint64
	reads    int
	writes   int
	failures int
}

func (c *zbdCheck) Submit(r *impl.Request) {
	if c.failures < 5 {
		z, n := r.Off/c.zs, uint64(len(r.Buf))
		in := r.Off - z*c.zs
		switch r.Op {
		case impl.ReqWrite:
			c.writes++
			if in == 0 && c.wp[z] == c.cap {
				c.wp[z] = 0 // a full zone, reset
			}
			if in != c.wp[z] || in+n > c.cap {
				c.t.Errorf("write %#x+%d: zone %d's write pointer is %#x past its start", r.Off, n, z, c.wp[z])
				c.failures++
			}
			c.wp[z] = in + n
		case impl.ReqRead:
			c.reads++
			if in+n > c.wp[z] {
				c.t.Errorf("read %#x+%d: zone %d holds %d bytes", r.Off, n, z, c.wp[z])
				c.failures++
			}
		default:
			c.t.Errorf("request %v", r.Op)
			c.failures++
		}
	}
	c.im.Submit(r)
}

// TestZBDRun runs zonemode=zbd jobs on the sim backend and checks every
// request the image sees: writes at write pointers, reads of written
// data only, and a read job on the fresh image reads nothing. Two
// instances share one file's zones (shared_region, as fio's clones of a
// job naming one file), so each write is at the write pointer its zone
// has after the other instance's writes too.
func TestZBDRun(t *testing.T) {
	tests := []struct {
		name       string
		set        map[string]string
		wantReads  bool
		wantWrites bool
	}{
		{"randwrite shared", map[string]string{"rw": "randwrite", "numjobs": "2", "shared_region": "1", "max_open_zones": "2", "ops": "100"}, false, true},
		{"randrw", map[string]string{"rw": "randrw", "ops": "200"}, true, true},
		{"rw sequential", map[string]string{"rw": "rw", "ops": "200", "zonecapacity": "48k"}, true, true},
		{"read fresh", map[string]string{"rw": "randread"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"zonemode": "zbd", "zonesize": "64k", "size": "256k", "bs": "4k"}
			for k, v := range tt.set {
				set[k] = v
			}
			p := mustPlan(t, "zbd", set)
			capacity := uint64(64 << 10)
			if tt.set["zonecapacity"] != "" {
				capacity = 48 << 10
			}
			var c *zbdCheck
			_, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 4, Seed: 7,
				Wrap: func(open history.Opener) (Submitter, error) {
					im, _, err := open(0)
					c = &zbdCheck{t: t, im: im, zs: 64 << 10, cap: capacity, wp: map[uint64]uint64{}}
					return c, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			if (c.reads > 0) != tt.wantReads || (c.writes > 0) != tt.wantWrites {
				t.Errorf("%d reads, %d writes; want reads %v, writes %v", c.reads, c.writes, tt.wantReads, tt.wantWrites)
			}
		})
	}
}

// TestZBDSharedDevice checks that instances with shared_region share
// the zones and instances without have their own.
func TestZBDSharedDevice(t *testing.T) {
	for _, shared := range []string{"0", "1"} {
		p := mustPlan(t, "zbd", map[string]string{"rw": "write", "zonemode": "zbd", "zonesize": "16k", "size": "64k", "numjobs": "2", "shared_region": shared})
		ss := p.Streams(1)
		g0, g1 := ss[0].gen.(*zbdGen), ss[1].gen.(*zbdGen)
		if (g0.dev == g1.dev) != (shared == "1") {
			t.Errorf("shared_region=%s: instances share zones: %v", shared, g0.dev == g1.dev)
		}
		// Sequential writers of one file: the second instance's first
		// write goes to zone 0's write pointer, after the first's.
		a, _ := ss[0].Next()
		b, _ := ss[1].Next()
		want := uint64(64 << 10) // the second instance's own region
		if shared == "1" {
			want = 4 << 10
		}
		if a.Off != 0 || b.Off != want {
			t.Errorf("shared_region=%s: first writes at %#x and %#x, want 0 and %#x", shared, a.Off, b.Off, want)
		}
	}
}

// TestZBDStreamsInvariant drains long streams of zonemode=zbd jobs,
// among them ones whose zones fill, are finished and are reset many
// times over, and checks each write against the zones as the writes
// before it left them: at the write pointer, or at the start of a zone
// that could not take a block (fio resets it first), never past the
// capacity; reads below the write pointer (or, in a zone that could not
// take a block, which fio may have finished, its write pointer at the
// zone's end, anywhere in it); and each instance within its region.
// Instances may end, as fio's jobs do in zonemode=zbd (a sequential
// reader reaching the written data's end, a sequential writer
// finishing its last zone, a writer under job_max_open_zones whose
// count went astray).
func TestZBDStreamsInvariant(t *testing.T) {
	const k = 1 << 10
	tests := []map[string]string{
		{"rw": "randwrite", "max_open_zones": "1", "zonecapacity": "14k"},
		{"rw": "randwrite", "max_open_zones": "3", "job_max_open_zones": "2", "numjobs": "3", "shared_region": "1"},
		{"rw": "randrw", "max_open_zones": "2", "zonecapacity": "10k", "numjobs": "2", "shared_region": "1"},
		{"rw": "write", "zonecapacity": "14k", "numjobs": "2"},
		{"rw": "rw", "zonecapacity": "12k", "numjobs": "2", "offset_increment": "4z", "shared_region": "1"},
		{"rw": "randwrite", "norandommap": "1", "max_open_zones": "4"},
	}
	for _, set := range tests {
		t.Run(fmt.Sprint(set), func(t *testing.T) {
			for k, v := range map[string]string{"zonemode": "zbd", "zonesize": "16k", "size": "4z", "bs": "4k", "runtime": "1", "time_based": "1"} {
				set[k] = v
			}
			p := mustPlan(t, "inv", set)
			capacity := uint64(16 * k)
			if c := set["zonecapacity"]; c != "" {
				n, _ := ParseSize(c)
				capacity = n
			}
			ss := p.Streams(3)
			// One file with shared_region, else one per instance: key
			// the zones by image offset either way.
			wp := map[uint64]uint64{}
			finishable := map[uint64]bool{} // a zone that cannot take a block may be finished: readable to its end
			var writes, reads int
			ended := make([]bool, len(ss))
			for step, live := 0, len(ss); step < 3000 && live > 0; step++ {
				i := step % len(ss)
				if ended[i] {
					continue
				}
				op, ok := ss[i].Next()
				if !ok {
					ended[i] = true
					live--
					continue
				}
				base, size := p.Region(i)
				if op.Off < base || op.Off+op.Len > base+size {
					t.Fatalf("instance %d: %v outside its region %#x+%#x", i, op, base, size)
				}
				z := op.Off / (16 * k) * (16 * k)
				in := op.Off - z
				switch op.Kind {
				case OpWrite:
					writes++
					if in != wp[z] && !(in == 0 && capacity-min(wp[z], capacity) < op.Len) || in+op.Len > capacity {
						t.Fatalf("step %d: %v, zone at %#x written to %#x", step, op, z, wp[z])
					}
					wp[z] = in + op.Len
					finishable[z] = capacity-wp[z] < 4*k
				case OpRead:
					reads++
					if in+op.Len > wp[z] && !(finishable[z] && in+op.Len <= 16*k) {
						t.Fatalf("step %d: %v, zone at %#x holds %#x", step, op, z, wp[z])
					}
				}
			}
			if set["rw"] == "randwrite" && set["job_max_open_zones"] == "" && slices.Contains(ended, true) {
				t.Errorf("a random writer without job_max_open_zones ended (instances ended: %v)", ended)
			}
			if writes == 0 || set["rw"] == "randrw" && reads == 0 {
				t.Errorf("%d writes, %d reads", writes, reads)
			}
		})
	}
}

// TestZBDGroup runs zoned jobs together in one image (a group): each
// job's zones are those of its own file, which starts where the group
// lays it, so every write lands at a write pointer of its job's file,
// the instances of an offset_increment job too.
func TestZBDGroup(t *testing.T) {
	const text = "[global]\nzonemode=zbd\nzonesize=64k\nbs=4k\nrw=randwrite\nops=60\n" +
		"[a]\nsize=256k\n" +
		"[b]\nnumjobs=2\nsize=128k\noffset_increment=128k\nmax_open_zones=1\n"
	jobs, err := ParseJobFile(strings.NewReader(text), "zbd-group.fio")
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanGroup(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.members) != 2 {
		t.Fatalf("%d jobs in the group, want 2", len(p.members))
	}
	bStart, _ := p.members[1].Region(0)
	if bStart == 0 || bStart%(64<<10) != 0 {
		t.Fatalf("b's file starts at %#x, want a zone-aligned start past a's", bStart)
	}
	var c *zbdCheck
	var inB int
	_, err = Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 4, Seed: 3,
		Wrap: func(open history.Opener) (Submitter, error) {
			im, _, err := open(0)
			c = &zbdCheck{t: t, im: im, zs: 64 << 10, cap: 64 << 10, wp: map[uint64]uint64{}}
			return submitterFunc(func(r *impl.Request) {
				if r.Off >= bStart {
					inB++
				}
				c.Submit(r)
			}), err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if c.writes != 180 || inB != 120 {
		t.Errorf("%d writes, %d of them in b's file; want 180 and 120", c.writes, inB)
	}
}

// submitterFunc is a Submitter made of a function.
type submitterFunc func(*impl.Request)

func (f submitterFunc) Submit(r *impl.Request) { f(r) }
