package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// histogramOf returns a latency histogram of vals (nanoseconds), encoded.
func histogramOf(t *testing.T, vals ...int64) string {
	t.Helper()
	h := NewLatencyHistogram()
	for _, v := range vals {
		RecordLatency(h, v)
	}
	s, err := EncodeLatency(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLatencyHistogramRoundTrip writes a record's histogram to runs.json,
// reads it back and checks that the decoded histogram holds the same
// counts, bucket for bucket, and the same percentiles.
func TestLatencyHistogramRoundTrip(t *testing.T) {
	h := NewLatencyHistogram()
	var vals []int64
	for i := int64(0); i < 5000; i++ {
		v := 1 + i*i*997%3_000_000 // 1 ns to 3 ms, uneven
		vals = append(vals, v)
		RecordLatency(h, v)
	}
	RecordLatency(h, 2*LatencyHighestNs) // clamped to an hour
	RecordLatency(h, -5)                 // clamped to 0
	enc, err := EncodeLatency(h)
	if err != nil {
		t.Fatal(err)
	}
	in := Results{Runs: []Record{
		{Policy: "overlap", Workload: "w", QD: 4, Backend: "sim", Device: "nvme", Repeat: 1, LatencyHDR: enc},
		{Policy: BaselineQED, Workload: "w", QD: 4, Backend: "file", Device: "ext4", Repeat: 1},
	}}
	var js bytes.Buffer
	if err := in.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"latency_hdr": "`) || strings.Count(js.String(), "latency_hdr") != 1 {
		t.Fatalf("runs.json should hold latency_hdr once, for the run that has it:\n%s", js.String())
	}
	path := filepath.Join(t.TempDir(), "runs.json")
	if err := os.WriteFile(path, js.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := out.Runs[0].LatencyHistogram()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(h) {
		t.Errorf("decoded histogram differs from the one encoded")
	}
	if got.TotalCount() != int64(len(vals))+2 || got.Max() < LatencyHighestNs || got.Min() != 0 {
		t.Errorf("decoded: %d values, min %d, max %d", got.TotalCount(), got.Min(), got.Max())
	}
	wantBars, gotBars := h.Distribution(), got.Distribution()
	if len(gotBars) != len(wantBars) {
		t.Fatalf("%d buckets decoded, want %d", len(gotBars), len(wantBars))
	}
	for i := range wantBars {
		if gotBars[i] != wantBars[i] {
			t.Fatalf("bucket %d: %v, want %v", i, gotBars[i], wantBars[i])
		}
	}
	for _, p := range fioPercentiles {
		if g, w := got.ValueAtPercentile(p), h.ValueAtPercentile(p); g != w {
			t.Errorf("p%v = %d decoded, %d encoded", p, g, w)
		}
	}
	if none, err := out.Runs[1].LatencyHistogram(); none != nil || err != nil {
		t.Errorf("a record without latency_hdr: %v, %v; want nil, nil", none, err)
	}
	bad := Record{Policy: "overlap", LatencyHDR: "not a histogram"}
	if _, err := bad.LatencyHistogram(); err == nil || !strings.Contains(err.Error(), "policy=overlap") {
		t.Errorf("a corrupt latency_hdr: %v, want an error naming the run", err)
	}
}

// TestReadResultsWithoutHistograms reads a runs.json written before runs
// kept latency histograms: the records read, and nothing has one.
func TestReadResultsWithoutHistograms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.json")
	old := `{"provenance": {"commit": "x", "go_version": "go1", "os": "linux", "arch": "amd64", "cpus": 2, "date": "d", "seed": 1, "repeat": 1, "warmup": 0, "command": "c", "linearizability": "off"},
"runs": [{"policy": "overlap", "workload": "w", "qd": 1, "backend": "sim", "device": "nvme", "repeat": 1, "ops": 10, "lat_p50_us": 5, "lat_p99_us": 9, "lat_p999_us": 9, "check": "clean", "expect": "safe"}]}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	sums := Summarize(res.Runs, nil)
	if len(sums) != 1 || sums[0].LatP50Us.Median != 5 || sums[0].LatencyHDR != nil {
		t.Fatalf("summaries %+v", sums)
	}
	if h, err := sums[0].Latency(); h != nil || err != nil {
		t.Errorf("Latency() = %v, %v; want nil, nil", h, err)
	}
	var b bytes.Buffer
	if err := WriteLatencyPercentiles(&b, sums); err != nil || b.Len() != 0 {
		t.Errorf("percentiles of runs without histograms: %q, %v; want nothing", b.String(), err)
	}
}

// TestSummaryLatencyMerges checks that a summary's histogram holds every
// request of its completed repetitions, and none of a failed one.
func TestSummaryLatencyMerges(t *testing.T) {
	rec := func(enc, err string) Record {
		return Record{Policy: "overlap", Workload: "w", QD: 1, Backend: "sim", Device: "nvme", LatencyHDR: enc, Error: err}
	}
	sums := Summarize([]Record{
		rec(histogramOf(t, 100, 200), ""),
		rec(histogramOf(t, 300), ""),
		rec(histogramOf(t, 9e9), "request failed"),
		rec("", ""),
	}, nil)
	h, err := sums[0].Latency()
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != 3 || h.Min() != 100 || h.Max() != 300 {
		t.Errorf("merged: %d values, min %d, max %d; want 3, 100, 300 (exact below 2048)", h.TotalCount(), h.Min(), h.Max())
	}
	if len(sums[0].LatencyHDR) != 2 || sums[0].Runs != 3 {
		t.Errorf("%d histograms of %d runs, want 2 of 3", len(sums[0].LatencyHDR), sums[0].Runs)
	}
}
