package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads/results"
	"github.com/qedharness/qedharness/workloads/shard"
)

// MergeConfig says what Merge merges and where to.
type MergeConfig struct {
	// Shards are the shard directories (runbench -shard K/N -out DIR),
	// in any order.
	Shards []string
	// Out is the results directory written, as Config.Out.
	Out string
	// Baseline, NoPlots and Verbose are as in Config.
	Baseline string
	NoPlots  bool
	Verbose  bool
}

// Merge puts the shards of a matrix back together into one results
// directory, as the whole matrix's run writes it: runs.json (every run
// in the whole matrix's order, every verdict, the linearizability
// verdicts computed again over all the runs), runs.csv, bench.txt,
// summary.txt, the counterexamples, the figures (unless NoPlots) and the
// report. On sim these equal the whole run's byte for byte but for the
// provenance and the wall-clock figures. The provenance is shard 1's,
// with the whole matrix's command, the earliest shard's date and each
// shard's machine and time (Provenance.Shards).
//
// Merge refuses, with a *SettingError for "Shards" naming the
// directories: a directory that is no shard directory or holds an
// incomplete shard; shards of different matrices, seeds, commits or
// shard counts; a shard given twice; and missing shards, named. A bad Out
// or Baseline is a *SettingError for those. Failed runs are merged and
// reported with a *RunsFailedError, as Run does.
func Merge(cfg MergeConfig, stdout io.Writer) (*results.Results, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if _, err := model.Lookup(cfg.Baseline); err != nil {
		return nil, bad("Baseline", err)
	}
	if strings.TrimSpace(cfg.Out) == "" {
		return nil, bad("Out", errors.New("empty directory"))
	}
	if err := checkOutDir(cfg.Out); err != nil {
		return nil, bad("Out", err)
	}
	shards, err := readShards(cfg.Shards, shardRuns, cfg.Out)
	if err != nil {
		return nil, bad("Shards", err)
	}
	first := shards[0].man
	var runs []results.Record
	var verdicts []results.Verdict
	var prov results.Provenance
	var shardNames []string
	var shardNotes [][]string
	slots := make([]*results.Record, first.Total)
	for _, sh := range shards {
		res, err := results.ReadResults(filepath.Join(sh.dir, "runs.json"))
		if err != nil {
			return nil, bad("Shards", fmt.Errorf("shard %s: %w", sh.man.Shard, err))
		}
		if len(res.Runs) != len(sh.man.Positions) {
			return nil, bad("Shards", fmt.Errorf("shard %s in %s: runs.json holds %d runs, %s places %d", sh.man.Shard, sh.dir, len(res.Runs), ShardFile, len(sh.man.Positions)))
		}
		for i, p := range sh.man.Positions {
			if p < 0 || p >= len(slots) || slots[p] != nil {
				return nil, bad("Shards", fmt.Errorf("shard %s in %s: run %d placed at %d, which is out of range or taken", sh.man.Shard, sh.dir, i, p))
			}
			slots[p] = &res.Runs[i]
		}
		for _, v := range res.Verdicts {
			if v.Checker != results.CheckerLinearizability {
				verdicts = append(verdicts, v)
			}
		}
		if sh.man.Shard == first.Shard {
			prov = res.Provenance
		}
		prov.Shards = append(prov.Shards, results.ShardInfo{
			Shard: sh.man.Shard, Host: sh.man.Host, CPUs: res.Provenance.CPUs, CPUModel: res.Provenance.CPUModel,
			LoadAvg: res.Provenance.LoadAvg, LoadAvgEnd: res.Provenance.LoadAvgEnd, Date: res.Provenance.Date,
			WallSeconds: sh.man.WallSeconds, Runs: len(res.Runs), Verdicts: len(res.Verdicts), EstimatedShare: sh.man.EstimatedShare,
		})
		prov.Date = min(prov.Date, res.Provenance.Date)
		prov.Dirty = prov.Dirty || res.Provenance.Dirty
		shardNotes = append(shardNotes, res.Provenance.HostNotes)
		shardNames = append(shardNames, sh.man.Shard)
	}
	prov.HostNotes = mergeHostNotes(shardNames, shardNotes)
	for _, r := range slots {
		if r != nil {
			runs = append(runs, *r)
		}
	}
	if len(runs) != len(slots) {
		return nil, bad("Shards", fmt.Errorf("the shards hold %d of the matrix's %d runs", len(runs), len(slots)))
	}
	prov.Command = first.Command
	var regs []model.Registration
	for _, name := range first.Policies {
		reg, err := model.Lookup(name)
		if err != nil {
			return nil, bad("Shards", fmt.Errorf("shard %s: %w", first.Shard, err))
		}
		regs = append(regs, reg)
	}
	res := &results.Results{Provenance: prov, Runs: runs}
	res.Verdicts = append(verdicts, LinearizabilityVerdicts(regs, runs)...)
	sortVerdicts(res.Verdicts, regs)
	if err := copyCounterexamples(cfg.Out, shards); err != nil {
		return res, err
	}
	sums := results.Summarize(runs, tableOrder(res))
	if err := writeSummary(stdout, sums, res.Verdicts, cfg.Baseline, cfg.Verbose); err != nil {
		return res, err
	}
	figs, err := writeAll(cfg.Out, plots.ReportInput{
		Results: res, Summaries: sums, Policies: regs, Baseline: cfg.Baseline,
		Command: "go run ./cmd/" + prov.Command, BaselineNotes: baselineNotes(res),
	}, !cfg.NoPlots)
	if err != nil {
		return res, err
	}
	printWrapped(stdout, fmt.Sprintf("\nmerged %d shards: %d runs, %d verdicts; results in %s/ (runs.json, runs.csv, bench.txt, summary.txt, report.md, report.html, %d figures)",
		len(shards), len(runs), len(res.Verdicts), cfg.Out, len(figs)))
	if failed := failedRuns(runs); failed > 0 {
		return res, &RunsFailedError{Failed: failed, Out: cfg.Out}
	}
	return res, nil
}

// shardDir is a shard directory and its manifest.
type shardDir struct {
	dir string
	man *shardManifest
}

// readShards reads the manifests of dirs, shards of kind, and checks they
// are the complete shards of one whole, none of them out; it returns
// them in shard order.
func readShards(dirs []string, kind, out string) ([]shardDir, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no shard directories given")
	}
	var shards []shardDir
	for _, dir := range dirs {
		if same, err := sameDir(dir, out); err == nil && same {
			return nil, fmt.Errorf("%s is both a shard and the merge's output", dir)
		}
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
		m, err := readManifest(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s: no %s: not a shard directory (runbench -shard K/N -out DIR writes one)", dir, ShardFile)
		case err != nil:
			return nil, err
		case m.Kind != kind:
			return nil, fmt.Errorf("%s holds a shard of %s, not of %s", dir, kindName(m.Kind), kindName(kind))
		case !m.Complete:
			return nil, fmt.Errorf("%s: shard %s is incomplete (it did not finish): run it again, it resumes", dir, m.Shard)
		}
		shards = append(shards, shardDir{dir, m})
	}
	first := shards[0]
	spec, err := shard.Parse(first.man.Shard)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", first.dir, err)
	}
	byK := make([]*shardDir, spec.N+1)
	for i := range shards {
		sh := &shards[i]
		s, err := shard.Parse(sh.man.Shard)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sh.dir, err)
		}
		a, b := first.man, sh.man
		switch {
		case s.N != spec.N:
			return nil, fmt.Errorf("refusing to merge shards of different splits: %s is shard %s, %s shard %s", first.dir, a.Shard, sh.dir, b.Shard)
		case a.Commit != b.Commit:
			return nil, fmt.Errorf("refusing to merge shards of different commits: %s is from %s, %s from %s", first.dir, a.Commit, sh.dir, b.Commit)
		case a.Seed != b.Seed:
			return nil, fmt.Errorf("refusing to merge shards of different seeds: %s ran seed %d, %s seed %d", first.dir, a.Seed, sh.dir, b.Seed)
		case a.Matrix != b.Matrix:
			return nil, fmt.Errorf("refusing to merge shards of different %s: %s holds %q (fingerprint %s), %s %q (fingerprint %s)", kindPlural(kind),
				first.dir, a.Command, a.Matrix, sh.dir, b.Command, b.Matrix)
		case byK[s.K] != nil:
			return nil, fmt.Errorf("shard %s given twice: %s and %s", s, byK[s.K].dir, sh.dir)
		}
		byK[s.K] = sh
	}
	var missing []string
	ordered := make([]shardDir, 0, spec.N)
	for k := 1; k <= spec.N; k++ {
		if byK[k] == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", k, spec.N))
		} else {
			ordered = append(ordered, *byK[k])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing shards %s (given %d of %d)", strings.Join(missing, ", "), len(shards), spec.N)
	}
	return ordered, nil
}

// sameDir reports whether a and b are the same existing directory.
func sameDir(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// copyCounterexamples replaces the counterexamples of out with those of
// every shard (the files a shard writes there, no other). Shards name theirs by configuration and repetition, or
// by policy, scheme and checker, so two shards never write one name; a
// name two shards hold with different contents is an error.
func copyCounterexamples(out string, shards []shardDir) error {
	dst := filepath.Join(out, CounterexampleDir)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	from := map[string]string{}
	for _, sh := range shards {
		src := filepath.Join(sh.dir, CounterexampleDir)
		entries, err := os.ReadDir(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !shardCounterexamples.MatchString(e.Name()) {
				continue // not a shard's
			}
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return err
			}
			target := filepath.Join(dst, e.Name())
			if prev, ok := from[e.Name()]; ok {
				if old, err := os.ReadFile(target); err != nil || !bytes.Equal(old, b) {
					return fmt.Errorf("counterexample %s differs between %s and %s", e.Name(), prev, sh.dir)
				}
				continue
			}
			if err := writeFileAtomic(target, b); err != nil {
				return err
			}
			from[e.Name()] = sh.dir
		}
	}
	return nil
}

// mergeHostNotes returns the host notes of shards names, whose notes are
// notes[i]: each note once, in shard order, with the shards that printed
// it ("(shards 1/3, 2/3) ...") unless every shard did.
func mergeHostNotes(names []string, notes [][]string) []string {
	var order []string
	by := map[string][]string{}
	for i, ns := range notes {
		for _, n := range ns {
			if _, ok := by[n]; !ok {
				order = append(order, n)
			}
			if !slices.Contains(by[n], names[i]) {
				by[n] = append(by[n], names[i])
			}
		}
	}
	var out []string
	for _, n := range order {
		if len(by[n]) == len(names) {
			out = append(out, n)
			continue
		}
		word := "shard"
		if len(by[n]) > 1 {
			word = "shards"
		}
		out = append(out, fmt.Sprintf("(%s %s) %s", word, strings.Join(by[n], ", "), n))
	}
	return out
}
