package results

import (
	"encoding/csv"
	"io"
	"strconv"
)

// csvColumns are the columns of runs.csv, in order, with each record's
// value: every field of a Record under its JSON name, except the
// harness's own timings (wall_seconds and the like, which differ between
// runs of the same configuration, so that two sim runs' CSVs compare
// whole), the latency histogram and the per-job figures (runs.json and
// summary.txt hold those).
var csvColumns = []struct {
	name string
	get  func(r *Record) string
}{
	{"policy", func(r *Record) string { return r.Policy }},
	{"workload", func(r *Record) string { return r.Workload }},
	{"qd", func(r *Record) string { return strconv.Itoa(r.QD) }},
	{"backend", func(r *Record) string { return r.Backend }},
	{"device", func(r *Record) string { return r.Device }},
	{"repeat", func(r *Record) string { return strconv.Itoa(r.Repeat) }},
	{"seed", func(r *Record) string { return strconv.FormatInt(r.Seed, 10) }},
	{"ops", func(r *Record) string { return strconv.FormatUint(r.Ops, 10) }},
	{"seconds", func(r *Record) string { return ff(r.Seconds) }},
	{"ops_per_sec", func(r *Record) string { return ff(r.OpsPerSec) }},
	{"mib_per_sec", func(r *Record) string { return ff(r.MiBPerSec) }},
	{"lat_p50_us", func(r *Record) string { return ff(r.LatP50Us) }},
	{"lat_p99_us", func(r *Record) string { return ff(r.LatP99Us) }},
	{"lat_p999_us", func(r *Record) string { return ff(r.LatP999Us) }},
	{"freezes", func(r *Record) string { return strconv.FormatUint(r.Freezes, 10) }},
	{"frozen_seconds", func(r *Record) string { return ff(r.FrozenSecs) }},
	{"data_bytes", func(r *Record) string { return strconv.FormatUint(r.DataBytes, 10) }},
	{"meta_bytes", func(r *Record) string { return strconv.FormatUint(r.MetaBytes, 10) }},
	{"linearizable", func(r *Record) string {
		if r.Linearizable == nil {
			return ""
		}
		return strconv.FormatBool(*r.Linearizable)
	}},
	{"check", func(r *Record) string { return r.Check }},
	{"host_ios_per_op", func(r *Record) string { return ff(r.HostIOsPerOp) }},
	{"achieved_qd", func(r *Record) string { return ff(r.AchievedQD) }},
	{"expect", func(r *Record) string { return r.Expect }},
	{"error", func(r *Record) string { return r.Error }},
	// Appended after error, so scripts that read columns by position
	// (scripts/calibration-check.sh) keep working.
	{"trims", func(r *Record) string { return strconv.FormatUint(r.Trims, 10) }},
	{"trim_bytes", func(r *Record) string { return strconv.FormatUint(r.TrimBytes, 10) }},
	{"lat_mean_us", func(r *Record) string { return ff(r.LatMeanUs) }},
	{"lat_max_us", func(r *Record) string { return ff(r.LatMaxUs) }},
	{"allocating_writes", func(r *Record) string { return strconv.FormatUint(r.AllocatingWrites, 10) }},
	{"check_corruptions", func(r *Record) string { return strconv.Itoa(r.CheckCorruptions) }},
	{"check_leaks", func(r *Record) string { return strconv.Itoa(r.CheckLeaks) }},
	{"reopens", func(r *Record) string { return strconv.Itoa(r.Reopens) }},
	{"steady_state_seconds", func(r *Record) string { return ff(r.SteadyStateSecs) }},
	{"latency_target_depth", func(r *Record) string { return strconv.Itoa(r.LatencyTargetDepth) }},
	{"scheme", func(r *Record) string { return r.Scheme }},
	{"note", func(r *Record) string { return r.Note }},
	{"counterexample", func(r *Record) string { return r.Counterexample }},
	{"linearizability_note", func(r *Record) string { return r.LinearizabilityNote }},
}

func ff(f float64) string { return strconv.FormatFloat(f, 'g', 8, 64) }

// WriteCSV writes runs as CSV with a header row; linearizable is empty
// when not checked.
func WriteCSV(w io.Writer, runs []Record) error {
	cw := csv.NewWriter(w)
	row := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		row[i] = c.name
	}
	if err := cw.Write(row); err != nil {
		return err
	}
	for i := range runs {
		for j, c := range csvColumns {
			row[j] = c.get(&runs[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
