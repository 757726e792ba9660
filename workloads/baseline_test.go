package workloads

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/results"
)

// needQemuImg returns qemu-img's path, skipping the test when it is not
// installed unless QED_REQUIRE_QEMU is set, as impl's QEMU tests do.
func needQemuImg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("QED_REQUIRE_QEMU") != "" {
			t.Fatalf("qemu-img not found and QED_REQUIRE_QEMU is set: %v", err)
		}
		t.Skip("skipping: qemu-img is not installed (Debian package qemu-utils)")
	}
	return path
}

// TestBaselineNames checks every baseline is named once, is a baseline,
// and that only results.BaselineRaw runs outside qemu-img bench.
func TestBaselineNames(t *testing.T) {
	names := results.BaselineNames()
	want := []string{results.BaselineQED, results.BaselineQcow2, results.BaselineQcow2Falloc, results.BaselineQcow2Subcluster, results.BaselineRawQemuImg, results.BaselineRaw}
	if !slices.Equal(names, want) {
		t.Errorf("BaselineNames() = %q, want %q", names, want)
	}
	for _, n := range names {
		if !results.IsBaseline(n) {
			t.Errorf("IsBaseline(%q) = false", n)
		}
		if viaQemuImg(n) != (n != results.BaselineRaw) {
			t.Errorf("viaQemuImg(%q) = %v", n, viaQemuImg(n))
		}
	}
	for _, n := range []string{"", "overlap", "qemu-qcow2-", "RAW"} {
		if results.IsBaseline(n) {
			t.Errorf("IsBaseline(%q) = true", n)
		}
	}
}

// TestBenchArgs checks the qemu-img bench arguments and note for a plan,
// and what qemu-img bench refuses.
func TestBenchArgs(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		qd   int
		args string   // joined with spaces
		note []string // substrings of the note; nil: the note is empty
		err  string
	}{
		{"first-touch random", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m"}, 32,
			"bench -c 16 -d 32 -s 4096 -S 65536 -o 0 -w",
			[]string{"through qemu-img bench (qemu-qed, qemu-qcow2, qemu-qcow2-falloc, qemu-qcow2-subcluster, raw-qemu-img) in sequential order at a stride of 64k",
				"cannot issue random offsets", "raw runs the workload's own order", "qemu-qcow2-subcluster with 128k clusters (extended_l2=on) by definition, not the job's 64k"}, ""},
		{"first-touch 4k clusters", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "cluster_size": "4k", "ops": "10"}, 1,
			"bench -c 10 -d 1 -s 4096 -S 4096 -o 0 -w", []string{"stride of 4k", "not the job's 4k"}, ""},
		{"rewrite backing fsync", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "1m", "ops": "16", "backing": "1", "fsync": "4"}, 4,
			"bench -c 16 -d 4 -s 4096 -S 4096 -o 0 -w --flush-interval=4",
			[]string{"stride of 4k", "qemu-qcow2-falloc, raw-qemu-img and raw without the backing file"}, ""},
		{"sequential read at an offset", map[string]string{"rw": "read", "size": "1m", "offset": "64k", "bs": "64k"}, 2,
			"bench -c 16 -d 2 -s 65536 -S 65536 -o 65536", []string{"qemu-qcow2-subcluster with 128k clusters"}, ""},
		{"128k clusters, sequential", map[string]string{"rw": "write", "size": "1m", "cluster_size": "128k"}, 1,
			"bench -c 256 -d 1 -s 4096 -S 4096 -o 0 -w", nil, ""},
		{"numjobs", map[string]string{"rw": "write", "size": "1m", "numjobs": "2"}, 1, "", nil, "single stream"},
		{"mixed", map[string]string{"rw": "randrw", "size": "1m"}, 1, "", nil, "cannot mix reads and writes"},
		{"zipf", map[string]string{"rw": "randread", "size": "1m", "random_distribution": "zipf:1.1"}, 1, "", nil, "no skewed distribution"},
		{"runtime", map[string]string{"rw": "read", "size": "1m", "runtime": "1", "time_based": "1"}, 1, "", nil, "needs an op count"},
		{"reopen", map[string]string{"rw": "write", "size": "1m", "reopen_every": "4"}, 1, "", nil, "cannot reopen"},
		{"sync", map[string]string{"rw": "write", "size": "1m", "sync": "1"}, 1, "", nil, "durable before it completes"},
		{"offset modifier", map[string]string{"rw": "write:4k", "size": "1m"}, 1, "", nil, "no offset modifier"},
		{"nrfiles", map[string]string{"rw": "write", "size": "1m", "nrfiles": "2"}, 1, "", nil, "one stream over one region"},
		{"strided zones", map[string]string{"rw": "write", "size": "1m", "zonesize": "64k", "zoneskip": "64k"}, 1, "", nil, "no strided zones"},
		{"zbd zones", map[string]string{"rw": "randwrite", "size": "1m", "zonemode": "zbd", "zonesize": "64k"}, 1, "", nil, "no zoned-device mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, note, err := BenchArgs(mustPlan(t, "job", tt.set), tt.qd)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.args {
				t.Errorf("args\n%s\nwant\n%s", got, tt.args)
			}
			if tt.note == nil && note != "" {
				t.Errorf("note %q, want none", note)
			}
			for _, s := range tt.note {
				if !strings.Contains(note, s) {
					t.Errorf("note %q lacks %q", note, s)
				}
			}
		})
	}
}

// TestCreateArgs checks how each qemu-img baseline's image is made: the
// job's cluster size but for the subcluster qcow2's 128k, and the job's
// backing file but for the preallocated ones.
func TestCreateArgs(t *testing.T) {
	plain := mustPlan(t, "job", map[string]string{"rw": "write", "size": "1m", "cluster_size": "4k", "table_size": "8"})
	backed := mustPlan(t, "job", map[string]string{"rw": "write", "size": "1m", "backing": "1"})
	tests := []struct {
		base    string
		p       *Plan
		args    string
		format  string
		cs      uint64
		backing bool
	}{
		{results.BaselineQED, plain, "create -q -f qed -o cluster_size=4096,table_size=8", "qed", 4096, false},
		{results.BaselineQED, backed, "create -q -f qed -o cluster_size=65536,table_size=4", "qed", 65536, true},
		{results.BaselineQcow2, plain, "create -q -f qcow2 -o cluster_size=4096", "qcow2", 4096, false},
		{results.BaselineQcow2, backed, "create -q -f qcow2 -o cluster_size=65536", "qcow2", 65536, true},
		{results.BaselineQcow2Falloc, plain, "create -q -f qcow2 -o cluster_size=4096,preallocation=falloc", "qcow2", 4096, false},
		{results.BaselineQcow2Falloc, backed, "create -q -f qcow2 -o cluster_size=65536,preallocation=falloc", "qcow2", 65536, false},
		{results.BaselineQcow2Subcluster, plain, "create -q -f qcow2 -o extended_l2=on,cluster_size=131072", "qcow2", 128 << 10, false},
		{results.BaselineQcow2Subcluster, backed, "create -q -f qcow2 -o extended_l2=on,cluster_size=131072", "qcow2", 128 << 10, true},
		{results.BaselineRawQemuImg, plain, "create -q -f raw -o preallocation=falloc", "raw", 4096, false},
		{results.BaselineRawQemuImg, backed, "create -q -f raw -o preallocation=falloc", "raw", 65536, false},
	}
	for _, tt := range tests {
		t.Run(tt.base+"/backing="+formatBool(tt.p.job.Backing), func(t *testing.T) {
			args, format, cs, backing, err := createArgs(tt.base, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.args || format != tt.format || cs != tt.cs || backing != tt.backing {
				t.Errorf("createArgs = %q, %s, %d, %v; want %q, %s, %d, %v", got, format, cs, backing, tt.args, tt.format, tt.cs, tt.backing)
			}
		})
	}
	for _, name := range []string{results.BaselineRaw, "qemu-vmdk"} {
		if _, _, _, _, err := createArgs(name, plain); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("createArgs(%q): error %v, want one naming it", name, err)
		}
	}
}

// TestCreatedImages makes each qemu-img baseline's image with qemu-img
// and checks with qemu-img info that it is what the baseline says.
func TestCreatedImages(t *testing.T) {
	bin := needQemuImg(t)
	p := mustPlan(t, "job", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "backing": "1"})
	type info struct {
		Format         string `json:"format"`
		ClusterSize    uint64 `json:"cluster-size"`
		BackingFile    string `json:"backing-filename"`
		ActualSize     uint64 `json:"actual-size"`
		FormatSpecific struct {
			Data struct {
				ExtendedL2 bool `json:"extended-l2"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	for _, base := range benchBaselines() {
		t.Run(base, func(t *testing.T) {
			dir := t.TempDir()
			create, format, cs, backing, err := createArgs(base, p)
			if err != nil {
				t.Fatal(err)
			}
			if backing {
				if err := writeBackingFile(filepath.Join(dir, backingName), p.imageSize); err != nil {
					t.Fatal(err)
				}
				create = append(create, "-b", backingName, "-F", "raw")
			}
			img := filepath.Join(dir, "baseline.img")
			if err := qemuImg(bin, append(create, img, "1m")...); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "info", "--output=json", img).Output()
			if err != nil {
				t.Fatal(err)
			}
			var got info
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Format != format || (format != "raw" && got.ClusterSize != cs) || (got.BackingFile != "") != backing {
				t.Errorf("format %s, cluster size %d, backing %q; want %s, %d, backing %v", got.Format, got.ClusterSize, got.BackingFile, format, cs, backing)
			}
			if got.FormatSpecific.Data.ExtendedL2 != (base == results.BaselineQcow2Subcluster) {
				t.Errorf("extended-l2 %v", got.FormatSpecific.Data.ExtendedL2)
			}
			if prealloc := base == results.BaselineQcow2Falloc || base == results.BaselineRawQemuImg; prealloc && got.ActualSize < 1<<20 {
				t.Errorf("%d bytes allocated, want the whole 1m preallocated", got.ActualSize)
			}
		})
	}
}

// TestBaselineNote checks what each baseline's note says about a random
// first-touch job over a backing file, and that a sequential job's note
// leaves the order out.
func TestBaselineNote(t *testing.T) {
	random := mustPlan(t, "job", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "backing": "1"})
	seq := mustPlan(t, "job", map[string]string{"rw": "write", "size": "1m"})
	const order = "sequential order at a stride of 64k, not the workload's random order: qemu-img bench cannot issue random offsets"
	tests := []struct {
		base       string
		p          *Plan
		want, omit []string
	}{
		{results.BaselineQED, random, []string{order}, []string{"backing"}},
		{results.BaselineQED, seq, nil, nil},
		{results.BaselineQcow2, random, []string{order}, []string{"backing"}},
		{results.BaselineQcow2Falloc, random, []string{order, "preallocation=falloc", "no backing file: qcow2 refuses preallocation"}, nil},
		{results.BaselineQcow2Falloc, seq, []string{"no write allocates"}, []string{"order", "backing"}},
		{results.BaselineQcow2Subcluster, random, []string{order, "128k clusters (extended_l2=on) by definition, not the job's 64k"}, []string{"backing"}},
		{results.BaselineQcow2Subcluster, seq, []string{"128k clusters"}, []string{"order"}},
		{results.BaselineRawQemuImg, random, []string{order, "no backing file"}, nil},
		{results.BaselineRaw, random, []string{"the workload's own operations in its order", "no backing file"}, []string{"sequential", "qemu-img"}},
		{results.BaselineRaw, seq, []string{"own operations"}, []string{"backing"}},
	}
	for _, tt := range tests {
		note := BaselineNote(tt.base, tt.p)
		if tt.want == nil && note != "" {
			t.Errorf("%s on %s: note %q, want none", tt.base, tt.p.job.RW, note)
		}
		for _, s := range tt.want {
			if !strings.Contains(note, s) {
				t.Errorf("%s on %s: note %q lacks %q", tt.base, tt.p.job.RW, note, s)
			}
		}
		for _, s := range tt.omit {
			if strings.Contains(note, s) {
				t.Errorf("%s on %s: note %q says %q", tt.base, tt.p.job.RW, note, s)
			}
		}
	}
}

// TestCheckBaseline checks results.BaselineRaw runs what the runner runs, where
// the qemu-img bench baselines refuse what qemu-img bench cannot express.
func TestCheckBaseline(t *testing.T) {
	mixed := mustPlan(t, "job", map[string]string{"rw": "randrw", "size": "1m", "numjobs": "2", "runtime": "1"})
	plain := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m"})
	synced := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "sync": "1"})
	files := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "nrfiles": "4", "openfiles": "2"})
	fua := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "writefua": "1"})
	steady := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "ss": "iops:1%", "ss_dur": "2s"})
	backlog := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "verify_backlog": "4"})
	batched := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "iodepth_low": "2"})
	latTarget := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "latency_target": "1ms"})
	tests := []struct {
		base string
		p    *Plan
		qd   int
		err  string
	}{
		{results.BaselineRaw, mixed, 4, ""},
		{results.BaselineRaw, plain, MaxQD + 1, "queue depth"},
		{results.BaselineRaw, synced, 1, "durable before it completes"},
		{results.BaselineRaw, files, 1, ""},
		{results.BaselineRaw, fua, 1, "durable before it completes"},
		{results.BaselineRaw, steady, 1, "steady state"},
		{results.BaselineQcow2Subcluster, steady, 1, "steady state"},
		{results.BaselineRaw, backlog, 1, "verify_backlog"},
		{results.BaselineQcow2Subcluster, backlog, 1, "verify_backlog"},
		{results.BaselineRaw, latTarget, 4, "latency_target"},
		{results.BaselineQcow2Subcluster, latTarget, 4, "latency_target"},
		{results.BaselineRaw, batched, 4, "batching"},
		{results.BaselineRaw, batched, 1, ""},
		{results.BaselineQcow2Subcluster, batched, 4, "batching"},
		{results.BaselineRaw, files, 2, "openfiles=2"},
		{results.BaselineQcow2Falloc, mixed, 4, "single stream"},
		{results.BaselineQcow2Subcluster, plain, 4, ""},
		{"qemu-vmdk", plain, 4, `unknown baseline "qemu-vmdk"`},
	}
	for _, tt := range tests {
		err := CheckBaseline(tt.base, tt.p, tt.qd)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("CheckBaseline(%s, %s, %d) = %v, want %q", tt.base, tt.p.job.RW, tt.qd, err, tt.err)
		}
	}
}

// TestParseBenchTime reads qemu-img bench's time and refuses output
// without one.
func TestParseBenchTime(t *testing.T) {
	tests := []struct {
		out  string
		want float64
		err  bool
	}{
		{"Sending 100 write requests, 4096 bytes each, 4 in parallel (starting at offset 0, step size 65536)\nRun completed in 0.003 seconds.\n", 0.003, false},
		{"Run completed in 12.5 seconds.", 12.5, false},
		{"qemu-img: Could not open 'x'", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBenchTime([]byte(tt.out))
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("parseBenchTime(%q) = %v, %v; want %v, error %v", tt.out, got, err, tt.want, tt.err)
		}
	}
}

// TestRunBaselines runs every qemu-img bench baseline on small jobs of
// each kind it handles: random first-touch, a prefilled rewrite over a
// backing file with flushes, a sequential read, 4 KiB clusters.
func TestRunBaselines(t *testing.T) {
	bin := needQemuImg(t)
	jobs := []struct {
		name string
		set  map[string]string
	}{
		{"first-touch", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "ops": "8"}},
		{"rewrite-backing", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "1m", "ops": "16", "backing": "1", "fsync": "4"}},
		{"read", map[string]string{"rw": "read", "size": "256k"}},
		{"first-touch-4k", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "256k", "cluster_size": "4k", "ops": "16"}},
	}
	for _, base := range benchBaselines() {
		for _, j := range jobs {
			t.Run(base+"/"+j.name, func(t *testing.T) {
				p := mustPlan(t, j.name, j.set)
				res, err := RunBaseline(BaselineConfig{QemuImg: bin, Baseline: base, Plan: p, QD: 4, Dir: t.TempDir(), AIO: "threads"})
				if err != nil {
					t.Fatal(err)
				}
				ops := p.OpsPerJob()
				wantW, wantR := ops, uint64(0)
				if !p.job.RW.Writes() {
					wantW, wantR = 0, ops
				}
				if res.Ops != ops || res.Bytes != ops*p.job.BlockSize || res.Writes != wantW || res.Reads != wantR || res.Nanos < 0 {
					t.Errorf("result %d ops (%d writes, %d reads), %d bytes, %d ns; want %d ops (%d, %d), %d bytes",
						res.Ops, res.Writes, res.Reads, res.Bytes, res.Nanos, ops, wantW, wantR, ops*p.job.BlockSize)
				}
			})
		}
	}
}

// submitted is what TestRawBaseline's hook saw.
type submitted struct {
	ops   []Op
	maxIn int
}

// TestRawBaseline runs results.BaselineRaw and checks it submits exactly the
// plan's op stream for the seed, in its order (each instance's, with
// several), with qd requests in flight per instance, and times it on the
// clock given: one tick per submission and per completion.
func TestRawBaseline(t *testing.T) {
	type mode struct {
		name   string
		aio    string
		direct bool
	}
	modes := []mode{{"threads", "threads", false}, {"threads-direct", "threads", true}}
	if file.IOUringAvailable() == nil {
		modes = append(modes, mode{"io_uring", "io_uring", false}, mode{"io_uring-direct", "io_uring", true})
	}
	jobs := []struct {
		name string
		set  map[string]string
		qd   int
	}{
		{"first-touch", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "2m", "ops": "24"}, 8},
		{"first-touch-qd1", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m"}, 1},
		{"rewrite-fsync", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "1m", "ops": "40", "fsync": "8"}, 4},
		{"mixed-zipf-2-jobs", map[string]string{"rw": "randrw", "size": "1m", "ops": "30", "numjobs": "2", "random_distribution": "zipf:1.1"}, 4},
		{"read-backing", map[string]string{"rw": "randread", "size": "512k", "backing": "1", "bs": "8k"}, 16},
	}
	const tick = 1000
	for _, m := range modes {
		for _, j := range jobs {
			t.Run(m.name+"/"+j.name, func(t *testing.T) {
				p := mustPlan(t, j.name, j.set)
				const seed = 7
				var got submitted
				var ticks int64
				cfg := BaselineConfig{Baseline: results.BaselineRaw, Plan: p, QD: j.qd, Seed: seed, Dir: t.TempDir(), Direct: m.direct, AIO: m.aio,
					Clock: func() int64 { ticks++; return (ticks - 1) * tick },
					onSubmit: func(op Op, in int) {
						got.ops = append(got.ops, op)
						got.maxIn = max(got.maxIn, in)
					}}
				res, err := RunBaseline(cfg)
				if m.direct && err != nil && strings.Contains(err.Error(), "refuses O_DIRECT") {
					t.Skipf("skipping: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				// Each instance's ops, in its order, are its stream's
				// (with one instance, flushes included; with several, a
				// flush cannot be told apart, so reads and writes).
				var all []Op
				for i, s := range p.Streams(seed) {
					var want []Op
					for op, ok := s.Next(); ok; op, ok = s.Next() {
						want = append(want, op)
					}
					all = append(all, want...)
					off, size := p.Region(i)
					var mine []Op
					for _, op := range got.ops {
						if op.Kind == OpFlush || (op.Off >= off && op.Off < off+size) {
							mine = append(mine, op)
						}
					}
					if p.job.NumJobs == 1 && !slices.Equal(mine, want) {
						t.Errorf("instance %d submitted\n%v\nwant\n%v", i, mine, want)
					}
					if p.job.NumJobs > 1 && !slices.Equal(slices.DeleteFunc(mine, func(o Op) bool { return o.Kind == OpFlush }), want) {
						t.Errorf("instance %d submitted\n%v\nwant\n%v", i, mine, want)
					}
				}
				if len(got.ops) != len(all) {
					t.Errorf("%d ops submitted, want %d", len(got.ops), len(all))
				}
				if slots := j.qd * p.job.NumJobs; got.maxIn != min(slots, len(all)) {
					t.Errorf("at most %d in flight, want %d", got.maxIn, min(slots, len(all)))
				}
				var w Result
				for _, op := range all {
					w.Ops++
					switch op.Kind {
					case OpRead:
						w.Reads++
						w.Bytes += op.Len
					case OpWrite:
						w.Writes++
						w.Bytes += op.Len
						w.DataBytes += op.Len
					case OpFlush:
						w.Flushes++
					}
				}
				if res.Ops != w.Ops || res.Reads != w.Reads || res.Writes != w.Writes || res.Flushes != w.Flushes ||
					res.Bytes != w.Bytes || res.DataBytes != w.DataBytes || res.MetaBytes != 0 || res.HostIOs != w.Ops {
					t.Errorf("result %+v, want counts of %+v", res, w)
				}
				// The clock is read once at the start and once per
				// submission and per completion; the last completion is
				// the last reading.
				if want := int64(2*w.Ops) * tick; res.Nanos != want || res.IOWallNanos != want {
					t.Errorf("%d ns (%d of I/O), want %d", res.Nanos, res.IOWallNanos, want)
				}
				if res.LatP50 <= 0 || res.LatMax > res.Nanos || res.AchievedQD <= 0 {
					t.Errorf("latencies p50 %d max %d, achieved qd %v", res.LatP50, res.LatMax, res.AchievedQD)
				}
			})
		}
	}
}

// TestRawBaselineRuntime checks a runtime-limited job stops once its
// clock passes the runtime.
func TestRawBaselineRuntime(t *testing.T) {
	p := mustPlan(t, "job", map[string]string{"rw": "randwrite", "size": "1m", "runtime": "1ms"})
	var ticks int64
	res, err := RunBaseline(BaselineConfig{Baseline: results.BaselineRaw, Plan: p, QD: 4, Dir: t.TempDir(),
		Clock: func() int64 { ticks++; return ticks * 1000 }})
	if err != nil {
		t.Fatal(err)
	}
	// Each op reads the clock three times (the deadline, the submission,
	// the completion): 1ms of 1µs ticks is about 333 ops.
	if res.Ops == 0 || res.Ops > 340 || res.Nanos > 1e6+4*3000 {
		t.Errorf("%d ops in %d ns, want about 333 in 1ms", res.Ops, res.Nanos)
	}
}

// TestRawBaselineErrors checks results.BaselineRaw's failures name the baseline
// and the cause, and that it needs no qemu-img.
func TestRawBaselineErrors(t *testing.T) {
	p := mustPlan(t, "job", map[string]string{"rw": "write", "size": "256k"})
	tests := []struct {
		name string
		cfg  BaselineConfig
		want string
	}{
		{"aio", BaselineConfig{Plan: p, AIO: "native"}, `unknown aio mode "native"`},
		{"qd", BaselineConfig{Plan: p, QD: MaxQD + 1}, "queue depth"},
		{"dir", BaselineConfig{Plan: p, Dir: filepath.Join(t.TempDir(), "none")}, "none"},
		{"no plan", BaselineConfig{}, "no plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Baseline, tt.cfg.QemuImg = results.BaselineRaw, "/nonexistent/qemu-img"
			_, err := RunBaseline(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), results.BaselineRaw) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s and %q", err, results.BaselineRaw, tt.want)
			}
		})
	}
	if _, err := RunBaseline(BaselineConfig{Baseline: results.BaselineRaw, Plan: p, QemuImg: "/nonexistent/qemu-img", Dir: t.TempDir()}); err != nil {
		t.Errorf("raw without qemu-img: %v", err)
	}
	_, err := RunBaseline(BaselineConfig{Baseline: results.BaselineQcow2, Plan: p, QemuImg: "/nonexistent/qemu-img", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/qemu-img") {
		t.Errorf("qcow2 without qemu-img: error %v, want one naming qemu-img", err)
	}
}
