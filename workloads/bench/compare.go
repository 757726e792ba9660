package bench

import (
	"fmt"
	"io"

	"github.com/qedharness/qedharness/workloads/results"
)

// Compare compares the runs of two runs.json files, oldPath and newPath,
// on the record field metric (results.LookupMetric), and writes to w
// which file is which, then per configuration each side's median with
// its min-max spread, the ratio, and whether the difference exceeds the
// spread of repetitions. A metric that is no field is a *SettingError for
// "Metric"; other errors say what could not be read or written.
func Compare(w io.Writer, oldPath, newPath, metric string) error {
	m, err := results.LookupMetric(metric)
	if err != nil {
		return bad("Metric", err)
	}
	old, err := results.ReadResults(oldPath)
	if err != nil {
		return err
	}
	cur, err := results.ReadResults(newPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "old: %s, commit %s, %s\nnew: %s, commit %s, %s\n\n", oldPath, old.Provenance.Commit, old.Provenance.Date,
		newPath, cur.Provenance.Commit, cur.Provenance.Date)
	deltas, onlyOld, onlyNew := results.Compare(old.Runs, cur.Runs, m)
	return results.WriteComparison(w, deltas, onlyOld, onlyNew, m)
}
