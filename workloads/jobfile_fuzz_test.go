package workloads

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParseJobFile checks any job file gets jobs or an error, never a
// panic, and that every job it accepts plans and streams:
// go test ./workloads -run '^$' -fuzz FuzzParseJobFile -fuzztime 60s
func FuzzParseJobFile(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fio", "*.fio"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b))
		}
	}
	for _, s := range []string{
		"[a]\nread_iolog=t.log\nreplay_skip=sync\n",
		"[a]\ninclude c.inc\nrw=randrw\nbssplit=4k/10:8k/,16k/100\nrate_iops=100\nthinktime=10\n",
		"[global]\nfilename=x\nnumjobs=3\n[a]\nrandom_distribution=zoned_abs:10/64k:90/1m\nrw=randread\nsize=2m\n",
		"[a]\nsize=50%\noffset=25%\nbsrange=1k-9k\nrw=write\nloops=2\n",
		"[a]\nrw=read:-12k\nsize=1m\nnrfiles=4\nfile_service_type=random:3\nopenfiles=2\n",
		"[a]\nrw=randrw:5\nrw_sequencer=identical\nsize=1m\nzonesize=64k\nzonerange=128k\nzoneskip=32k\nsync=1\n",
		"[a]\nrw=randwrite:3\nnrfiles=8\nfilesize=64k\nsize=256k\nio_size=256k\nloops=3\n",
		"[global]\nzonemode=zbd\nzonesize=64k\nfilename=x\nnumjobs=2\n[a]\nrw=randrw\nsize=4z\noffset=2z\nmax_open_zones=2\nzonecapacity=48k\nzone_reset_threshold=0.5\nzone_reset_frequency=0.25\n",
		"[a]\nzonemode=zbd\nzonesize=16k\nrw=write\nsize=100k\noffset=10k\njob_max_open_zones=1\nmax_open_zones=3\nruntime=1\ntime_based\n",
		"[global]\nexitall\nsize=1m\n[a]\nfilename=f\nflow=2\nflow_sleep=10\n[b]\nfilename=f\nwait_for=a\noffset=512k\nexit_what=stonewall\n[c]\nstonewall\nstartdelay=1\nnew_group\n",
	} {
		f.Add(s)
	}
	files := fstest.MapFS{
		"jobs/t.log": {Data: []byte(iologV3)},
		"jobs/c.inc": {Data: []byte("ioengine=psync\nsize=1m\n")},
	}
	f.Fuzz(func(t *testing.T, file string) {
		jf, err := parseFio(file, files, map[string]string{"SIZE": "1m"})
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an empty error")
			}
			return
		}
		for _, j := range jf.Jobs {
			p, err := j.Plan()
			if err != nil {
				t.Fatalf("job %s parsed but does not plan: %v", j.Name, err)
			}
			if p.CheckLimits() != nil || p.maxBS > 1<<20 || p.imageSize > 1<<30 {
				continue // too large to stream here
			}
			for _, s := range p.Streams(1) {
				for _, op := range drain(s, 200) {
					if op.Kind != OpFlush && (op.Len == 0 || op.Off+op.Len > p.imageSize) {
						t.Fatalf("job %s: op %v outside the %d-byte image", j.Name, op, p.imageSize)
					}
				}
			}
		}
		// The groups of jobs running together plan too, and keep their
		// jobs' requests in the group's image.
		groups, _ := Groups(jf.Jobs)
		for _, g := range groups {
			p, err := PlanGroup(g)
			if err != nil {
				t.Fatalf("group %s parsed but does not plan: %v", GroupName(g), err)
			}
			if p.CheckLimits() != nil || p.maxBS > 1<<20 || p.imageSize > 1<<30 {
				continue
			}
			for _, s := range p.Streams(1) {
				for _, op := range drain(s, 50) {
					if op.Kind != OpFlush && (op.Len == 0 || op.Off+op.Len > p.imageSize) {
						t.Fatalf("group %s: op %v outside the %d-byte image", p.Name(), op, p.imageSize)
					}
				}
			}
		}
	})
}

// FuzzReadIOLog checks any iolog is read or refused, never a panic:
// go test ./workloads -run '^$' -fuzz FuzzReadIOLog -fuzztime 60s
func FuzzReadIOLog(f *testing.F) {
	f.Add(iologV2)
	f.Add(iologV3)
	f.Add("fio version 2 iolog\nf wait 1000 0\nf trim 0 512\n")
	f.Fuzz(func(t *testing.T, log string) {
		l, err := ReadIOLog(strings.NewReader(log), "f.log")
		if err == nil && len(l.Entries) == 0 {
			t.Fatal("a log with no entries read without error")
		}
	})
}
