package results

import (
	"strings"
	"testing"
)

// TestWriteJobFigures checks the per-job lines of groups: medians over
// repetitions, in the configurations' order, nothing without groups.
func TestWriteJobFigures(t *testing.T) {
	c := Config{Policy: "overlap", Workload: "a+b", QD: 4, Backend: "sim", Device: "nvme"}
	rec := func(repeat int, aOps, bOps float64) Record {
		return Record{Policy: c.Policy, Workload: c.Workload, QD: c.QD, Backend: c.Backend, Device: c.Device, Repeat: repeat,
			Jobs: []JobFigures{{Name: "a", QD: 4, OpsPerSec: aOps, LatP99Us: 10}, {Name: "b", QD: 1, OpsPerSec: bOps, StartSecs: 0.5, LatP99Us: 20}}}
	}
	runs := []Record{rec(1, 100, 7), rec(2, 300, 9), rec(3, 200, 8), {Policy: "overlap", Workload: "alone", QD: 4, Backend: "sim", Device: "nvme"}}
	var b strings.Builder
	if err := WriteJobFigures(&b, runs, []Config{runs[3].Config(), c}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " a ") || !strings.Contains(lines[1], " 200 ") ||
		!strings.Contains(lines[2], " b ") || !strings.Contains(lines[2], " 8 ") || !strings.Contains(lines[2], "0.5000") || strings.Contains(b.String(), "alone") {
		t.Errorf("got:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJobFigures(&b, runs[3:], []Config{runs[3].Config()}); err != nil || b.Len() != 0 {
		t.Errorf("without groups: %q, %v; want nothing", b.String(), err)
	}
}
