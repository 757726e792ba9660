// Package workloads specifies, generates and runs the workloads the
// harness measures policies with.
//
// A Job is a workload in the spirit of an fio job: rw, bs, iodepth,
// numjobs, size, number_ios or runtime, rwmixread and random_distribution,
// plus what allocation policies need: a Pattern (first-touch of fresh
// clusters, rewrite of allocated ones, same-cluster contention; one file
// each, pattern_*.go, registered in patterns) and the
// image geometry (cluster size, table size, image size, backing file),
// and reopen_every, which closes the image and opens it again every N
// requests, so a run also covers what the image keeps on disk.
// fio's keys shape the I/O too: block size mixes (bssplit, bsrange),
// amounts (io_size, loops, time_based), skewed distributions (zipf,
// pareto, normal, zoned), pacing (rate, rate_iops, thinktime, ramp_time:
// pacing.go), rw's offset modifier (offsetmod.go), several files per
// job (nrfiles: files.go), strided zones (zones.go), fio's zoned-device
// mode on a regular file (zonemode=zbd: zbd.go, writes at emulated
// write pointers, reads below them), sync writes (sync) and the replay
// of fio iologs (iolog.go).
// A job file's jobs run as fio runs them (group.go, group_run.go): the
// jobs between stonewalls together, as one workload on one image
// (Groups, PlanGroup), with startdelay, wait_for, flow control and
// exitall.
// Jobs come from a job file in fio's syntax (ParseJobFileWith, which
// accepts and names the fio keys that change nothing runbench measures,
// fiokeys.go, and refuses those that would) or from key=value settings
// (Job.Set), which both check every key and value.
//
// Job.Plan validates a job and resolves its defaults; Plan.Streams turns
// a plan and a seed into one deterministic stream of operations per job
// instance. Run drives an image with a plan at a queue depth (a closed
// loop) on any registered backend (impl/backends: sim, mem, file) and
// returns the run's figures.
// Matrix runs policies x workloads x queue depths x backends, repeated
// and interleaved, and returns one results.Record per run.
//
// Two subpackages serve the packages downstream: history records what a
// run's guest saw (a history.Recorder wraps the image through RunConfig.Wrap) for
// the checker, and results holds the records and writes runs.json,
// runs.csv, Go benchmark lines and tables, for runbench and plots. Neither
// imports this package. A third, bench, sits above the checker: it is
// the main job as a library (runbench binds its flags into bench.Config).
//
// Nothing here holds global state, and every random choice comes from
// the seed the caller passes in: the same seed gives the same streams
// and, on the sim backend, the same figures.
package workloads
