package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/model"
)

// The files of an exploration shard's directory, beside ShardFile:
// every policy's result as JSON, for MergeExplore, and as runbench
// explore prints it.
const (
	exploreFile = "explore.json"
	exploreText = "explore.txt"
)

// exploreFileContent is the content of exploreFile.
type exploreFileContent struct {
	Results []*checker.ExploreResult `json:"results"`
}

// ExploreShard explores shard cfg.Shard of the search of every policy of
// regs under cfg (checker.ExploreConfig.Shard) and writes, to the shard
// directory out, explore.json, explore.txt and shard.json, the manifest
// (written first incomplete, last complete, as Run's shards). It prints
// each policy's result to stdout as runbench explore does. A directory
// already holding this shard complete is skipped and its results
// returned; one holding it in part is redone; one holding anything else
// is refused (a *SettingError for "Out"). command is the whole
// exploration's command line (without -shard and -out), for the merge.
func ExploreShard(regs []model.Registration, cfg checker.ExploreConfig, out, command string, stdout io.Writer) ([]*checker.ExploreResult, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if cfg.Shard.Whole() {
		return nil, bad("Shard", errors.New("no shard given"))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	commit, dirty := commitOf(out)
	host, _ := os.Hostname()
	want := &shardManifest{Kind: shardExplore, Shard: cfg.Shard.String(), Matrix: exploreFingerprint(regs, cfg), Commit: commit, Dirty: dirty,
		Command: command, Host: host, Date: start.UTC().Format(time.RFC3339)}
	for _, r := range regs {
		want.Policies = append(want.Policies, r.Name)
	}
	done, err := resumeShard(out, want)
	if err != nil {
		return nil, bad("Out", err)
	}
	if done != nil {
		rs, err := readExploreShard(out)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "explore: shard %s is complete in %s/ (made %s on %s in %.1fs): skipped; remove %s to run it again\n",
			done.Shard, out, done.Date, done.Host, done.WallSeconds, filepath.Join(out, ShardFile))
		return rs, nil
	}
	if err := writeManifest(out, want); err != nil {
		return nil, err
	}
	var text bytes.Buffer
	w := io.MultiWriter(stdout, &text)
	var rs []*checker.ExploreResult
	for _, reg := range regs {
		r, err := checker.Explore(reg, cfg)
		if err != nil {
			return rs, err
		}
		rs = append(rs, r)
		checker.WriteExploreResult(w, r, false)
		if r.HasStates() {
			if err := writeStates(out, r); err != nil {
				return rs, err
			}
		}
	}
	b, err := json.MarshalIndent(exploreFileContent{rs}, "", "  ")
	if err != nil {
		return rs, err
	}
	if err := writeFileAtomic(filepath.Join(out, exploreFile), append(b, '\n')); err != nil {
		return rs, err
	}
	if err := writeFileAtomic(filepath.Join(out, exploreText), text.Bytes()); err != nil {
		return rs, err
	}
	want.Complete, want.WallSeconds = true, time.Since(start).Seconds()
	return rs, writeManifest(out, want)
}

// statesFile names the file of the states a model-mode shard stored for
// policy (checker.ExploreResult.WriteStates).
func statesFile(policy string) string { return "states-" + policy + ".bin" }

// writeStates writes r's stored states into the shard directory dir,
// under a temporary name renamed when complete, as writeFileAtomic does,
// but streamed: a large search's states need not be in memory twice.
func writeStates(dir string, r *checker.ExploreResult) error {
	path := filepath.Join(dir, statesFile(r.Policy))
	tmp, err := os.CreateTemp(dir, "."+statesFile(r.Policy)+".*")
	if err != nil {
		return err
	}
	err = r.WriteStates(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// unionStates sets m.States to the exact count of the whole search's
// states when every shard directory holds its states for m's policy and
// the search held (a violated search stops at a different depth in each
// shard, and its union is no count of the whole): the union of the
// shards' stored states (checker.CountUnion).
func unionStates(dirs []string, m *checker.ExploreResult) error {
	if m.Config.Mode == checker.ExploreImpl || m.Verdict != checker.Holds || m.Shard == nil || m.Shard.Split < 0 {
		return nil
	}
	var files []io.Reader
	var names []string
	for _, d := range dirs {
		path := filepath.Join(d, statesFile(m.Policy))
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // written by a shard that kept no states: the bound stands
		}
		if err != nil {
			return err
		}
		defer f.Close()
		files, names = append(files, f), append(names, path)
	}
	n, err := checker.CountUnion(files, names)
	if err != nil {
		return err
	}
	m.States, m.Shard.ExactStates = n, true
	return nil
}

// exploreFingerprint hashes the exploration, shard and workers aside.
func exploreFingerprint(regs []model.Registration, cfg checker.ExploreConfig) string {
	cfg.Shard.K, cfg.Workers = 0, 0
	var names []string
	for _, r := range regs {
		names = append(names, r.Name)
	}
	return hashJSON(struct {
		Config   checker.ExploreConfig
		Policies []string
	}{cfg, names})
}

// readExploreShard reads the results of an exploration shard directory.
func readExploreShard(dir string) ([]*checker.ExploreResult, error) {
	var c exploreFileContent
	err := readJSON(filepath.Join(dir, exploreFile), &c)
	return c.Results, err
}

// MergeExplore merges the exploration shards in dirs (runbench explore
// -shard K/N -out DIR), policy by policy (checker.MergeExploreShards).
// It refuses, with a *SettingError for "Shards", what Merge refuses:
// directories that are no complete exploration shards, shards of
// different explorations (configuration or policies), commits or shard
// counts, a shard twice, and missing shards, named.
func MergeExplore(dirs []string) ([]*checker.ExploreResult, error) {
	shards, err := readShards(dirs, shardExplore, "")
	if err != nil {
		return nil, bad("Shards", err)
	}
	var parts [][]*checker.ExploreResult
	for _, sh := range shards {
		rs, err := readExploreShard(sh.dir)
		if err != nil {
			return nil, bad("Shards", fmt.Errorf("shard %s: %w", sh.man.Shard, err))
		}
		if len(rs) != len(sh.man.Policies) {
			return nil, bad("Shards", fmt.Errorf("shard %s in %s: %s holds %d results for %d policies", sh.man.Shard, sh.dir, exploreFile, len(rs), len(sh.man.Policies)))
		}
		parts = append(parts, rs)
	}
	var out []*checker.ExploreResult
	for i := range shards[0].man.Policies {
		var ps []*checker.ExploreResult
		for _, rs := range parts {
			ps = append(ps, rs[i])
		}
		m, err := checker.MergeExploreShards(ps)
		if err != nil {
			return out, bad("Shards", err)
		}
		var dirs []string
		for _, sh := range shards {
			dirs = append(dirs, sh.dir)
		}
		if err := unionStates(dirs, m); err != nil {
			return out, bad("Shards", err)
		}
		out = append(out, m)
	}
	return out, nil
}
