package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads/results"
)

// writeResults writes runs.json, runs.csv, bench.txt and summary.txt
// (every configuration's summary, the latency percentiles at the focus
// queue depth, each job's figures in the groups of jobs running
// together, then every verdict with its counterexample) to dir,
// creating it. Each file is written whole to a temporary name and
// renamed, so a reader never sees half a file.
func writeResults(dir string, res *results.Results, sums []results.Summary, baseline string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	var js, csv, bench, table bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		return fmt.Errorf("results: runs.json: %w", err)
	}
	if err := results.WriteCSV(&csv, res.Runs); err != nil {
		return fmt.Errorf("results: runs.csv: %w", err)
	}
	if err := results.WriteBench(&bench, &res.Provenance, res.Runs, baseline); err != nil {
		return fmt.Errorf("results: bench.txt: %w", err)
	}
	p := &res.Provenance
	fmt.Fprintf(&table, "commit %s, %s %s/%s, %d CPUs, %s; seed %d, %d repetitions (median, min-max) + %d warm-up; linearizability: %s\n\n",
		p.Commit, p.GoVersion, p.OS, p.Arch, p.CPUs, p.Date, p.Seed, p.Repeat, p.Warmup, p.Linearizability)
	if err := results.WriteTable(&table, sums, baseline); err != nil {
		return fmt.Errorf("results: summary.txt: %w", err)
	}
	var pct bytes.Buffer
	if err := results.WriteLatencyPercentiles(&pct, sums); err != nil {
		return fmt.Errorf("results: summary.txt: %w", err)
	}
	if pct.Len() > 0 {
		table.WriteString("\n")
		table.Write(pct.Bytes())
	}
	order := make([]results.Config, len(sums))
	for i, s := range sums {
		order[i] = s.Config
	}
	var jobs bytes.Buffer
	if err := results.WriteJobFigures(&jobs, res.Runs, order); err != nil {
		return fmt.Errorf("results: summary.txt: %w", err)
	}
	if jobs.Len() > 0 {
		table.WriteString("\n")
		table.Write(jobs.Bytes())
	}
	if len(res.Verdicts) > 0 {
		table.WriteString("\n")
		if err := results.WriteVerdicts(&table, res.Verdicts); err != nil {
			return fmt.Errorf("results: summary.txt: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"runs.json", js.Bytes()}, {"runs.csv", csv.Bytes()}, {"bench.txt", bench.Bytes()}, {"summary.txt", table.Bytes()}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	return nil
}

// writeAll writes everything a results directory holds: the result
// files (writeResults), the figures if figures is true, and the report
// summarizing in, whose Results, Summaries and Baseline say what to
// write. It returns the figures written.
func writeAll(dir string, in plots.ReportInput, figures bool) ([]plots.Figure, error) {
	if err := writeResults(dir, in.Results, in.Summaries, in.Baseline); err != nil {
		return nil, err
	}
	if figures {
		figs, err := plots.Write(dir, in.Summaries, plots.Options{})
		if err != nil {
			return nil, fmt.Errorf("figures: %w", err)
		}
		in.Figures = figs
	}
	if err := plots.WriteReport(dir, in); err != nil {
		return in.Figures, fmt.Errorf("report: %w", err)
	}
	return in.Figures, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it to path.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
