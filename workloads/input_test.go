package workloads

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestCheckLimits checks plans and queue depths beyond the limits are
// refused with a *KeyError naming the key to change, and ones within
// them (the standard jobs at every standard depth among them) are not.
func TestCheckLimits(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		qd   int
		key  string // "" for no error; "-" for an error that is not a *KeyError
		want string
	}{
		{"fine", map[string]string{"rw": "randwrite", "size": "1m"}, 64, "", ""},
		{"rewrite 16t with ops", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "16t", "ops": "10"}, 32, "", ""},
		{"rewrite 16t one pass", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "16t"}, 1, "size", "268435456 clusters"},
		{"rewrite 16t runtime", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "16t", "runtime": "1s"}, 1, "size", "set ops"},
		{"prefill too many ops", map[string]string{"rw": "randread", "prefill": "1", "size": "16t", "ops": "100000000"}, 1, "ops", "fewer ops"},
		{"bs beyond buffers", map[string]string{"rw": "write", "bs": "1t", "size": "1t", "ops": "1"}, 1, "bs", "1t of request buffers"},
		{"qd x bs beyond buffers", map[string]string{"rw": "write", "bs": "64m", "size": "1g", "ops": "64"}, 65536, "bs", "4t of request buffers"},
		{"qd x numjobs in flight", map[string]string{"rw": "write", "numjobs": "1024", "bs": "512", "size": "1m", "ops": "1"}, 2048, "numjobs", "2097152 requests in flight"},
		{"qd beyond", map[string]string{"rw": "write", "size": "1m"}, 100000, "-", "queue depth 100000 not in [1, 65536]"},
		{"qd 0", map[string]string{"rw": "write", "size": "1m"}, 0, "-", "queue depth 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "job", tt.set)
			err := errors.Join(p.CheckLimits(), p.CheckQD(tt.qd))
			if tt.key == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			var ke *KeyError
			if errors.As(err, &ke) != (tt.key != "-") || (ke != nil && (ke.Key != tt.key || ke.Job != "job")) {
				t.Errorf("error %#v, want a *KeyError for %s", err, tt.key)
			}
		})
	}
	jobs, err := StandardJobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		p, err := j.Plan()
		if err != nil {
			t.Fatal(err)
		}
		for _, qd := range StandardQDs() {
			if err := errors.Join(p.CheckLimits(), p.CheckQD(qd)); err != nil {
				t.Errorf("standard job %s at qd %d: %v", j.Name, qd, err)
			}
		}
	}
}

// TestRunHugeRewrite is the run of issue 12 that took half an hour
// (runbench -workloads rewrite -set size=16t -set ops=10): a rewrite of
// 10 ops prefills the clusters they touch, not all 16 TiB, on every
// backend, and every write still finds its cluster allocated.
func TestRunHugeRewrite(t *testing.T) {
	p := mustPlan(t, "rewrite", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "16t", "ops": "10"})
	for _, backend := range backends.Names() {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: backend, Device: nvme(t), QD: 4, Seed: 3, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			if res.Writes != 10 || res.AllocatingWrites != 0 || !res.Check.Clean() {
				t.Errorf("%d writes, %d allocating, check %s; want 10, none allocating, clean", res.Writes, res.AllocatingWrites, CheckSummary(res.Check))
			}
		})
	}
}

// TestPrefillTouchedSameFigures checks prefilling only the clusters a
// run touches changes none of its figures on sim (virtual time, where
// host offsets cost nothing) against prefilling its whole region: reads
// and writes, one instance and two, with a backing file, unaligned
// blocks.
func TestPrefillTouchedSameFigures(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
	}{
		{"rewrite", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "8m", "ops": "40"}},
		{"randrw prefill two jobs", map[string]string{"rw": "randrw", "prefill": "1", "numjobs": "2", "size": "4m", "ops": "30", "fsync": "7"}},
		{"read backing", map[string]string{"rw": "randread", "prefill": "1", "backing": "1", "size": "8m", "ops": "25"}},
		{"unaligned blocks", map[string]string{"rw": "randwrite", "pattern": "rewrite", "bs": "6k", "offset": "3k", "cluster_size": "4k", "size": "3m", "ops": "60"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "job", tt.set)
			if !p.prefillTouchedOnly() {
				t.Fatal("the plan prefills its whole region; the test needs one that prefills what it touches")
			}
			run := func(regions bool) Result {
				res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 4, Seed: 9, prefillRegions: regions})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Check.Clean() || res.AllocatingWrites != 0 {
					t.Errorf("regions %v: check %s, %d allocating writes", regions, CheckSummary(res.Check), res.AllocatingWrites)
				}
				res.Submitter, res.Check, res.IOWallNanos = nil, impl.CheckResult{}, 0
				return res
			}
			touched, whole := run(false), run(true)
			if !reflect.DeepEqual(touched, whole) {
				t.Errorf("prefilling what the run touches gives\n%+v\nthe whole region\n%+v", touched, whole)
			}
			var n uint64
			for _, sp := range p.prefillSpans(9, false) {
				n += sp.n
			}
			if all := p.allRegionClusters() * uint64(p.job.ClusterSize); n >= all {
				t.Errorf("prefilled %d bytes of %d", n, all)
			}
		})
	}
}

// TestParseSetting checks -set's key=value parsing refuses what is empty.
func TestParseSetting(t *testing.T) {
	for _, tt := range []struct{ in, key, value, err string }{
		{"bs=4k", "bs", "4k", ""},
		{" bs = 4k ", "bs", "4k", ""},
		{"bs", "", "", "want key=value"},
		{"bs=", "", "", "empty value for bs"},
		{"=4k", "", "", "empty key"},
		{"", "", "", "want key=value"},
	} {
		k, v, err := ParseSetting(tt.in)
		if k != tt.key || v != tt.value || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseSetting(%q) = %q, %q, %v; want %q, %q, %q", tt.in, k, v, err, tt.key, tt.value, tt.err)
		}
	}
}

// TestSplitList checks lists with an empty element, or empty, are refused.
func TestSplitList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  string
	}{
		{"1,2", []string{"1", "2"}, ""},
		{" a , b ", []string{"a", "b"}, ""},
		{"1,,2", nil, "element 2 of 3 is empty"},
		{"1,", nil, "element 2 of 2 is empty"},
		{",", nil, "element 1 of 2 is empty"},
		{"", nil, "empty list"},
		{"  ", nil, "empty list"},
	} {
		got, err := SplitList(tt.in)
		if !reflect.DeepEqual(got, tt.want) || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("SplitList(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestBenchSpan checks the baselines prefill what qemu-img bench touches.
func TestBenchSpan(t *testing.T) {
	for _, tt := range []struct {
		set  map[string]string
		want uint64
	}{
		{map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "64m", "ops": "4096"}, 4095*4096 + 4096},
		{map[string]string{"rw": "write", "pattern": "first-touch", "size": "64m", "ops": "10"}, 9*65536 + 4096},
		{map[string]string{"rw": "read", "size": "1m"}, 1 << 20},
	} {
		if got := benchSpan(mustPlan(t, "job", tt.set)); got != tt.want {
			t.Errorf("%v: span %d, want %d", tt.set, got, tt.want)
		}
	}
}
