package workloads

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

const (
	// iologV2 is a version 2 iolog with a wait, as fio writes them.
	iologV2 = "fio version 2 iolog\n/dev/sdb add\n/dev/sdb open\n/dev/sdb write 0 4096\n/dev/sdb wait 5000 0\n/dev/sdb read 4096 8192\n/dev/sdb sync 0 0\n/dev/sdb close\n"
	// iologV3 is a version 3 iolog: microseconds since the start first.
	iologV3 = "fio version 3 iolog\n0 /dev/sdb add\n0 /dev/sdb open\n100 /dev/sdb write 65536 4096\n1100 /dev/sdb write 0 512\n2100 /dev/sdb datasync 0 0\n10100 /dev/sdb read 65536 4096\n10200 /dev/sdb close\n"
)

// TestReadIOLog checks iologs of both versions are read, with their
// times, and bad ones refused naming the line.
func TestReadIOLog(t *testing.T) {
	tests := []struct {
		name, log string
		want      []IOLogEntry
		bad       string
	}{
		{"v2", iologV2, []IOLogEntry{{IOLogWrite, 0, 4096, 0, 4}, {IOLogRead, 4096, 8192, 5e6, 6}, {IOLogSync, 0, 0, 5e6, 7}}, ""},
		{"v3", iologV3, []IOLogEntry{{IOLogWrite, 65536, 4096, 0, 4}, {IOLogWrite, 0, 512, 1e6, 5}, {IOLogSync, 0, 0, 2e6, 6}, {IOLogRead, 65536, 4096, 10e6, 7}}, ""},
		{"v2 short wait dropped", "fio version 2 iolog\nf wait 99 0\nf write 0 512\n", []IOLogEntry{{IOLogWrite, 0, 512, 0, 3}}, ""},
		{"v3 out of order", "fio version 3 iolog\n500 f write 0 512\n100 f write 0 512\n", []IOLogEntry{{IOLogWrite, 0, 512, 0, 2}, {IOLogWrite, 0, 512, 0, 3}}, ""},
		{"trim kept for replay_skip", "fio version 2 iolog\nf trim 0 4096\n", []IOLogEntry{{IOLogTrim, 0, 4096, 0, 2}}, ""},
		{"no header", "/dev/sdb write 0 4096\n", nil, "t.log:1: not a fio iolog"},
		{"version 1", "0, 0, 4096\n", nil, "t.log:1: not a fio iolog"},
		{"unknown action", "fio version 2 iolog\nf erase 0 4096\n", nil, `t.log:2: unknown action "erase"`},
		{"unknown file action", "fio version 2 iolog\nf delete\n", nil, `t.log:2: unknown file action "delete"`},
		{"bad offset", "fio version 2 iolog\nf read x 4096\n", nil, "t.log:2: offset"},
		{"too few fields", "fio version 3 iolog\n5 f read 0\n", nil, "t.log:2: want FILE ACTION [OFFSET LENGTH] after a timestamp"},
		{"bad timestamp", "fio version 3 iolog\n-5 f read 0 512\n", nil, "t.log:2: timestamp"},
		{"wait in v3", "fio version 3 iolog\n5 f wait 100 0\n", nil, "t.log:2: wait is not allowed"},
		{"second file", "fio version 2 iolog\na write 0 512\nb write 0 512\n", nil, "t.log:3: I/O to a second file, b"},
		{"nothing to replay", "fio version 2 iolog\nf add\n", nil, "t.log: no reads"},
		{"binary blktrace", "\x07\x74\x61\x65\x00\x00", nil, "t.log: a binary blktrace"},
		{"binary", "fio version 2 iolog\nf write 0 512\n\x00\x01", nil, "t.log:3: not a text file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ReadIOLog(strings.NewReader(tt.log), "t.log")
			if tt.bad != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.bad) {
					t.Fatalf("error %v, want one starting %q", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != len(tt.want) {
				t.Fatalf("entries %+v, want %+v", l.Entries, tt.want)
			}
			for i := range tt.want {
				if l.Entries[i] != tt.want[i] {
					t.Errorf("entry %d: %+v, want %+v", i, l.Entries[i], tt.want[i])
				}
			}
		})
	}
}

// iologJob parses a job replaying log with the extra settings.
func iologJob(t *testing.T, log, settings string) (*Plan, error) {
	t.Helper()
	f, err := parseFio("[replay]\nread_iolog=t.log\n"+settings, fstest.MapFS{"jobs/t.log": {Data: []byte(log)}}, nil)
	if err != nil {
		return nil, err
	}
	return f.Jobs[0].Plan()
}

// TestIOLogReplay checks a replay issues the log's requests in order, at
// its times (scaled, or not at all), on an image just large enough.
func TestIOLogReplay(t *testing.T) {
	const ms = int64(time.Millisecond)
	tests := []struct {
		name, settings string
		ops            string // the stream's operations
		min, max       int64  // the run's Nanos
	}{
		// The read is logged 10 ms after the first write; each request
		// takes well under 0.5 ms on the simulated nvme.
		{"as logged", "", "write 0x10000+4096 write 0x0+512 flush read 0x10000+4096", 10 * ms, 10*ms + ms/2},
		{"twice as fast", "replay_time_scale=200\n", "write 0x10000+4096 write 0x0+512 flush read 0x10000+4096", 5 * ms, 5*ms + ms/2},
		{"no stall", "replay_no_stall=1\n", "write 0x10000+4096 write 0x0+512 flush read 0x10000+4096", 0, ms},
		// Skipped entries leave the others' times as logged.
		{"skip writes and syncs", "replay_skip=write,sync\n", "read 0x10000+4096", 10 * ms, 10*ms + ms/2},
		{"loops", "loops=2\nreplay_no_stall=1\n", "write 0x10000+4096 write 0x0+512 flush read 0x10000+4096 write 0x10000+4096 write 0x0+512 flush read 0x10000+4096", 0, 2 * ms},
		{"deep", "iodepth=8\n", "write 0x10000+4096 write 0x0+512 flush read 0x10000+4096", 10 * ms, 10*ms + ms/2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := iologJob(t, iologV3, tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, op := range drain(p.Streams(1)[0], 100) {
				got = append(got, op.String())
			}
			if s := strings.Join(got, " "); s != tt.ops {
				t.Errorf("ops %s, want %s", s, tt.ops)
			}
			if p.ImageSize() != 64<<10+64<<10 {
				t.Errorf("image of %d bytes, want the clusters up to the log's last byte", p.ImageSize())
			}
			qd, _ := p.JobQD()
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: max(qd, 1), Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != uint64(len(got)) || res.Nanos < tt.min || res.Nanos > tt.max || !res.Check.Clean() {
				t.Errorf("%d ops in %.3f ms, check %s; want %d in [%.1f, %.1f] ms", res.Ops, float64(res.Nanos)/1e6, CheckSummary(res.Check), len(got), float64(tt.min)/1e6, float64(tt.max)/1e6)
			}
		})
	}
}

// TestIOLogPlanErrors checks a log runbench cannot replay is refused
// naming the key to change and the log's line.
func TestIOLogPlanErrors(t *testing.T) {
	for _, tt := range []struct {
		log, settings, key, msg string
	}{
		{"fio version 2 iolog\nf trim 100 4096\n", "", "read_iolog", "jobs/t.log:2: trim at 100+4096: offset and length must be multiples of 512"},
		{"fio version 2 iolog\nf write 100 4096\n", "", "read_iolog", "jobs/t.log:2: write at 100+4096: offset and length must be multiples of 512"},
		{"fio version 2 iolog\nf write 0 0\n", "", "read_iolog", "the length not 0"},
		{iologV2, "numjobs=2\n", "numjobs", "numjobs must be 1"},
		{iologV2, "pattern=first-touch\nrw=randwrite\n", "pattern", "its log's own offsets"},
		{iologV2, "replay_skip=read,write,sync\n", "replay_skip", "leaves nothing"},
		{iologV2, "image_size=4k\n", "image_size", "smaller than the end"},
	} {
		_, err := iologJob(t, tt.log, tt.settings)
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q with %q: %v, want %s: %q", tt.log, tt.settings, err, tt.key, tt.msg)
		}
	}
}
