// Package results holds the records of runs, as runs.json, runs.csv and
// bench.txt store them, and what is made from them: summaries over
// repetitions, the text table, comparisons of two result sets and the
// harness's own cost.
//
// A Record is one run; a Config names what it ran (policy, workload,
// queue depth, backend, device), with the backend and baseline names the
// records use. Results is the content of runs.json: Provenance, then the
// records. Summarize groups records by Config into Summaries with the
// median and spread of each figure; WriteTable, WriteCSV, WriteBench and
// WriteLatencyPercentiles render them. Compare compares two result sets
// with benchstat's statistics (golang.org/x/perf/benchmath) and
// Comparison.Write renders that.
//
// A record keeps its run's latencies as an HDR histogram
// (Record.LatencyHDR; NewLatencyHistogram, EncodeLatency,
// DecodeLatency), from which a summary merges its repetitions' and
// WriteLatencyPercentiles lists fio's percentiles.
//
// The package imports only model (for the policies' table order),
// benchmath and hdrhistogram-go: it reads and writes records, it runs
// nothing, so plots and the report depend on it alone.
package results
