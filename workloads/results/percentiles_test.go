package results

import (
	"bytes"
	"strings"
	"testing"
)

// TestFioPercentilesLayout checks the percentile block against fio's
// show_clat_percentiles: its unit choice (nsec, usec over 2000 and
// 99999 ns, msec over 2 ms and 99999999 ns), its rounding up to the unit,
// its value column (5 wide, wider for larger values) and its rows (as
// many entries as fit 80 columns).
func TestFioPercentilesLayout(t *testing.T) {
	ps := fioPercentiles[:]
	tests := []struct {
		name string
		ps   []float64
		vals []int64 // nanoseconds
		want string
	}{
		{
			name: "usec",
			ps:   ps,
			vals: []int64{210e3, 215e3, 219e3, 224e3, 229e3, 233e3, 238e3, 243e3, 249e3, 255e3, 265e3, 277e3, 310e3, 338e3, 412e3, 455e3, 1203001},
			want: `    clat percentiles (usec):
     |  1.00th=[  210],  5.00th=[  215], 10.00th=[  219], 20.00th=[  224],
     | 30.00th=[  229], 40.00th=[  233], 50.00th=[  238], 60.00th=[  243],
     | 70.00th=[  249], 80.00th=[  255], 90.00th=[  265], 95.00th=[  277],
     | 99.00th=[  310], 99.50th=[  338], 99.90th=[  412], 99.95th=[  455],
     | 99.99th=[ 1204]
`,
		},
		{
			name: "nsec, wide values",
			ps:   ps,
			vals: []int64{1012, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 2100, 2500, 4000, 9000, 60000, 250000, 5123456},
			want: `    clat percentiles (nsec):
     |  1.00th=[   1012],  5.00th=[   1100], 10.00th=[   1200],
     | 20.00th=[   1300], 30.00th=[   1400], 40.00th=[   1500],
     | 50.00th=[   1600], 60.00th=[   1700], 70.00th=[   1800],
     | 80.00th=[   1900], 90.00th=[   2100], 95.00th=[   2500],
     | 99.00th=[   4000], 99.50th=[   9000], 99.90th=[  60000],
     | 99.95th=[ 250000], 99.99th=[5123456]
`,
		},
		{
			name: "msec, rounded up twice",
			ps:   ps,
			vals: []int64{3000001, 3500000, 4e6, 5e6, 6e6, 7e6, 8e6, 9e6, 10e6, 12e6, 15e6, 20e6, 50e6, 80e6, 120e6, 150e6, 151e6},
			want: `    clat percentiles (msec):
     |  1.00th=[    4],  5.00th=[    4], 10.00th=[    4], 20.00th=[    5],
     | 30.00th=[    6], 40.00th=[    7], 50.00th=[    8], 60.00th=[    9],
     | 70.00th=[   10], 80.00th=[   12], 90.00th=[   15], 95.00th=[   20],
     | 99.00th=[   50], 99.50th=[   80], 99.90th=[  120], 99.95th=[  150],
     | 99.99th=[  151]
`,
		},
		{
			name: "nsec up to 99999",
			ps:   []float64{50, 99, 99.9},
			vals: []int64{2001, 50000, 99999},
			want: "    clat percentiles (nsec):\n     | 50.00th=[ 2001], 99.00th=[50000], 99.90th=[99999]\n",
		},
		{
			name: "usec past 99999",
			ps:   []float64{50, 99, 99.9},
			vals: []int64{2001, 50000, 100000},
			want: "    clat percentiles (usec):\n     | 50.00th=[    3], 99.00th=[   50], 99.90th=[  100]\n",
		},
		{
			name: "nsec from 2000",
			ps:   []float64{50, 99.9},
			vals: []int64{2000, 5e6},
			want: "    clat percentiles (nsec):\n     | 50.00th=[   2000], 99.90th=[5000000]\n",
		},
		{
			name: "one full row",
			ps:   []float64{1, 5, 10, 20},
			vals: []int64{1, 2, 3, 4},
			want: "    clat percentiles (nsec):\n     |  1.00th=[    1],  5.00th=[    2], 10.00th=[    3], 20.00th=[    4]\n",
		},
		{
			name: "none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeFioPercentiles(&b, "clat", tt.ps, tt.vals)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestWriteLatencyPercentiles checks the summary's block: one entry per
// configuration at its device's focus queue depth, from the merged
// histograms of its repetitions.
func TestWriteLatencyPercentiles(t *testing.T) {
	var spread []int64
	for v := int64(100); v < 1100; v++ {
		spread = append(spread, v)
	}
	rec := func(pol string, qd int, backend, device, enc string) Record {
		return Record{Policy: pol, Workload: "w", QD: qd, Backend: backend, Device: device, Repeat: 1, LatencyHDR: enc}
	}
	sums := Summarize([]Record{
		rec("overlap", 1, "sim", "nvme", histogramOf(t, 7)),
		rec("overlap", 32, "sim", "nvme", histogramOf(t, spread[:500]...)),
		rec("overlap", 32, "sim", "nvme", histogramOf(t, spread[500:]...)),
		rec("overlap", 64, "sim", "nvme", histogramOf(t, 9)),
		rec("overlap", 1, "file", "ext4", histogramOf(t, 1)),
		rec("overlap", 4, "file", "ext4", histogramOf(t, 5000)),
		rec(BaselineQED, 4, "file", "ext4", ""),
	}, nil)
	var b bytes.Buffer
	if err := WriteLatencyPercentiles(&b, sums); err != nil {
		t.Fatal(err)
	}
	want := `Latency percentiles at the focus queue depth, of every request of the repetitions (HDR histograms, 3 significant digits), as fio lists them; from submission to completion:

w file:ext4 qd=4 overlap: 1 of 1 runs, 1 requests
    clat percentiles (nsec):
     |  1.00th=[ 5003],  5.00th=[ 5003], 10.00th=[ 5003], 20.00th=[ 5003],
     | 30.00th=[ 5003], 40.00th=[ 5003], 50.00th=[ 5003], 60.00th=[ 5003],
     | 70.00th=[ 5003], 80.00th=[ 5003], 90.00th=[ 5003], 95.00th=[ 5003],
     | 99.00th=[ 5003], 99.50th=[ 5003], 99.90th=[ 5003], 99.95th=[ 5003],
     | 99.99th=[ 5003]

w nvme qd=32 overlap: 2 of 2 runs, 1000 requests
    clat percentiles (nsec):
     |  1.00th=[  109],  5.00th=[  149], 10.00th=[  199], 20.00th=[  299],
     | 30.00th=[  399], 40.00th=[  499], 50.00th=[  599], 60.00th=[  699],
     | 70.00th=[  799], 80.00th=[  899], 90.00th=[  999], 95.00th=[ 1049],
     | 99.00th=[ 1089], 99.50th=[ 1094], 99.90th=[ 1098], 99.95th=[ 1099],
     | 99.99th=[ 1099]
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(b.String(), BaselineQED) {
		t.Errorf("a baseline without latencies is listed")
	}
}
