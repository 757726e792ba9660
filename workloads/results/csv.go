package results

import (
	"encoding/csv"
	"io"
	"strconv"
)

// csvColumns are the columns of runs.csv, in order, with each record's
// value.
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
