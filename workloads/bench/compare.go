package bench

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/qedharness/qedharness/workloads/results"
)

// CompareConfig is what Compare compares and how, as runbench compare's
// flags choose it.
type CompareConfig struct {
	// Old and New are the runs.json files compared, Old the base.
	Old, New string
	// Metrics are the record fields compared (results.LookupMetric), a
	// table each, in order; nil means ops_per_sec.
	Metrics []string
	// OnlyChanged leaves out the rows without a significant change
	// (results.Comparison.Write).
	OnlyChanged bool
	// FailOnRegression, when 0 or more, makes Compare return a
	// *RegressionError if a significant change of a metric in its bad
	// direction exceeds this many percent of the old median
	// (results.Comparison.Regressions); negative never fails.
	FailOnRegression float64
}

// RegressionError is Compare's finding that the new results are worse
// than the old beyond CompareConfig.FailOnRegression.
type RegressionError struct {
	// Limit is CompareConfig.FailOnRegression.
	Limit float64
	// Regressions are the significant changes beyond it, metric by
	// metric in table order.
	Regressions []results.Delta
}

// Error counts the regressions and names the largest.
func (e *RegressionError) Error() string {
	worst := e.Regressions[0]
	for _, d := range e.Regressions[1:] {
		if math.Abs(d.Change) > math.Abs(worst.Change) {
			worst = d
		}
	}
	what := "1 significant regression"
	if len(e.Regressions) > 1 {
		what = fmt.Sprintf("%d significant regressions", len(e.Regressions))
	}
	return fmt.Sprintf("%s beyond %g%%, the largest %s %+.2f%% on %s", what, e.Limit, worst.Metric.Name, worst.Change, worst.Config.Name())
}

// Compare compares the runs of the runs.json files c.Old and c.New and
// writes to w which file is which, then a table per metric
// (results.Comparison.Write): per configuration each side's median with
// its confidence interval, the change with the p-value of a Mann-Whitney
// U test, as benchstat computes them, and the geomeans per policy. It
// returns a *RegressionError when c.FailOnRegression says to, after
// writing every table. A metric that is no field, or is named twice, is
// a *SettingError for "Metrics"; other errors say what could not be read
// or written.
func Compare(w io.Writer, c CompareConfig) error {
	names := c.Metrics
	if names == nil {
		names = []string{"ops_per_sec"}
	}
	var ms []results.Metric
	for i, n := range names {
		m, err := results.LookupMetric(n)
		if err != nil {
			return bad("Metrics", err)
		}
		if slices.Contains(names[:i], n) {
			return bad("Metrics", fmt.Errorf("%s named twice", n))
		}
		ms = append(ms, m)
	}
	old, err := results.ReadResults(c.Old)
	if err != nil {
		return err
	}
	cur, err := results.ReadResults(c.New)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "old: %s, commit %s, %s, %d repetitions\nnew: %s, commit %s, %s, %d repetitions\n", c.Old, old.Provenance.Commit,
		old.Provenance.Date, old.Provenance.Repeat, c.New, cur.Provenance.Commit, cur.Provenance.Date, cur.Provenance.Repeat)
	var regressions []results.Delta
	for _, m := range ms {
		fmt.Fprintln(w)
		comp := results.Compare(old.Runs, cur.Runs, m)
		if err := comp.Write(w, c.OnlyChanged); err != nil {
			return err
		}
		if c.FailOnRegression >= 0 {
			regressions = append(regressions, comp.Regressions(c.FailOnRegression)...)
		}
	}
	if len(regressions) > 0 {
		return &RegressionError{Limit: c.FailOnRegression, Regressions: regressions}
	}
	return nil
}
