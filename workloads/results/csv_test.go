package results

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// csvLeftOut are the Record fields runs.csv leaves out, by JSON name.
var csvLeftOut = []string{"wall_seconds", "io_wall_seconds", "check_wall_seconds", "cpu_user_seconds", "cpu_sys_seconds", "latency_hdr", "jobs"}

// TestCSVColumnsCoverRecord holds runs.csv to every field of a Record
// under its JSON name, except those left out on purpose: a field added
// to Record fails here until it is given a column or left out.
func TestCSVColumnsCoverRecord(t *testing.T) {
	var names []string
	for _, c := range csvColumns {
		names = append(names, c.name)
	}
	rt := reflect.TypeFor[Record]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		in, out := slices.Contains(names, name), slices.Contains(csvLeftOut, name)
		switch {
		case in && out:
			t.Errorf("%s is both a column and left out", name)
		case !in && !out:
			t.Errorf("Record field %s (%s) has no runs.csv column and is not left out", rt.Field(i).Name, name)
		}
	}
	if got := names[23]; got != "error" {
		t.Errorf("column 24 is %q; scripts read error there, so new columns go after it", got)
	}
}

// TestWriteCSVValues checks a row's values under their columns.
func TestWriteCSVValues(t *testing.T) {
	yes := true
	runs := []Record{{
		Policy: "overlap", Workload: "trim-mix", QD: 8, Backend: "sim", Device: "nvme", Repeat: 2, Seed: 7,
		Ops: 100, Trims: 10, TrimBytes: 40960, Seconds: 0.5, OpsPerSec: 200, LatMeanUs: 12.5, LatMaxUs: 99,
		AllocatingWrites: 30, Linearizable: &yes, Check: "1 leak", CheckLeaks: 1, Reopens: 3,
		SteadyStateSecs: 0.25, LatencyTargetDepth: 4, Scheme: "fill=elide grow=1", Note: "a, b",
		Counterexample: "counterexamples/x.html", Expect: "safe", WallSeconds: 9,
	}, {Policy: "serial", Error: "no space"}}
	var b bytes.Buffer
	if err := WriteCSV(&b, runs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	col := func(row int, name string) string {
		i := slices.Index(rows[0], name)
		if i < 0 {
			t.Fatalf("no column %s", name)
		}
		return rows[row][i]
	}
	for _, tt := range []struct {
		row        int
		name, want string
	}{
		{1, "policy", "overlap"},
		{1, "trims", "10"},
		{1, "trim_bytes", "40960"},
		{1, "lat_mean_us", "12.5"},
		{1, "lat_max_us", "99"},
		{1, "allocating_writes", "30"},
		{1, "linearizable", "true"},
		{1, "check_leaks", "1"},
		{1, "check_corruptions", "0"},
		{1, "reopens", "3"},
		{1, "steady_state_seconds", "0.25"},
		{1, "latency_target_depth", "4"},
		{1, "scheme", "fill=elide grow=1"},
		{1, "note", "a, b"},
		{1, "counterexample", "counterexamples/x.html"},
		{2, "linearizable", ""},
		{2, "error", "no space"},
	} {
		if got := col(tt.row, tt.name); got != tt.want {
			t.Errorf("row %d %s = %q, want %q", tt.row, tt.name, got, tt.want)
		}
	}
}
