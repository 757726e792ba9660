package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
	"github.com/qedharness/qedharness/workloads/shard"
)

// A sharded run (Config.Shard K/N) makes the K-th of N slices of the
// matrix: the configurations (each with all its repetitions and
// warm-ups, on the whole matrix's schedule and seeds) and the verdict
// checks (one checker on one policy under one table-write scheme) are
// dealt to the N shards by estimated cost (workloads.EstimatedRunSeconds,
// verdictJob.estimatedSeconds) with shard.Partition, so every shard
// computes the same assignment alone. A shard writes runs.json,
// runs.csv, bench.txt and summary.txt of its own runs and verdicts, the
// counterexamples it found, and shard.json, the manifest: which shard of
// which matrix, from which commit, and where each of its runs stands in
// the whole matrix's order. Merge puts the shards back together.
//
// shard.json is written first, marked incomplete, and last, atomically,
// marked complete: a shard whose directory holds a complete manifest of
// the same matrix skips, one whose manifest is incomplete was
// interrupted and is redone, removing only the files a shard writes.

// ShardFile is the manifest of a shard directory, its completion marker.
const ShardFile = "shard.json"

// Kinds of shard directory.
const (
	shardRuns    = "runs"    // runbench -shard
	shardExplore = "explore" // runbench explore -shard
)

// shardManifest is the content of ShardFile.
type shardManifest struct {
	// Kind is shardRuns or shardExplore; Shard "K/N".
	Kind  string `json:"kind"`
	Shard string `json:"shard"`
	// Complete is false from the shard's start until everything else is
	// written.
	Complete bool `json:"complete"`
	// Matrix fingerprints what the whole computes, seed and commit
	// aside (fingerprint); Seed and Commit are those of the run.
	Matrix string `json:"matrix"`
	Seed   int64  `json:"seed"`
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	// Command is the command line of the whole matrix: the shard's
	// without -shard and -out.
	Command string `json:"command"`
	// Policies names the policies, in table order.
	Policies []string `json:"policies"`
	// Total is the number of measured runs of the whole matrix;
	// Positions gives, for each record of the shard's runs.json in its
	// order, its position in the whole matrix's (MeasuredOrder).
	Total     int   `json:"total_runs"`
	Positions []int `json:"positions"`
	// Configs and Checks are what the shard made: configurations and
	// verdict checks, of ConfigsTotal and ChecksTotal.
	Configs      int `json:"configs"`
	ConfigsTotal int `json:"configs_total"`
	Checks       int `json:"checks"`
	ChecksTotal  int `json:"checks_total"`
	// EstimatedShare is the shard's share of the estimated cost.
	EstimatedShare float64 `json:"estimated_share"`
	// Host, Date and WallSeconds say where, when and how long.
	Host        string  `json:"host,omitempty"`
	Date        string  `json:"date"`
	WallSeconds float64 `json:"wall_seconds"`
}

// shardPlan is what a Setup of a sharded run makes of the matrix: its
// share of the configurations and of the verdict checks.
type shardPlan struct {
	spec     shard.Spec
	configs  map[results.Config]bool
	nConfigs int // the matrix's
	checks   []verdictJob
	nChecks  int
	share    float64 // of the estimated cost
	matrix   string  // fingerprint
	command  string  // the whole matrix's
}

// planShard deals the configurations of m and the verdict checks (none
// with noVerdicts) among spec.N shards and returns spec's share.
func planShard(spec shard.Spec, m *workloads.Matrix, noVerdicts bool, command string) (*shardPlan, error) {
	configs := m.Configs()
	costs := m.EstimatedCosts()
	var checks []verdictJob
	if !noVerdicts {
		checks = verdictJobs(m.Policies)
		for _, j := range checks {
			costs = append(costs, j.estimatedSeconds())
		}
	}
	owner, err := shard.Partition(costs, spec.N)
	if err != nil {
		return nil, err
	}
	p := &shardPlan{spec: spec, configs: map[results.Config]bool{}, nConfigs: len(configs), nChecks: len(checks), command: command}
	var mine, total float64
	for i, o := range owner {
		total += costs[i]
		if o != spec.K-1 {
			continue
		}
		mine += costs[i]
		if i < len(configs) {
			p.configs[configs[i]] = true
		} else {
			p.checks = append(p.checks, checks[i-len(configs)])
		}
	}
	if total > 0 {
		p.share = mine / total
	}
	p.matrix = fingerprint(m, checks)
	return p, nil
}

// fingerprint hashes what the matrix computes, seed aside: every
// configuration, the repetitions, the jobs as job file sections, every
// device's figures, which runs are checked, the file backend's settings
// and the verdict checks. Two shards with the same fingerprint, seed and
// commit are parts of one matrix.
func fingerprint(m *workloads.Matrix, checks []verdictJob) string {
	type desc struct {
		Configs       []results.Config
		Repeat        int
		Warmup        int
		Jobs          []string
		Devices       []string
		VerifyRepeats int
		VerifyQD      int
		Verify        bool
		Baselines     []string
		File          string
		Checks        []string
	}
	d := desc{Configs: m.Configs(), Repeat: m.Repeat, Warmup: m.Warmup, Baselines: m.Baselines,
		VerifyRepeats: m.VerifyRepeats, VerifyQD: m.VerifyQD, Verify: m.Verify != nil, File: fmt.Sprintf("%+v", m.File)}
	for _, p := range m.Plans {
		d.Jobs = append(d.Jobs, p.JobFileText())
	}
	for _, dev := range m.Devices {
		d.Devices = append(d.Devices, fmt.Sprintf("%+v", dev))
	}
	for _, j := range checks {
		d.Checks = append(d.Checks, j.String())
	}
	return hashJSON(d)
}

// hashJSON returns the first 64 bits of the SHA-256 of v's JSON, in hex:
// a fingerprint of plain data.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fingerprint of %T: %v", v, err)) // plain data: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// readManifest reads dir's shard manifest; a missing one is an error
// wrapping fs.ErrNotExist.
func readManifest(dir string) (*shardManifest, error) {
	var m shardManifest
	if err := readJSON(filepath.Join(dir, ShardFile), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// readJSON decodes the JSON file at path into v; an error names the
// file, and wraps fs.ErrNotExist for a missing one.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeManifest writes m to dir, atomically.
func writeManifest(dir string, m *shardManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ShardFile), append(b, '\n'))
}

// checkShardDir refuses a shard directory that is neither new, empty,
// nor a shard directory (one with a ShardFile): Run would write files
// of someone else's names there. Whether a shard directory is complete,
// partial or another matrix's, Run decides (resumeShard).
func checkShardDir(dir string) error {
	return checkOwnDir(dir, ShardFile, "a shard directory runbench wrote; a shard would write files of its own names there")
}

// checkResume refuses a shard directory that holds another shard than
// want, or another matrix's, seed's or commit's: what resumeShard would
// refuse, found without changing anything.
func checkResume(dir string, want *shardManifest) error {
	got, err := readManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := sameShard(got, want); err != nil {
		return fmt.Errorf("%s holds %s; remove it or choose another directory", dir, err)
	}
	return nil
}

// resumeShard decides what to do with the shard directory dir before a
// shard like want starts: it returns the manifest found when dir holds
// that shard complete (skip it), nil when the shard is to run (dir is
// new or empty, or held that shard partly, whose files it removed), and
// an error when dir holds another shard, another matrix's, or another
// commit's.
func resumeShard(dir string, want *shardManifest) (*shardManifest, error) {
	got, err := readManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, checkShardDir(dir)
	}
	if err != nil {
		return nil, err
	}
	if err := checkResume(dir, want); err != nil {
		return nil, err
	}
	if got.Complete {
		return got, nil
	}
	return nil, removeShardFiles(dir)
}

// sameShard says how a manifest found differs from the one wanted, or
// returns nil.
func sameShard(got, want *shardManifest) error {
	switch {
	case got.Kind != want.Kind:
		return fmt.Errorf("a shard of %s, not of %s", kindName(got.Kind), kindName(want.Kind))
	case got.Shard != want.Shard:
		return fmt.Errorf("shard %s, not %s", got.Shard, want.Shard)
	case got.Matrix != want.Matrix:
		return fmt.Errorf("shard %s of a different %s (fingerprint %s, this one's %s)", got.Shard, kindNoun(got.Kind), got.Matrix, want.Matrix)
	case got.Seed != want.Seed:
		return fmt.Errorf("shard %s of seed %d, not %d", got.Shard, got.Seed, want.Seed)
	case got.Commit != want.Commit:
		return fmt.Errorf("shard %s made by commit %s, not %s", got.Shard, got.Commit, want.Commit)
	}
	return nil
}

// kindName names what a shard of kind is part of, with its article:
// "a matrix", "an exploration".
func kindName(kind string) string {
	if kind == shardExplore {
		return "an exploration"
	}
	return "a matrix"
}

// kindNoun is kindName without the article.
func kindNoun(kind string) string {
	if kind == shardExplore {
		return "exploration"
	}
	return "matrix"
}

// kindPlural is kindName's plural: "matrices", "explorations".
func kindPlural(kind string) string {
	if kind == shardExplore {
		return "explorations"
	}
	return "matrices"
}

// shardOutputs are the files a shard writes at its top level; shardTemp
// matches their temporary names (writeFileAtomic); shardCounterexamples
// matches what it writes in CounterexampleDir: histories found not
// linearizable (linearize.go) and diagrams of violations (writeDiagrams).
var (
	shardOutputs         = []string{"runs.json", "runs.csv", "bench.txt", "summary.txt", exploreFile, exploreText}
	shardTemp            = regexp.MustCompile(`^\.(runs\.json|runs\.csv|bench\.txt|summary\.txt|explore\.json|explore\.txt|shard\.json)\.[0-9]+$`)
	shardCounterexamples = regexp.MustCompile(`^(.+_repeat-[0-9]+\.(txt|html)|[a-z0-9-]+-(ordered|snapshot)-[a-z]+-explorer\.svg)$`)
)

// shardStates matches the state files of an exploration shard
// (statesFile) and their temporary names.
var shardStates = regexp.MustCompile(`^\.?states-[a-z0-9-]+\.bin(\.[0-9]+)?$`)

// removeShardFiles removes from the shard directory dir what a shard
// writes there, but its manifest: the result files, their temporary
// files, and the counterexamples (then their directory, if empty). Any
// other file stays.
func removeShardFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if slices.Contains(shardOutputs, e.Name()) || shardTemp.MatchString(e.Name()) || (e.Type().IsRegular() && shardStates.MatchString(e.Name())) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	cx := filepath.Join(dir, CounterexampleDir)
	entries, err = os.ReadDir(cx)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.Join(errs...)
	}
	if err != nil {
		return err
	}
	left := 0
	for _, e := range entries {
		if e.Type().IsRegular() && shardCounterexamples.MatchString(e.Name()) {
			errs = append(errs, os.Remove(filepath.Join(cx, e.Name())))
		} else {
			left++
		}
	}
	if left == 0 {
		errs = append(errs, os.Remove(cx))
	}
	return errors.Join(errs...)
}

// verdictJobs returns the verdict checks the run makes: none without
// verdicts, a shard's share, or every one.
func (s *Setup) verdictJobs() []verdictJob {
	switch {
	case s.noVerdicts:
		return nil
	case s.shard != nil:
		return s.shard.checks
	}
	return verdictJobs(s.matrix.Policies)
}

// manifest returns the shard's manifest, incomplete, for a run with
// provenance prov.
func (s *Setup) manifest(prov *results.Provenance) *shardManifest {
	sh := s.shard
	host, _ := os.Hostname()
	m := &shardManifest{
		Kind: shardRuns, Shard: sh.spec.String(), Matrix: sh.matrix, Seed: s.matrix.Seed, Commit: prov.Commit, Dirty: prov.Dirty,
		Command: sh.command, Configs: len(sh.configs), ConfigsTotal: sh.nConfigs, Checks: len(sh.checks), ChecksTotal: sh.nChecks,
		EstimatedShare: sh.share, Host: host, Date: prov.Date,
	}
	for _, r := range s.matrix.Policies {
		m.Policies = append(m.Policies, r.Name)
	}
	return m
}

// finishShard writes the shard's result files and then its manifest,
// complete, with where each of its runs stands in the whole matrix.
func (s *Setup) finishShard(res *results.Results, sums []results.Summary, start time.Time) error {
	order := s.matrix.MeasuredOrder()
	pos := make(map[workloads.RunKey]int, len(order))
	for i, k := range order {
		pos[k] = i
	}
	m := s.manifest(&res.Provenance)
	m.Total = len(order)
	m.Positions = make([]int, len(res.Runs))
	for i, r := range res.Runs {
		p, ok := pos[workloads.RunKey{Config: r.Config(), Repeat: r.Repeat}]
		if !ok {
			return fmt.Errorf("shard %s: run %s repetition %d is not in the matrix", m.Shard, r.Config().Name(), r.Repeat)
		}
		m.Positions[i] = p
	}
	if err := writeResults(s.out, res, sums, s.baseline); err != nil {
		return err
	}
	m.Complete, m.WallSeconds = true, time.Since(start).Seconds()
	return writeManifest(s.out, m)
}

// skipShard reports a shard found complete in its directory and returns
// the results it holds (with a *RunsFailedError if some of its runs
// failed, as when it ran).
func (s *Setup) skipShard(stdout io.Writer, done *shardManifest) (*results.Results, error) {
	res, err := results.ReadResults(filepath.Join(s.out, "runs.json"))
	if err != nil {
		return nil, fmt.Errorf("shard %s: %s says complete: %w", done.Shard, filepath.Join(s.out, ShardFile), err)
	}
	printWrapped(stdout, fmt.Sprintf("runbench: shard %s is complete in %s/ (%d runs, %d verdicts, made %s on %s in %.1fs): skipped; remove %s to run it again",
		done.Shard, s.out, len(res.Runs), len(res.Verdicts), done.Date, done.Host, done.WallSeconds, filepath.Join(s.out, ShardFile)))
	if failed := failedRuns(res.Runs); failed > 0 {
		return res, &RunsFailedError{Failed: failed, Out: s.out}
	}
	return res, nil
}
