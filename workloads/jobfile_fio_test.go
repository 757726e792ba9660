package workloads

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// parseFio parses file, named "jobs/main.fio", with the files of fsys
// (paths as the parser resolves them) and the environment env.
func parseFio(file string, fsys fstest.MapFS, env map[string]string) (*JobFile, error) {
	opts := JobFileOptions{
		Open: func(path string) (io.ReadCloser, error) { return fsys.Open(filepath.ToSlash(path)) },
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
	}
	return ParseJobFileWith(strings.NewReader(file), "jobs/main.fio", opts)
}

// TestParseJobFileFioSyntax checks fio's syntax: comments after values,
// ${NAME}, include, section names, name=, global sections, the keys the
// parser resolves itself, and the ignored keys' line.
func TestParseJobFileFioSyntax(t *testing.T) {
	files := fstest.MapFS{
		"jobs/common.inc":   {Data: []byte("bs=8k ; shared\nioengine=psync\ninclude deeper.inc\n")},
		"jobs/deeper.inc":   {Data: []byte("numjobs=2\n")},
		"jobs/section.inc":  {Data: []byte("[oops]\n")},
		"jobs/self.inc":     {Data: []byte("include self.inc\n")},
		"jobs/trace.log":    {Data: []byte("fio version 2 iolog\n/dev/sdb add\n/dev/sdb open\n/dev/sdb write 0 4096\n/dev/sdb read 4096 8192\n/dev/sdb close\n")},
		"abs/elsewhere.inc": {Data: []byte("size=2m\n")},
	}
	env := map[string]string{"SIZE": "3m", "RW": "randwrite"}
	type check func(t *testing.T, f *JobFile)
	job := func(name string, fn func(j Job) bool) check {
		return func(t *testing.T, f *JobFile) {
			for _, j := range f.Jobs {
				if j.Name == name {
					if !fn(j) {
						t.Errorf("job %s: %+v", name, j)
					}
					return
				}
			}
			t.Errorf("no job %s among %d", name, len(f.Jobs))
		}
	}
	ignored := func(want string) check {
		return func(t *testing.T, f *JobFile) {
			if line := f.IgnoredLine(); !strings.Contains(line, want) || strings.Contains(line, "\n") {
				t.Errorf("ignored line %q lacks %q", line, want)
			}
		}
	}
	tests := []struct {
		name, file string
		checks     []check
		bad        []string // substrings of the error; nil: no error
	}{
		{"comment after a value", "[a]\nrw=write ; sequential\nbs=8k# eight\n", []check{job("a", func(j Job) bool { return j.RW == RWWrite && j.BlockSize == 8<<10 })}, nil},
		{"environment", "[a]\nsize=${SIZE}\nrw=${RW}\n", []check{job("a", func(j Job) bool { return j.Size == 3<<20 && j.RW == RWRandWrite })}, nil},
		{"unset variable in a value", "[a]\nsize=${NOPE}\n", nil, []string{"jobs/main.fio:2:", "size=${NOPE}", "NOPE is not set"}},
		{"unset variable of an ignored key", "[a]\ndirectory=${NOPE}\n", []check{ignored("directory")}, nil},
		{"unclosed variable", "[a]\nsize=${SIZE\n", nil, []string{"jobs/main.fio:2:", "without a closing }"}},
		{"machine keyword", "[a]\nsize=8*$mb_memory\n", nil, []string{"jobs/main.fio:2:", "$mb_memory depends on the machine"}},
		{"section names as fio's", "[punch hole-fuzzer]\n[burn_2x50%_qsort]\n[a,b/c]\n", []check{job("punch_hole-fuzzer", func(Job) bool { return true }), job("burn_2x50%_qsort", func(Job) bool { return true }), job("a_b_c", func(Job) bool { return true })}, nil},
		{"name key", "[a]\nname=renamed job\n", []check{job("renamed_job", func(Job) bool { return true })}, nil},
		{"global name names the jobs after", "[global]\nname=g\n[a]\n", []check{job("g", func(Job) bool { return true })}, nil},
		{"names collide", "[global]\nname=g\n[a]\n[b]\n[c]\nname=g-2\n[d]\n", []check{job("g", func(Job) bool { return true }), job("g-2", func(Job) bool { return true }), job("g-3", func(Job) bool { return true }), job("g-4", func(Job) bool { return true })}, nil},
		{"global prefix", "[global-defaults]\nbs=16k\n[a]\n", []check{job("a", func(j Job) bool { return j.BlockSize == 16<<10 })}, nil},
		{"include", "[a]\ninclude common.inc\nsize=1m\n", []check{job("a", func(j Job) bool { return j.BlockSize == 8<<10 && j.NumJobs == 2 && j.IOEngine == "psync" }), ignored("ioengine=psync (psync is synchronous")}, nil},
		{"include an absolute path", "[a]\ninclude /abs/elsewhere.inc\n", nil, []string{"include /abs/elsewhere.inc"}},
		{"include a section", "[a]\ninclude section.inc\n", nil, []string{"jobs/section.inc:1: a section in an included file"}},
		{"include itself", "[a]\ninclude self.inc\n", nil, []string{"nested more than 16 deep"}},
		{"include a missing file", "[a]\ninclude nope.inc\n", nil, []string{"jobs/main.fio:2: include nope.inc:"}},
		{"error in an included file", "[a]\ninclude common.inc\nnumjobs=0\n", nil, []string{"jobs/main.fio:3:", "numjobs=0"}},
		{"filesize is the region", "[a]\nfilesize=2m\n", []check{job("a", func(j Job) bool { return j.Size == 2<<20 && j.IOSize == 0 })}, nil},
		{"size with filesize is io_size", "[a]\nsize=8m\nfilesize=2m\n", []check{job("a", func(j Job) bool { return j.Size == 2<<20 && j.IOSize == 8<<20 })}, nil},
		{"filesize range", "[a]\nfilesize=1m-2m\n", nil, []string{"jobs/main.fio:2:", "filesize=1m-2m", "range of file sizes"}},
		{"fill_device", "[a]\nrw=write\nfill_device=1\n", []check{job("a", func(j Job) bool { return j.SizePercent == 100 })}, nil},
		{"fill_device with a size", "[a]\nsize=1m\nfill_device=1\n", []check{job("a", func(j Job) bool { return j.SizePercent == 0 && j.Size == 1<<20 })}, nil},
		{"read_iolog", "[a]\nread_iolog=trace.log\n", []check{job("a", func(j Job) bool {
			return j.IOLog != nil && len(j.IOLog.Entries) == 2 && j.IOLog.Path == "jobs/trace.log"
		})}, nil},
		{"read_iolog missing", "[a]\nread_iolog=none.log\n", nil, []string{"jobs/main.fio:2:", "read_iolog=none.log"}},
		// filename and stonewall were ignored while runbench ran each job
		// alone; now jobs run together, as fio's, and they count.
		{"ignored keys, one line", "[global]\nfilename=/dev/sdb\ndirect=1\n[a]\ngroup_reporting\nstonewall\nthread\ndirectory=/d\n", []check{ignored("directory (fio's target"), ignored("direct (O_DIRECT"), ignored("group_reporting (fio's reporting"),
			job("a", func(j Job) bool { return j.Group.Stonewall && j.Group.Filename == "/dev/sdb" })}, nil},
		{"group_reporting with steady state", "[global]\ngroup_reporting\nnumjobs=2\n[a]\nss=iops:1%\nss_dur=10s\n", []check{job("a", func(j Job) bool { return j.GroupReporting && j.SteadyState.Duration == 10*time.Second })}, nil},
		{"steady state window", "[a]\nss=iops:1%\nss_dur=10s\nss_interval=3s\n", nil, []string{"jobs/main.fio:3:", "steadystate_duration=10s", "multiple of steadystate_check_interval"}},
		{"FUA", "[w]\nioengine=io_uring_cmd\nrw=write\nwritefua=1\n[r]\nioengine=sg\nreadfua=1\n", []check{job("w", func(j Job) bool { return j.WriteFUA }), job("r", func(j Job) bool { return !j.WriteFUA }), ignored("readfua (FUA on a read")}, nil},
		{"writefua of another engine", "[w]\nioengine=libaio\nrw=write\nwritefua=1\n", nil, []string{"jobs/main.fio:4:", "writefua=1", "not of ioengine=libaio"}},
		{"verify_backlog with verify", "[global]\nverify=crc32c\n[a]\nrw=write\nverify_backlog=8\nverify_backlog_batch=4\n", []check{job("a", func(j Job) bool { return j.VerifyBacklog == 8 && j.VerifyBacklogBatch == 4 })}, nil},
		{"verify_backlog without verify", "[a]\nrw=write\nverify_backlog=8\n", []check{job("a", func(j Job) bool { return j.VerifyBacklog == 0 }), ignored("verify_backlog (without verify, fio logs no writes")}, nil},
		{"verify_backlog with do_verify=0", "[a]\nrw=write\nverify=md5\ndo_verify=0\nverify_backlog=8\n", []check{job("a", func(j Job) bool { return j.VerifyBacklog == 0 }), ignored("verify_backlog (with do_verify=0")}, nil},
		{"verify_backlog time-based", "[a]\nrw=write\nverify=md5\nverify_backlog=8\nruntime=10\ntime_based\n", nil, []string{"jobs/main.fio:4:", "verify_backlog=8", "not supported with time_based"}},
		{"neutral value of a refused key", "[a]\natomic=0\npercentage_random=100\n", []check{ignored("atomic, percentage_random (set to fio's default")}, nil},
		{"latency samples off", "[a]\ngtod_reduce=1\nlatency_target=1ms\n", nil, []string{"jobs/main.fio:2:", "[a] gtod_reduce", "no latency samples"}},
		{"stats off", "[global]\nstats=0\n[a]\nlatency_target=1ms\n", nil, []string{"jobs/main.fio:2:", "[a] stats", "no latency samples"}},
		{"stats on", "[a]\nstats=1\nlatency_target=1ms\n", []check{job("a", func(j Job) bool { return j.LatencyTarget.Target == time.Millisecond })}, nil},
		{"refused key", "[a]\nrw=randwrite\nzonemode=zbd\nzonesize=1m\nwrite_mode=zone_append\n", nil, []string{"jobs/main.fio:5:", "[a] write_mode=zone_append", "zone append"}},
		{"write_mode default", "[a]\nwrite_mode=write\n", []check{ignored("write_mode (set to fio's default")}, nil},
		{"write_zone_remainder", "[a]\nrw=randwrite\nzonemode=zbd\nzonesize=1m\nwrite_zone_remainder=1\n", nil, []string{"jobs/main.fio:5:", "write_zone_remainder=1", "does not model"}},
		{"zbd keys", "[a]\nrw=randwrite\nzonemode=zbd\nzonesize=1m\nmax_open_zones=4\njob_max_open_zones=2\nzonecapacity=768k\nignore_zone_limits=1\nwrite_zone_remainder=0\n", []check{job("a", func(j Job) bool {
			return j.MaxOpenZones == 4 && j.JobMaxOpenZones == 2 && j.ZoneCapacity == 768<<10 && j.IgnoreZoneLimits
		})}, nil},
		{"zbd without zonesize", "[a]\nrw=randwrite\nzonemode=zbd\n", nil, []string{"jobs/main.fio:3:", "[a] zonemode=zbd", "needs a zonesize"}},
		{"zbd with verify", "[a]\nrw=randwrite\nzonemode=zbd\nzonesize=1m\nsize=4m\nverify=crc32c\n", nil, []string{"jobs/main.fio:6:", "[a] verify=crc32c", "not supported with zonemode=zbd"}},
		{"zbd read with verify", "[a]\nrw=read\nzonemode=zbd\nzonesize=1m\nsize=4m\nverify=crc32c\n", []check{job("a", func(j Job) bool { return j.ZoneMode == ZoneZBD })}, nil},
		{"refused engine", "[global]\nioengine=net\n[a]\n", nil, []string{"jobs/main.fio:2:", "ioengine=net", "sends over a network"}},
		{"data keys ignored", "[a]\nrw=write\nbuffer_pattern=0x01\nzero_buffers\ndedupe_percentage=50\nscramble_buffers=1\n", []check{ignored("buffer_pattern, zero_buffers, dedupe_percentage, scramble_buffers (the data written: runbench's QED image neither compresses")}, nil},
		{"job priority ignored", "[a]\nprio=7\nprioclass=2\n", []check{ignored("prio, prioclass (the priority of all of a job's I/O")}, nil},
		{"idle class refused", "[a]\nprioclass=3\n", nil, []string{"jobs/main.fio:2:", "prioclass=3", "idle class"}},
		{"per-command priority refused", "[a]\ncmdprio_percentage=20\n", nil, []string{"jobs/main.fio:2:", "cmdprio_percentage=20", "per-command priorities"}},
		{"priority hint refused", "[a]\npriohint=1\n", nil, []string{"priohint=1", "command duration limits"}},
		{"ioscheduler refused", "[a]\nioscheduler=none\n", nil, []string{"ioscheduler=none", "changes the system"}},
		{"error rules ignored", "[a]\ncontinue_on_error=all\nignore_error=,EIO\nexitall_on_error\n", []check{ignored("continue_on_error, ignore_error, exitall_on_error (what fio does after an I/O error")}, nil},
		{"exitall", "[a]\nexitall\nexit_what=stonewall\n", []check{job("a", func(j Job) bool { return j.Group.ExitAll && j.Group.ExitWhat == ExitStonewall })}, nil},
		{"exit_what refused", "[a]\nexitall\nexit_what=some\n", nil, []string{"jobs/main.fio:3:", "exit_what=some", "want group, stonewall or all"}},
		{"flow weight too large", "[a]\nflow=1001\n", nil, []string{"jobs/main.fio:2:", "flow=1001", "largest weight, 1000"}},
		{"flow_watermark deprecated", "[a]\nflow_watermark=8\n", []check{ignored("flow_watermark (deprecated in fio")}, nil},
		{"group keys that change nothing", "[a]\nstonewall\nstartdelay=2\n[b]\nstonewall\nwait_for=a\nflow=4\n", []check{ignored("startdelay (the job runs alone"), ignored("wait_for (the job waited for is in an earlier group"), ignored("flow (the only instance of its flow_id")}, nil},
		{"group keys that count", "[a]\nstartdelay=2\nflow=1\n[b]\nwait_for=a\nflow=4\n", []check{job("b", func(j Job) bool { return j.Group.WaitFor == "a" && j.Group.Flow == 4 }), func(t *testing.T, f *JobFile) {
			if f.IgnoredLine() != "" {
				t.Errorf("ignored %q, want nothing", f.IgnoredLine())
			}
		}}, nil},
		{"startdelay range", "[a]\nstartdelay=1-5\n", nil, []string{"jobs/main.fio:2:", "startdelay=1-5", "range of delays"}},
		{"filesize is each file's", "[global]\nnrfiles=4\n[a]\nfilesize=16k\nsize=64k\n", []check{job("a", func(j Job) bool { return j.Size == 64<<10 && j.IOSize == 64<<10 && j.NrFiles == 4 })}, nil},
		{"time_based without runtime", "[a]\ntime_based\n", []check{ignored("time_based (without a runtime")}, nil},
		{"unknown key", "[a]\nthreads=1\n", nil, []string{"jobs/main.fio:2:", "threads=1", "did you mean thread"}},
		{"one file shared by numjobs", "[global]\nfilename=/dev/sdb\n[a]\nnumjobs=4\nsize=1m\n", []check{job("a", func(j Job) bool { return j.SharedRegion }), ignored("filename with numjobs (fio's clones then share")}, nil},
		{"a file each", "[a]\nnumjobs=4\nsize=1m\n", []check{job("a", func(j Job) bool { return !j.SharedRegion })}, nil},
		{"shared_region overrides", "[a]\nfilename=x\nnumjobs=4\nshared_region=0\n", []check{job("a", func(j Job) bool { return !j.SharedRegion })}, nil},
		{"several files", "[a]\nfilename=a:b\n", nil, []string{"jobs/main.fio:2:", "filename=a:b", "several files"}},
		{"escaped colons", "[a]\nfilename=/dev/bsg/0\\:0\n", nil, nil},
		{"fresh clusters shared", "[a]\nfilename=x\nnumjobs=2\nrw=randwrite\npattern=first-touch\n", nil, []string{"jobs/main.fio:2:", "shared_region=1", "same fresh clusters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFio(tt.file, files, env)
			if tt.bad != nil {
				if err == nil {
					t.Fatalf("no error; jobs %+v", f.Jobs)
				}
				for _, w := range tt.bad {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.checks {
				c(t, f)
			}
		})
	}
}

// TestParseJobFileNoFiles checks include and read_iolog are refused when
// the caller gives no way to open files.
func TestParseJobFileNoFiles(t *testing.T) {
	for _, file := range []string{"[a]\ninclude x.inc\n", "[a]\nread_iolog=x.log\n"} {
		if _, err := ParseJobFile(strings.NewReader(file), "n.fio"); err == nil || !strings.Contains(err.Error(), "may not") {
			t.Errorf("%q: %v, want a refusal", file, err)
		}
	}
}

// TestFioExamples checks runbench's reading of fio's own example job
// files (testdata/fio, see its README): the jobs of those it runs, and
// for those it refuses the file, line and key it names.
func TestFioExamples(t *testing.T) {
	type jobCheck struct {
		name string
		ok   func(p *Plan) bool
	}
	tests := []struct {
		file string
		jobs []jobCheck
		bad  string // the start of the error's first line; "" for none
	}{
		{file: "fio-rand-RW.fio", jobs: []jobCheck{{"fio-rand-RW", func(p *Plan) bool {
			j := p.Job()
			qd, set := p.JobQD()
			return j.RW == RWRandMixed && j.RWMixRead == 60 && j.NumJobs == 4 && j.TimeBased && j.Runtime == 900*time.Second &&
				j.Size == 10<<30 && qd == 16 && set && p.OpsPerJob() == 0 && j.SharedRegion && p.ImageSize() == 10<<30
		}}}},
		{file: "aio-read.fio", jobs: []jobCheck{
			{"file1", func(p *Plan) bool { qd, _ := p.JobQD(); return qd == 4 && p.Job().BlockSize == 128<<10 }},
			{"file2", func(p *Plan) bool { qd, _ := p.JobQD(); return qd == 32 }},
			{"file3", func(p *Plan) bool { qd, _ := p.JobQD(); return qd == 8 }},
			{"file4", func(p *Plan) bool { qd, _ := p.JobQD(); return qd == 16 }},
		}},
		{file: "iometer-file-access-server.fio", jobs: []jobCheck{{"iometer", func(p *Plan) bool {
			return p.sizes != nil && p.sizes.min == 512 && p.maxBS == 64<<10 && p.budget == 4<<30 && p.Job().RWMixRead == 80
		}}}},
		{file: "jesd219.fio", jobs: []jobCheck{{"JESD219", func(p *Plan) bool {
			return p.unit == 4<<10 && p.dist != nil && p.Job().Distribution.Kind == Zoned && p.Job().NumJobs == 4
		}}}},
		{file: "rand-zones.fio", jobs: []jobCheck{{"zones", func(p *Plan) bool {
			return p.Job().Distribution.Spec == "50/5:30/15:20/80" && p.Job().Size == 2<<30
		}}}},
		{file: "poisson-rate-submission.fio", jobs: []jobCheck{{"poisson-rate-submit", func(p *Plan) bool {
			return p.pace != nil && p.pace.poisson && p.pace.reqsPerSec == [2]float64{50, 50}
		}}}},
		{file: "tiobench-example.fio", jobs: []jobCheck{
			{"f1", func(p *Plan) bool {
				return p.Job().BlockSize == 4<<10 && p.sizes == nil && p.Job().Runtime == time.Minute
			}},
		}},
		{file: "surface-scan.fio", jobs: []jobCheck{
			{"write-phase", func(p *Plan) bool { qd, _ := p.JobQD(); return p.Job().Size == 64<<20 && qd == 1 }},
			{"verify-phase", func(p *Plan) bool { return p.Job().RW == RWRead }},
		}},
		{file: "sequence-distribution.fio", jobs: []jobCheck{
			{"repeating_sequence", func(p *Plan) bool { return blocksOf(p) == "2 0 1 2 0 1" }},
			{"strided_sequence", func(p *Plan) bool { return blocksOf(p) == "2 0 1 5 3 4" }},
		}},
		{file: "zipf.fio", jobs: []jobCheck{{"job", func(p *Plan) bool {
			return p.Job().Distribution == Distribution{Kind: Zipf, Theta: 0.5} && p.Job().IOEngine == "null"
		}}}},
		{file: "backwards-read.fio", jobs: []jobCheck{{"backwards-read", func(p *Plan) bool {
			// 0, then backwards from the end less 8k by 4k: fio's rw=read:-8k.
			ops := drain(p.Streams(1)[0], 4)
			return p.Job().OffsetAdd == -8<<10 && p.OpsPerJob() == 32<<10 && len(ops) == 4 &&
				ops[0].Off == 0 && ops[1].Off == 128<<20-8<<10 && ops[2].Off == 128<<20-12<<10 && ops[3].Off == 128<<20-16<<10
		}}}},
		{file: "gfapi.fio", jobs: []jobCheck{{"reopen_file_test", func(p *Plan) bool {
			// Four files of filesize=16k, two open at once: files 0 and 1
			// in turn to their ends, then 2 and 3.
			j := p.Job()
			return j.NrFiles == 4 && j.OpenFiles == 2 && j.Size == 64<<10 && p.OpsPerJob() == 16 &&
				offsetsK(drain(p.Streams(1)[0], 100)) == "0 16 4 20 8 24 12 28 32 48 36 52 40 56 44 60"
		}}}},
		{file: "rados.fio", jobs: []jobCheck{{"rbd_iodepth32", func(p *Plan) bool {
			// 32 files of 4m, round robin: request k in file k mod 32.
			ops := drain(p.Streams(1)[0], 64)
			for k, op := range ops {
				if op.Off/(4<<20) != uint64(k%32) {
					return false
				}
			}
			return p.Job().NrFiles == 32 && p.OpsPerJob() == 32<<10 && len(ops) == 64
		}}}},
		{file: "libpmem.fio", jobs: []jobCheck{
			{"libpmem-seqwrite", func(p *Plan) bool {
				qd, _ := p.JobQD()
				return p.Job().SyncWrites && p.Job().RW == RWWrite && qd == 1 && p.Job().TimeBased
			}},
			{"libpmem-seqread", func(p *Plan) bool { return p.Job().SyncWrites && p.Job().RW == RWRead }},
		}},
		{file: "dedupe-global.fio", jobs: []jobCheck{
			// The dedupe and compress keys only set the data written.
			{"a", func(p *Plan) bool {
				qd, _ := p.JobQD()
				return p.Job().RW == RWWrite && qd == 256 && p.Job().Size == 100<<20
			}},
			{"b", func(p *Plan) bool { return p.Job().RW == RWWrite }},
		}},
		{file: "example_latency_steadystate.fio", jobs: []jobCheck{{"latency_steady_test", func(p *Plan) bool {
			j := p.Job()
			return j.SteadyState == SteadyState{Metric: SSLat, Limit: 5, Percent: true, Duration: 300 * time.Second, Ramp: time.Minute, Interval: 10 * time.Second} &&
				j.TimeBased && j.Runtime == time.Hour && j.Size == 10<<30 && j.SteadyState.samples() == 30
		}}}},
		{file: "ime.fio", jobs: []jobCheck{
			{"write-aio", func(p *Plan) bool {
				qd, _ := p.JobQD()
				c, on := p.Job().batching(qd)
				return qd == 32 && on && c == batchConfig{depth: 32, batch: 16, low: 32, cmin: 16, cmax: 16} && p.Job().NumJobs == 8
			}},
			// A synchronous engine keeps one request in flight: batching
			// changes nothing.
			{"read-psync", func(p *Plan) bool { qd, _ := p.JobQD(); _, on := p.Job().batching(qd); return qd == 1 && !on }},
		}},
		{file: "latency-profile.fio", jobs: []jobCheck{{"device", func(p *Plan) bool {
			qd, _ := p.JobQD()
			return p.Job().LatencyTarget == LatencyTarget{Target: 500 * time.Millisecond, Window: 5 * time.Second, Percentile: 99.9} && qd == 128
		}}}},
		{file: "netio.fio", bad: "testdata/fio/netio.fio:3: ioengine=net: not supported: fio's net engine sends over a network"},
		// zonemode=zbd on a regular file (zbd.go): fio's emulated zones
		// start empty, so a read job reads nothing.
		{file: "zbd-seq-read.fio", jobs: []jobCheck{{"zbd-seq-read", func(p *Plan) bool {
			qd, _ := p.JobQD()
			j := p.Job()
			return j.ZoneMode == ZoneZBD && j.Offset == 524*256<<20 && j.Size == 10<<30 && qd == 16 &&
				strings.Contains(p.Note(), "ends the job at once") && len(drain(p.Streams(1)[0], 10)) == 0
		}}}},
		{file: "libzbc-seq-read.fio", jobs: []jobCheck{{"libzbc-seq-read", func(p *Plan) bool {
			qd, _ := p.JobQD()
			return p.Job().ZoneMode == ZoneZBD && p.Job().Offset == 140660178944 && qd == 1 && len(drain(p.Streams(1)[0], 10)) == 0
		}}}},
		// size=8z offset=524z: zones of zonesize; every write at its
		// zone's write pointer, the first of each zone at its start.
		{file: "zbd-rand-write-zone-reset-gc.fio", jobs: []jobCheck{{"zbd-rand-write-gc", func(p *Plan) bool {
			j := p.Job()
			if j.Offset != 524*256<<20 || j.Size != 8*256<<20 || !j.TimeBased || j.ZoneResetThreshold != 0.7 || j.ZoneResetFrequency != 0.125 || p.Note() != "" {
				return false
			}
			wp := map[uint64]uint64{}
			for _, op := range drain(p.Streams(1)[0], 40) {
				z := op.Off / (256 << 20)
				if op.Kind != OpWrite || op.Len != 32<<20 || z < 524 || z >= 532 || op.Off != z*(256<<20)+wp[z] {
					return false
				}
				wp[z] += op.Len
			}
			return true
		}}}},
		// Without a size, fio's file would be runbench's 64m default,
		// smaller than a zone: fio refuses such a file.
		{file: "libzbc-rand-write.fio", bad: "testdata/fio/libzbc-rand-write.fio:18: [libzbc-rand-write] size=64m: fio's file, offset + size = 64m"},
		{file: "zbd-rand-write.fio", bad: "testdata/fio/zbd-rand-write.fio:18: [zbd-rand-write] size=64m: fio's file, offset + size = 64m"},
		{file: "uring-cmd-zoned.fio", bad: "testdata/fio/uring-cmd-zoned.fio:14: [rand-write] zonemode=zbd: zonemode=zbd on a regular file needs a zonesize"},
		// Zoned jobs running together on one file: fio's share its zones
		// (wjob's writes and trimjob's resets move one set of write
		// pointers, warmup's first); runbench's zone state is a job's
		// own, so it refuses to run them together.
		{file: "zbd-rand-write-trim-gc.fio", bad: "testdata/fio/zbd-rand-write-trim-gc.fio:19: [wjob] filename=/dev/sdb: jobs running together that name one file (/dev/sdb) with zonemode=zbd share its zones in fio"},
		// Trims are accepted (rw=randtrim, trim); the device's multi-range
		// trim command is not.
		{file: "uring-cmd-trim-multi-range.fio", bad: "testdata/fio/uring-cmd-trim-multi-range.fio:16: [write_bs] num_range=8: not supported"},
		// FUA writes are writes completed by a flush; FUA reads are reads.
		{file: "uring-cmd-bsg.fio", jobs: []jobCheck{
			{"rand-write", func(p *Plan) bool {
				qd, _ := p.JobQD()
				return p.Job().RW == RWRandWrite && qd == 32 && !p.Job().syncWrites()
			}},
			{"trimwrite", func(p *Plan) bool { return p.Job().RW == RWTrimWrite }},
			{"writefua", func(p *Plan) bool { return p.Job().WriteFUA && p.Job().syncWrites() && p.Job().RW == RWWrite }},
			{"readfua", func(p *Plan) bool { return p.Job().RW == RWRead && !p.Job().syncWrites() }},
			{"fsync", func(p *Plan) bool { return p.Job().Fsync == 1 }},
		}},
		// offset_increment is accepted (TestCrossStripeRegions), and so
		// is verifying backlogs with loops (TestRunVerifyBacklogLoops).
		{file: "cross-stripe-verify.fio", jobs: []jobCheck{{"write-verify", func(p *Plan) bool {
			j := p.Job()
			return j.Loops == 2 && j.VerifyBacklog == 1 && j.OffsetAdd == 112<<10 && j.IOSize == 120<<30 && j.NumJobs == 30
		}}}},
		{file: "waitfor.fio", bad: "testdata/fio/waitfor.fio:2: threads=1: unknown key (did you mean thread?)"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "fio", tt.file)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			jf, err := ParseJobFileWith(f, filepath.ToSlash(path), JobFileOptions{Open: func(p string) (io.ReadCloser, error) { return os.Open(p) }})
			if tt.bad != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.bad) {
					t.Fatalf("error %v, want one starting %q", err, tt.bad)
				}
				var ke *KeyError
				if !errors.As(err, &ke) || ke.File != filepath.ToSlash(path) || ke.Line == 0 {
					t.Errorf("error %v is not a *KeyError naming the file and line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if line := jf.IgnoredLine(); strings.Contains(line, "\n") {
				t.Errorf("ignored keys take more than one line: %q", line)
			}
			for _, jc := range tt.jobs {
				found := false
				for _, j := range jf.Jobs {
					if j.Name != jc.name {
						continue
					}
					found = true
					p, err := j.Plan()
					if err != nil {
						t.Fatal(err)
					}
					if !jc.ok(p) {
						t.Errorf("job %s: %+v", jc.name, p.Job())
					}
				}
				if !found {
					t.Errorf("no job %s", jc.name)
				}
			}
		})
	}
	// Every fixture is checked.
	entries, err := fs.Glob(os.DirFS("testdata/fio"), "*.fio")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !seen[e] {
			t.Errorf("testdata/fio/%s is not in the table", e)
		}
	}
}

// blocksOf returns the blocks the first stream of p reads, as text.
func blocksOf(p *Plan) string {
	var out []string
	for _, op := range drain(p.Streams(1)[0], 100) {
		out = append(out, FormatSize(op.Off/p.Job().BlockSize))
	}
	return strings.Join(out, " ")
}

// TestJobFileRenamed checks that jobs sharing a name, as fio allows, run
// under distinct names and that each renaming is reported where it is.
func TestJobFileRenamed(t *testing.T) {
	jf, err := ParseJobFileWith(strings.NewReader("[global]\nname=test\n[create]\nrw=randwrite\n[trim]\nrw=trim\n"), "s3.fio", JobFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jf.Jobs {
		names = append(names, j.Name+":"+string(j.RW))
	}
	if got, want := strings.Join(names, " "), "test:randwrite test-2:trim"; got != want {
		t.Errorf("jobs %s, want %s", got, want)
	}
	want := `s3.fio:2: the job of the section at line 5 is named "test", as is the job of the section at s3.fio:3: it runs as "test-2"`
	if len(jf.Renamed) != 1 || !strings.HasPrefix(jf.Renamed[0], want) {
		t.Errorf("Renamed = %q, want one line starting %q", jf.Renamed, want)
	}
}
