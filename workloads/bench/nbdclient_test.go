package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// TestNBDIOLog checks a round's iolog: fio's version 2 header, one 4
// KiB write at the start of every cluster, each once, in an order the
// seed alone decides, then the flush and the tail reads.
func TestNBDIOLog(t *testing.T) {
	const count = 100
	log := func(seed int64) []string {
		var b bytes.Buffer
		if err := writeNBDIOLog(&b, count, seed); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for sc := bufio.NewScanner(&b); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		return lines
	}
	a := log(7)
	if want := 3 + count + 1 + nbdTailReads; len(a) != want {
		t.Fatalf("%d lines, want %d", len(a), want)
	}
	if !slices.Equal(a[:3], []string{"fio version 2 iolog", "nbd add", "nbd open"}) {
		t.Errorf("header %q", a[:3])
	}
	seen := map[uint64]bool{}
	for _, l := range a[3 : 3+count] {
		var off, n uint64
		if _, err := fmt.Sscanf(l, "nbd write %d %d", &off, &n); err != nil || n != nbdBlock || off%nbdClusterSize != 0 || off/nbdClusterSize >= count || seen[off] {
			t.Fatalf("line %q: want a write of 4096 at a cluster start not written before", l)
		}
		seen[off] = true
	}
	if a[3+count] != "nbd sync 0 0" || a[len(a)-1] != "nbd read 0 4096" {
		t.Errorf("after the writes %q, last %q", a[3+count], a[len(a)-1])
	}
	if !slices.Equal(a, log(7)) {
		t.Error("seed 7 gave two orders")
	}
	if slices.Equal(a, log(8)) {
		t.Error("seeds 7 and 8 gave the same order")
	}
}

// fioSample is fio's json+ output as its nbd engine prints it, cut to
// what parseFio reads and a little more.
const fioSample = `fio: connected to NBD server
{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "first-touch-fio",
      "error" : 0,
      "write" : {
        "io_bytes" : 16384, "bw_bytes" : 4096000, "iops" : 1000.000000, "runtime" : 4, "total_ios" : 4,
        "lat_ns" : {"min" : 1000000, "max" : 3000000, "mean" : 2000000.000000, "N" : 4,
          "percentile" : {"50.000000" : 2000000, "99.000000" : 3000000, "99.900000" : 3000000},
          "bins" : {"1000000" : 1, "2000000" : 2, "3000000" : 1}}
      },
      "sync" : {"total_ios" : 1}
    }
  ]
}
`

// TestParseFio reads fio's output into a record, and refuses reports of
// incomplete runs.
func TestParseFio(t *testing.T) {
	j, err := parseFio([]byte(fioSample))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.check(4); err != nil {
		t.Fatal(err)
	}
	if err := j.check(5); err == nil || !strings.Contains(err.Error(), "4 writes done of 5") {
		t.Errorf("check(5) = %v", err)
	}
	var rec results.Record
	j.fill(&rec)
	if rec.Ops != 4 || rec.OpsPerSec != 1000 || rec.Seconds != 0.004 || rec.LatP50Us != 2000 || rec.LatP99Us != 3000 || rec.LatMeanUs != 2000 || rec.LatMaxUs != 3000 {
		t.Errorf("record %+v", rec)
	}
	if math.Abs(rec.AchievedQD-2) > 1e-9 {
		t.Errorf("achieved qd %g, want 2 (1000/s x 2 ms)", rec.AchievedQD)
	}
	h, err := rec.LatencyHistogram()
	if err != nil || h == nil {
		t.Fatalf("histogram %v, %v", h, err)
	}
	if h.TotalCount() != 4 || math.Abs(float64(h.ValueAtQuantile(50))-2e6) > 2e3 {
		t.Errorf("histogram: %d values, median %d", h.TotalCount(), h.ValueAtQuantile(50))
	}
	if _, err := parseFio([]byte("fio: connected to NBD server\n")); err == nil {
		t.Error("no JSON parsed")
	}
}

// TestCompareNBD picks the fastest policy that claims safety and showed
// no problem, and compares it with each baseline by median and round
// by round.
func TestCompareNBD(t *testing.T) {
	rec := func(pol string, round int, iops float64) results.Record {
		return results.Record{Policy: pol, Backend: results.BackendNBD, Repeat: round, OpsPerSec: iops, Ops: 999, CPUUserSecs: 0.001, Check: "clean"}
	}
	runs := []results.Record{
		rec("overlap", 1, 30000), rec("overlap", 2, 20000), rec("overlap", 3, 40000),
		rec("freeze-any", 1, 7000), rec("freeze-any", 2, 7000), rec("freeze-any", 3, 7000),
		rec("freeze-l2", 1, 90000), // claims unsafe: never the best
		rec(results.BaselineNBDQED, 1, 3000), rec(results.BaselineNBDQED, 2, 1000), rec(results.BaselineNBDQED, 3, 2000),
	}
	c := compareNBD(runs)
	if c.best == nil || c.best.name != "overlap" {
		t.Fatalf("best %+v, want overlap", c.best)
	}
	if len(c.ratios) != 1 {
		t.Fatalf("ratios %+v", c.ratios)
	}
	r := c.ratios[0]
	// Medians 30000/2000; rounds 10, 20, 20.
	if r.baseline != results.BaselineNBDQED || r.median != 15 || r.roundMedian != 20 || r.roundMin != 10 || r.rounds != 3 {
		t.Errorf("ratio %+v", r)
	}
	if got := nbdCPUPerRequestUs(&runs[0]); math.Abs(got-1) > 1e-9 {
		t.Errorf("CPU per request %g us, want 1 (1 ms over 999 writes and a flush)", got)
	}
	names := []string{}
	for _, tr := range c.targets {
		names = append(names, tr.name)
	}
	if want := []string{"freeze-any", "freeze-l2", "overlap", results.BaselineNBDQED}; !slices.Equal(names, want) {
		t.Errorf("targets %v, want %v (registry order, baselines last)", names, want)
	}
}
