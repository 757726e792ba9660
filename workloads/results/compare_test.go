package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	rec := func(pol string, qd int, ops float64, check string) Record {
		return Record{Policy: pol, Workload: "w", QD: qd, Backend: "sim", Device: "nvme", OpsPerSec: ops, LatP99Us: 1e6 / ops, Check: check}
	}
	old := []Record{
		rec("overlap", 32, 100, "clean"), rec("overlap", 32, 110, "clean"), rec("overlap", 32, 105, "clean"),
		rec("freeze-any", 32, 50, "clean"), rec("freeze-any", 32, 52, "clean"), rec("freeze-any", 32, 51, "clean"),
		rec("freeze-l2", 32, 90, "clean"), rec("freeze-l2", 32, 91, "clean"),
		rec("serial", 1, 10, "clean"),
	}
	cur := []Record{
		rec("overlap", 32, 120, "clean"), rec("overlap", 32, 125, "clean"), rec("overlap", 32, 130, "clean"),
		rec("freeze-any", 32, 51, "clean"), rec("freeze-any", 32, 53, "clean"), rec("freeze-any", 32, 49, "clean"),
		rec("freeze-l2", 32, 80, "3 leaks"), rec("freeze-l2", 32, 81, "3 leaks"),
		rec("serial", 4, 10, "clean"),
	}
	m, err := LookupMetric("ops_per_sec")
	if err != nil {
		t.Fatal(err)
	}
	deltas, onlyOld, onlyNew := Compare(old, cur, m)
	if len(deltas) != 3 || len(onlyOld) != 1 || len(onlyNew) != 1 {
		t.Fatalf("%d deltas, %v only old, %v only new", len(deltas), onlyOld, onlyNew)
	}
	want := map[string]struct {
		ratio       float64
		sig, better bool
		safety      string
	}{
		"overlap":    {125.0 / 105, true, true, ""},
		"freeze-any": {1, false, false, ""},
		"freeze-l2":  {80.5 / 90.5, true, false, "3 leaks"},
	}
	for _, d := range deltas {
		w := want[d.Config.Policy]
		if math.Abs(d.Ratio-w.ratio) > 1e-9 || d.Significant != w.sig || d.Better != w.better || d.NewSafety != w.safety {
			t.Errorf("%s: %+v, want %+v", d.Config.Policy, d, w)
		}
	}
	if deltas[0].Config.Policy != "freeze-any" {
		t.Errorf("deltas not in registry order: first is %s", deltas[0].Config.Policy)
	}
	var b bytes.Buffer
	if err := WriteComparison(&b, deltas, onlyOld, onlyNew, m); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"faster", "slower", "~", "clean -> 3 leaks", "1 faster, 1 slower, 1 within", "only in old: policy=serial", "only in new: policy=serial"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("comparison lacks %q:\n%s", s, b.String())
		}
	}
	lat, _ := LookupMetric("lat_p99_us")
	deltas, _, _ = Compare(old, cur, lat)
	for _, d := range deltas {
		if d.Config.Policy == "overlap" && (!d.Significant || !d.Better) {
			t.Errorf("lower p99 is not better: %+v", d)
		}
	}
	if _, err := LookupMetric("speed"); err == nil {
		t.Error("unknown metric accepted")
	}
}
