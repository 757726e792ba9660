package workloads

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		bad  bool
	}{
		{"4096", 4096, false},
		{"4k", 4096, false},
		{"4K", 4096, false},
		{"4KiB", 4096, false},
		{"4kb", 4096, false},
		{"64m", 64 << 20, false},
		{"1g", 1 << 30, false},
		{"2t", 2 << 40, false},
		{"0", 0, false},
		{"", 0, true},
		{"4x", 0, true},
		{"-4k", 0, true},
		{"1.5m", 0, true},
		{"99999999999999t", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{{0, "0"}, {1536, "1536"}, {4096, "4k"}, {64 << 20, "64m"}, {3 << 30, "3g"}, {1 << 40, "1t"}}
	for _, tt := range tests {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseSize(tt.want); err != nil || back != tt.in {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tt.in, back, err)
		}
	}
}

func TestParseDistribution(t *testing.T) {
	tests := []struct {
		in   string
		want Distribution
		bad  string
	}{
		{"random", Distribution{Kind: Uniform}, ""},
		{"uniform", Distribution{Kind: Uniform}, ""},
		{"zipf:1.2", Distribution{Kind: Zipf, Theta: 1.2}, ""},
		{"zipf:0.8", Distribution{Kind: Zipf, Theta: 0.8}, ""},
		{"zipf:1", Distribution{}, "not 1"},
		{"zipf:0", Distribution{}, "positive"},
		{"zipf:x", Distribution{}, "not a number"},
		{"zipf:NaN", Distribution{}, "not a number"},
		{"zipf", Distribution{Kind: Zipf, Theta: 1.1}, ""},
		{"zipf:1.2:0.25", Distribution{Kind: Zipf, Theta: 1.2, Center: 0.25, HasCenter: true}, ""},
		{"zipf:1.2:2", Distribution{}, "center"},
		{"pareto", Distribution{Kind: Pareto, Theta: 0.2}, ""},
		{"pareto:0.5", Distribution{Kind: Pareto, Theta: 0.5}, ""},
		{"pareto:1", Distribution{}, "(0, 1)"},
		{"normal", Distribution{Kind: Normal}, ""},
		{"gauss:20:0.3", Distribution{Kind: Normal, Theta: 20, Center: 0.3, HasCenter: true}, ""},
		{"normal:100", Distribution{}, "[0, 100)"},
		{"zoned:60/10:30/20:8/30:2/40", Distribution{Kind: Zoned, Spec: "60/10:30/20:8/30:2/40"}, ""},
		{"zoned:50/5:30/15:20/", Distribution{Kind: Zoned, Spec: "50/5:30/15:20/80"}, ""},
		{"zoned:50/5:30/15:10/", Distribution{}, "add up to 90, not 100"},
		{"zoned:50/60:50/60", Distribution{}, "more than 100%"},
		{"zoned:60/10,40/90", Distribution{}, "reads and writes"},
		{"zoned", Distribution{}, "needs zones"},
		{"zoned_abs:60/20m:40/1g", Distribution{Kind: ZonedAbs, Spec: "60/20m:40/1g"}, ""},
		{"zoned_abs:60/20m:40/", Distribution{}, "no size"},
		{"sequence:2,0,1", Distribution{Kind: Sequence, Spec: "2,0,1"}, ""},
		{"sequence:2,x", Distribution{}, "not a whole number"},
		{"random:1", Distribution{}, "no parameter"},
		{"nonsense", Distribution{}, "unknown distribution"},
	}
	for _, tt := range tests {
		got, err := ParseDistribution(tt.in)
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("ParseDistribution(%q) error %v, want one containing %q", tt.in, err, tt.bad)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDistribution(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := ParseDistribution(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v gives %v, %v", got, back, err)
		}
	}
}

func TestJobSet(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(j Job) bool
		bad        string // substring of the error, "" for success
	}{
		{"rw", "randwrite", func(j Job) bool { return j.RW == RWRandWrite }, ""},
		{"readwrite", "readwrite", func(j Job) bool { return j.RW == RWMixed }, ""},
		{"rw", "randrw", func(j Job) bool { return j.RW == RWRandMixed }, ""},
		{"rw", "read:-8k", func(j Job) bool { return j.RW == RWRead && j.OffsetAdd == -8<<10 }, ""},
		{"rw", "randread:8", func(j Job) bool { return j.RW == RWRandRead && j.RandomRun == 8 }, ""},
		{"rw", "randread:0", nil, "offset modifier"},
		{"sync", "1", func(j Job) bool { return j.SyncWrites }, ""},
		{"sync", "dsync", func(j Job) bool { return j.SyncWrites }, ""},
		{"sync", "none", func(j Job) bool { return !j.SyncWrites }, ""},
		{"sync", "maybe", nil, "want none (0), sync (1) or dsync"},
		{"rw", "trim", func(j Job) bool { return j.RW == RWTrim }, ""},
		{"rw", "randtrimwrite", func(j Job) bool { return j.RW == RWRandTrimWrite }, ""},
		{"bs", "4k,8k,16k", func(j Job) bool {
			return j.BlockSize == 4<<10 && j.WriteBlockSize == 8<<10 && j.TrimBlockSize == 16<<10
		}, ""},
		{"bs", "4k,8k", func(j Job) bool { return j.WriteBlockSize == 8<<10 && j.TrimBlockSize == 0 }, ""},
		{"bs", "8k,8k,", func(j Job) bool { return j.WriteBlockSize == 0 && j.TrimBlockSize == 4<<10 }, ""},
		{"bs", "4k,8k,1x", nil, "1x"},
		{"rw", "sideways", nil, "want one of"},
		{"bs", "4k,8k", func(j Job) bool { return j.BlockSize == 4<<10 && j.WriteBlockSize == 8<<10 }, ""},
		{"bs", "8k,8k,16k", func(j Job) bool { return j.BlockSize == 8<<10 && j.WriteBlockSize == 0 }, ""},
		{"bs", ",8k", func(j Job) bool { return j.BlockSize == 4<<10 && j.WriteBlockSize == 8<<10 }, ""},
		{"bs", "1,2,3,4", nil, "READ,WRITE"},
		{"size", "30%", func(j Job) bool { return j.SizePercent == 30 }, ""},
		{"size", "0%", nil, "[1, 100]"},
		{"offset", "50%", func(j Job) bool { return j.OffsetPercent == 50 }, ""},
		{"offset", "0%", func(j Job) bool { return j.Offset == 0 && j.OffsetPercent == 0 }, ""},
		{"timeout", "1m", func(j Job) bool { return j.Runtime == time.Minute }, ""},
		{"runtime", "2d", func(j Job) bool { return j.Runtime == 48*time.Hour }, ""},
		{"ramp_time", "10s", func(j Job) bool { return j.RampTime == 10*time.Second }, ""},
		{"thinktime", "2000", func(j Job) bool { return j.ThinkTime == 2*time.Millisecond }, ""},
		{"thinktime", "1msec", func(j Job) bool { return j.ThinkTime == time.Millisecond }, ""},
		{"rate", "1m,500k", func(j Job) bool { return j.Rate == RWPair{1 << 20, 500 << 10} }, ""},
		{"rate", ",500k", func(j Job) bool { return j.Rate == RWPair{0, 500 << 10} }, ""},
		{"rate_iops", "1000", func(j Job) bool { return j.RateIOPS == RWPair{1000, 1000} }, ""},
		{"rate_process", "poisson", func(j Job) bool { return j.RateProcess == RatePoisson }, ""},
		{"rate_process", "bursty", nil, "linear or poisson"},
		{"bssplit", "4k/10:64k/90", func(j Job) bool { return j.BSSplit == "4k/10:64k/90" }, ""},
		{"bssplit", "4k/50:1k/:32k/", func(j Job) bool { return j.BSSplit == "4k/50:1k/25:32k/25" }, ""},
		{"bssplit", "4k/10:64k/80", nil, "add up to 90, not 100"},
		{"bssplit", "4k/60:64k/60", nil, "more than 100"},
		{"bsrange", "4k-64k", func(j Job) bool { return j.BSRange == "4k-64k" }, ""},
		{"bsrange", "64k:4k", func(j Job) bool { return j.BSRange == "4k-64k" }, ""},
		{"bsrange", "4k", nil, "not a range"},
		{"ioengine", "libaio", func(j Job) bool { return j.IOEngine == "libaio" }, ""},
		{"ioengine", "cpuio", nil, "burns CPU"},
		{"ioengine", "warp", nil, "unknown I/O engine"},
		{"replay_skip", "trim,sync", func(j Job) bool { return j.ReplaySkip == SkipTrim|SkipSync }, ""},
		{"replay_skip", "everything", nil, "read, write, trim, sync"},
		{"read_iolog", "x.log", nil, "in a job file"},
		{"zonemode", "zbd", func(j Job) bool { return j.ZoneMode == ZoneZBD }, ""},
		{"zonemode", "zoned", nil, "want none, strided or zbd"},
		{"size", "8z", func(j Job) bool { return j.SizeZones == 8 && j.Size == 0 }, ""},
		{"offset", "524z", func(j Job) bool { return j.OffsetZones == 524 && j.Offset == 0 }, ""},
		{"io_size", "z", nil, "a count of zones"},
		{"zone_reset_threshold", "1.5", nil, "a fraction in [0, 1]"},
		{"zone_reset_frequency", "0.125", func(j Job) bool { return j.ZoneResetFrequency == 0.125 }, ""},
		// filename is a job key now that jobs naming one file share it.
		{"filesize", "1m", nil, "a job file accepts"},
		{"filename", "/dev/sda", func(j Job) bool { return j.Group.Filename == "/dev/sda" }, ""},
		{"stonewall", "1", func(j Job) bool { return j.Group.Stonewall }, ""},
		{"flow", "8", func(j Job) bool { return j.Group.Flow == 8 }, ""},
		{"flow_sleep", "1000", func(j Job) bool { return j.Group.FlowSleep == time.Millisecond }, ""},
		{"bs", "16k", func(j Job) bool { return j.BlockSize == 16<<10 }, ""},
		{"blocksize", "8k", func(j Job) bool { return j.BlockSize == 8<<10 }, ""},
		{"number_ios", "123", func(j Job) bool { return j.Ops == 123 }, ""},
		{"ops", "-1", nil, "not a whole number"},
		{"runtime", "10", func(j Job) bool { return j.Runtime == 10*time.Second }, ""},
		{"runtime", "500ms", func(j Job) bool { return j.Runtime == 500*time.Millisecond }, ""},
		{"runtime", "soon", nil, "not a duration"},
		{"rwmixread", "70", func(j Job) bool { return j.RWMixRead == 70 }, ""},
		{"rwmixwrite", "30", func(j Job) bool { return j.RWMixRead == 70 }, ""},
		{"rwmixread", "101", nil, "[0, 100]"},
		{"random_distribution", "zipf:1.1", func(j Job) bool { return j.Distribution == Distribution{Kind: Zipf, Theta: 1.1} }, ""},
		{"norandommap", "", func(j Job) bool { return j.NoRandomMap }, ""},
		{"norandommap", "maybe", nil, "not a boolean"},
		{"pattern", "first-touch", func(j Job) bool { return j.Pattern == FirstTouch }, ""},
		{"pattern", "hot", nil, "want one of"},
		{"cluster_size", "4k", func(j Job) bool { return j.ClusterSize == 4096 }, ""},
		{"table_size", "1", func(j Job) bool { return j.TableSize == 1 }, ""},
		{"backing", "1", func(j Job) bool { return j.Backing }, ""},
		{"reopen_every", "100", func(j Job) bool { return j.ReopenEvery == 100 }, ""},
		{"reopen_every", "0", func(j Job) bool { return j.ReopenEvery == 0 }, ""},
		{"reopen_every", "-1", nil, "must not be negative"},
		{"reopen_every", "often", nil, "not a whole number"},
		{"reopen_every", "1.5", nil, "not a whole number"},
		{"iodepth", "many", nil, "not a whole number"},
		{"rwmixred", "4", nil, "did you mean rwmixread?"},
		{"colour", "red", nil, "unknown key"},
	}
	for _, tt := range tests {
		j := DefaultJob()
		j.Name = "t"
		err := j.Set(tt.key, tt.value)
		if tt.bad != "" {
			var ke *KeyError
			if err == nil || !strings.Contains(err.Error(), tt.bad) || !errors.As(err, &ke) {
				t.Errorf("Set(%q, %q) error %v, want a *KeyError containing %q", tt.key, tt.value, err, tt.bad)
			}
			continue
		}
		if err != nil || !tt.check(j) {
			t.Errorf("Set(%q, %q): %v; job %+v", tt.key, tt.value, err, j)
		}
	}
}

func TestJobStringRoundTrip(t *testing.T) {
	for _, set := range []map[string]string{
		{"rw": "randrw", "bs": "8k", "random_distribution": "zipf:1.3",
			"runtime": "1.5s", "backing": "1", "fsync": "4", "rwmixread": "30", "reopen_every": "250"},
		{"rw": "randread:8", "rw_sequencer": "identical", "nrfiles": "4", "openfiles": "2", "file_service_type": "random:2", "sync": "1"},
		{"rw": "read:-8k"},
		{"rw": "randwrite", "zonemode": "strided", "zonesize": "1m", "zonerange": "2m", "zoneskip": "4m", "size": "16m"},
	} {
		roundTrip(t, set)
	}
}

// roundTrip checks a job with set reads back from its String as it is.
func roundTrip(t *testing.T, set map[string]string) {
	t.Helper()
	j := DefaultJob()
	j.Name = "round"
	for k, v := range set {
		if err := j.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := ParseJobFile(strings.NewReader(j.String()), "round.fio")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0] != j {
		t.Errorf("round trip of\n%s gives %+v, want %+v", j.String(), jobs, j)
	}
}

// TestPlanErrors checks that every impossible job is refused with an error
// naming the key to change.
func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		key  string
		msg  string
	}{
		{"bs not sectors", map[string]string{"bs": "1000"}, "bs", "multiple of 512"},
		{"bs zero", map[string]string{"bs": "0"}, "bs", "multiple of 512"},
		{"iodepth too deep", map[string]string{"iodepth": "70000"}, "iodepth", "[0, "},
		{"numjobs zero", map[string]string{"numjobs": "0"}, "numjobs", "[1, "},
		{"size below bs", map[string]string{"size": "2k"}, "size", "smaller than bs"},
		{"offset unaligned", map[string]string{"offset": "100"}, "offset", "multiple of 512"},
		{"cluster size", map[string]string{"cluster_size": "3k"}, "cluster_size", "power of two"},
		{"table size", map[string]string{"table_size": "3"}, "table_size", "power of two"},
		{"image too small", map[string]string{"image_size": "1m"}, "image_size", "smaller than the end"},
		{"image too large", map[string]string{"cluster_size": "4k", "table_size": "1", "image_size": "1t"}, "image_size", "exceeds the maximum"},
		{"zipf sequential", map[string]string{"rw": "write", "random_distribution": "zipf:1.2"}, "random_distribution", "random offsets"},
		{"first-touch reads", map[string]string{"pattern": "first-touch", "rw": "randrw"}, "pattern", "rw=write or rw=randwrite"},
		{"first-touch prefill", map[string]string{"pattern": "first-touch", "rw": "write", "prefill": "1"}, "prefill", "none fresh"},
		{"first-touch size", map[string]string{"pattern": "first-touch", "rw": "write", "size": "100k"}, "size", "multiple of cluster_size"},
		{"first-touch offset", map[string]string{"pattern": "first-touch", "rw": "write", "offset": "4k"}, "offset", "aligned to cluster_size"},
		{"first-touch ops", map[string]string{"pattern": "first-touch", "rw": "randwrite", "size": "1m", "ops": "17"}, "ops", "exceeds the 16 writes"},
		{"first-touch bs", map[string]string{"pattern": "first-touch", "rw": "write", "size": "64k", "bs": "128k"}, "size", "smaller than bs"},
		{"same-cluster bs", map[string]string{"pattern": "same-cluster", "rw": "write", "bs": "64k"}, "bs", "divide cluster_size"},
		{"same-cluster bs divides", map[string]string{"pattern": "same-cluster", "rw": "write", "bs": "24k"}, "bs", "divide cluster_size"},
		{"zipf too many blocks", map[string]string{"rw": "randread", "random_distribution": "zipf:1.2", "bs": "512", "size": "4g"}, "random_distribution", "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := DefaultJob()
			j.Name = "bad"
			for k, v := range tt.set {
				if err := j.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			_, err := j.Plan()
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("Plan() = %v, want a *KeyError", err)
			}
			if ke.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Plan() = %q (key %s), want key %s and a message containing %q", err, ke.Key, tt.key, tt.msg)
			}
		})
	}
}

func TestPlanDefaults(t *testing.T) {
	tests := []struct {
		name      string
		set       map[string]string
		ops       uint64
		imageSize uint64
		prefill   bool
	}{
		{"one pass", map[string]string{"size": "1m"}, 256, 1 << 20, false},
		{"runtime cuts a pass short", map[string]string{"size": "1m", "runtime": "1"}, 256, 1 << 20, false},
		{"time_based unbounded", map[string]string{"size": "1m", "runtime": "1", "time_based": "1"}, 0, 1 << 20, false},
		{"time_based without runtime", map[string]string{"size": "1m", "time_based": "1"}, 256, 1 << 20, false},
		{"loops", map[string]string{"size": "1m", "loops": "3"}, 768, 1 << 20, false},
		{"io_size", map[string]string{"size": "1m", "io_size": "3m"}, 768, 1 << 20, false},
		{"size percent", map[string]string{"size": "25%"}, 4096, 64 << 20, false},
		{"size percent of image", map[string]string{"size": "50%", "offset": "25%", "image_size": "8m"}, 1024, 8 << 20, false},
		{"first-touch units", map[string]string{"pattern": "first-touch", "rw": "write", "size": "1m"}, 16, 1 << 20, false},
		{"first-touch big bs", map[string]string{"pattern": "first-touch", "rw": "write", "size": "1m", "bs": "96k"}, 8, 1 << 20, false},
		{"same-cluster slots", map[string]string{"pattern": "same-cluster", "rw": "write", "size": "1m"}, 256, 1 << 20, false},
		{"rewrite prefills", map[string]string{"pattern": "rewrite", "rw": "randwrite", "size": "1m"}, 256, 1 << 20, true},
		{"numjobs regions", map[string]string{"size": "1m", "numjobs": "3", "offset": "64k"}, 256, 3<<20 + 64<<10, false},
		{"explicit image", map[string]string{"size": "1m", "image_size": "1g"}, 256, 1 << 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := DefaultJob()
			for k, v := range tt.set {
				if err := j.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			p, err := j.Plan()
			if err != nil {
				t.Fatal(err)
			}
			if p.OpsPerJob() != tt.ops || p.ImageSize() != tt.imageSize || p.Job().Prefill != tt.prefill {
				t.Errorf("ops %d, image %d, prefill %v; want %d, %d, %v", p.OpsPerJob(), p.ImageSize(), p.Job().Prefill, tt.ops, tt.imageSize, tt.prefill)
			}
		})
	}
}

func TestKeysDocumented(t *testing.T) {
	d := DefaultJob()
	for _, k := range Keys() {
		if k.Help == "" {
			t.Errorf("key %s has no help", k.Name)
		}
		if v, err := d.Get(k.Name); err != nil || v != k.Default {
			t.Errorf("Get(%s) = %q, %v; Keys says default %q", k.Name, v, err, k.Default)
		}
	}
}

// TestKeyErrorPrintable checks a key or value that would not print (a
// control character, invalid UTF-8) is quoted in the error, which stays
// one line.
func TestKeyErrorPrintable(t *testing.T) {
	for _, tt := range []struct{ key, value, want string }{
		{"bs", "4q", "bs=4q: "},
		{"bs", "4\nq", `bs="4\nq": `},
		{"rw", "\x1b[2J", `rw="\x1b[2J": `},
		{"b\xffs", "1", `"b\xffs"=1: `},
	} {
		j := DefaultJob()
		err := j.Set(tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.ContainsAny(err.Error(), "\n\x1b") {
			t.Errorf("Set(%q, %q): %q, want one line containing %q", tt.key, tt.value, err, tt.want)
		}
	}
}

// TestSetRangeAndTinyDurations checks numbers out of range say so, and a
// runtime too small to count is refused rather than read as no limit.
func TestSetRangeAndTinyDurations(t *testing.T) {
	for _, tt := range []struct{ key, value, want string }{
		{"iodepth", "99999999999999999999", "is out of range"},
		{"ops", "99999999999999999999", "is out of range"},
		{"runtime", "1e-12", "less than 1ns"},
		{"runtime", "0.1ns", "less than 1ns"},
		{"runtime", "NaN", "not a duration in range"},
		{"runtime", "Inf", "not a duration in range"},
		{"runtime", "-1", "not a duration in range"},
	} {
		j := DefaultJob()
		if err := j.Set(tt.key, tt.value); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Set(%s=%s): %v, want an error containing %q", tt.key, tt.value, err, tt.want)
		}
	}
	for _, v := range []string{"0", "0s", "1ns", "0.5"} {
		j := DefaultJob()
		if err := j.Set("runtime", v); err != nil {
			t.Errorf("runtime=%s: %v", v, err)
		}
	}
}
