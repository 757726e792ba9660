package bench

import (
	"errors"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// Setup is a checked Config, ready to run: the matrix, where its results
// go, and what New found out about the machine. Run may be called more
// than once, not concurrently.
type Setup struct {
	matrix   workloads.Matrix
	out      string
	baseline string
	command  string
	noPlots  bool
	// noVerdicts skips Verdicts; verbose prints everything (Config).
	noVerdicts, verbose bool
	// fsName and cache describe the file backend for the provenance
	// (empty without it).
	fsName, cache string
	// baselineNote says why baselines were skipped, if they were.
	baselineNote string
	// linNote says how runs are checked for linearizability.
	linNote string
	// aioNote says why AIOAuto chose threads, if it did.
	aioNote string
	// discardNote warns that the file backend's directory discards
	// freed blocks online (DiscardNote), if it does.
	discardNote string
	// shard is the share of a sharded run, nil for the whole matrix.
	shard *shardPlan
}

// New checks cfg and resolves it into a Setup, in runbench's order: the
// jobs and their settings first, then the dimensions of the matrix, the
// counts, the results directory, and last the file backend (its
// directory, io_uring, qemu-img). A bad setting is a *SettingError
// naming the field; New writes nothing.
func New(cfg Config) (*Setup, error) {
	jobs := cfg.Jobs
	if jobs == nil {
		var err error
		if jobs, err = workloads.StandardJobs(); err != nil {
			return nil, err
		}
	}
	jobs, err := selectJobs(jobs, cfg.Workloads)
	if err != nil {
		return nil, bad("Workloads", err)
	}
	for _, s := range cfg.Settings {
		if err := applySettings(jobs, s); err != nil {
			return nil, bad("Settings", err)
		}
	}
	// The jobs run as fio runs them: those between stonewalls together,
	// as one workload (workloads.Groups; a job alone keeps its name).
	groups, _ := workloads.Groups(jobs)
	plans := make([]*workloads.Plan, len(groups))
	for i, g := range groups {
		if plans[i], err = workloads.PlanGroup(g); err != nil {
			return nil, bad("Jobs", err)
		}
	}
	policies := cfg.Policies
	if policies == nil {
		policies = model.Registered()
	}
	if err := checkPolicies(policies); err != nil {
		return nil, bad("Policies", err)
	}
	qds := cfg.QDs
	if qds == nil {
		qds = workloads.StandardQDs()
	}
	if err := checkQDs(qds); err != nil {
		return nil, bad("QDs", err)
	}
	jobDepths := cfg.QDs == nil
	if name, err := checkPlans(plans, qds, jobDepths); err != nil {
		return nil, bad(name, err)
	}
	backends := cfg.Backends
	if backends == nil {
		backends = []string{results.BackendSim}
	}
	if err := checkBackends(backends); err != nil {
		return nil, bad("Backends", err)
	}
	devs := cfg.Devices
	if devs == nil {
		d, _ := sim.Preset("nvme")
		devs = []sim.Device{d}
	}
	for _, d := range devs {
		if err := d.Validate(); err != nil {
			return nil, bad("Devices", err)
		}
	}
	if name, err := checkCounts(&cfg); err != nil {
		return nil, bad(name, err)
	}
	if strings.TrimSpace(cfg.Out) == "" {
		return nil, bad("Out", errors.New("empty directory"))
	}
	if err := cfg.Shard.Validate(); err != nil {
		return nil, bad("Shard", err)
	}
	checkOut := checkOutDir
	if !cfg.Shard.Whole() {
		checkOut = checkShardDir
	}
	if err := checkOut(cfg.Out); err != nil {
		return nil, bad("Out", err)
	}
	if _, err := model.Lookup(cfg.Baseline); err != nil {
		return nil, bad("Baseline", err)
	}
	s := &Setup{out: cfg.Out, baseline: cfg.Baseline, command: cfg.Command, noPlots: cfg.NoPlots, noVerdicts: cfg.NoVerdicts, verbose: cfg.Verbose}
	s.matrix = workloads.Matrix{
		Policies: policies, Plans: plans, QDs: qds, JobDepths: jobDepths, Backends: backends, Devices: devs,
		Repeat: cfg.Repeat, Warmup: cfg.Warmup, Seed: cfg.Seed, Parallel: cfg.Parallel,
		Dir: cfg.Dir, File: file.Options{Direct: cfg.Direct, Workers: cfg.FileWorkers},
	}
	if s.linNote, err = setLinearizability(&s.matrix, cfg.Linearizability, cfg.Out); err != nil {
		return nil, bad("Linearizability", err)
	}
	if err := checkRuns(&s.matrix); err != nil {
		return nil, bad("Repeat", err)
	}
	if err := s.setFileBackend(&cfg); err != nil {
		return nil, err
	}
	if !cfg.Shard.Whole() {
		whole := cfg.WholeCommand
		if whole == "" {
			whole = cfg.Command
		}
		if s.shard, err = planShard(cfg.Shard, &s.matrix, cfg.NoVerdicts, whole); err != nil {
			return nil, bad("Shard", err)
		}
		s.matrix.Include = func(c results.Config) bool { return s.shard.configs[c] }
		var p results.Provenance
		p.Commit, p.Dirty = commitOf(cfg.Out)
		if err := checkResume(cfg.Out, s.manifest(&p)); err != nil {
			return nil, bad("Out", err)
		}
	}
	return s, nil
}

// usesFile reports whether the matrix runs on a backend that keeps
// images in files (the file backend).
func (s *Setup) usesFile() bool {
	return slices.ContainsFunc(s.matrix.Backends, backends.InFiles)
}
