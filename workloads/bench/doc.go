// Package bench runs what runbench runs: policies x workloads x queue
// depths x backends, repeated, with the linearizability checks, and
// writes the results, the figures and the report of a design review.
// cmd/runbench only binds its flags into a Config; the same Config runs
// from Go code (a test, a benchmark, another tool).
//
// The contract, in three steps:
//
//   - A Config holds every setting, typed: the jobs to choose from and
//     the job settings applied to them, the policies, queue depths,
//     backends and sim devices, repetitions and seed, the results
//     directory, the file backend's directory, cache and I/O mode, the
//     baselines, which runs are checked for linearizability, and whether
//     to draw figures. Each field's doc says what its zero value means.
//   - New checks a Config and resolves it into a Setup: the jobs become
//     plans, the settings a workloads.Matrix; on the file backend it
//     probes the file system, io_uring and qemu-img (for the baselines).
//     It reads the file system and writes nothing. Every error it
//     returns for a bad setting is a *SettingError naming the Config
//     field at fault (runbench maps it to the flag); any other error
//     (the standard jobs failing to parse) is a fault of the program.
//   - Setup.Run makes every run and writes, to Config.Out, runs.json,
//     runs.csv, bench.txt and summary.txt (each whole, through a
//     rename), the figures (unless NoPlots), report.md and report.html,
//     and for a history found not linearizable its counterexample under
//     counterexamples/ (stale ones from an earlier run there are removed
//     first). It prints the seed, the summary table and the harness's
//     speed to the writer it is given. The file backend and the qemu-img
//     baselines work in a new directory inside Config.Dir, removed at the
//     end and when the context is done; nothing else there is read,
//     written or removed. An error from Run means the bench did not
//     complete: a *SettingError for the work directory, a
//     *RunsFailedError when some runs failed (every file is written, the
//     errors are in runs.json), an *InterruptError when the context was
//     done, and otherwise what kept the results from being written.
//
// A Config with a Shard runs one slice of the matrix instead and writes a
// shard directory; Merge puts the shard directories of a matrix back
// together into one results directory, equal on sim to the whole run's
// but for provenance and wall-clock figures (see shard.go).
// ExploreShard and MergeExplore do the same for the explorers.
//
// Report rewrites the tables, figures and report of a results directory
// from its runs.json, and Compare compares two runs.json files with
// benchstat's statistics (a *RegressionError when told to fail on a
// regression), as the runbench report and runbench compare subcommands
// do.
//
// NewNBD and NBDSetup.Run are runbench nbd: one fio job through NBD, side
// by side, against our image under each policy (served in-process by
// impl/serve) and against qemu-nbd on QEMU's QED and qcow2 drivers,
// interleaved, written as an ordinary results directory with the
// qemu-nbd runs as baselines (results.NBDBaselineNames).
//
// Messages speak runbench's language (they name -seed, -backend file,
// -linearizability), because that is where users read them; the
// provenance and the report record them as runbench would.
//
// Nothing here holds global state. Figures on the sim backend depend only
// on the Config (the seed above all), not on the machine or the time.
package bench
