package bench

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/workloads/results"
)

// provenance describes the build, the machine and the matrix of a run
// started at start.
func (s *Setup) provenance(start time.Time) results.Provenance {
	m := &s.matrix
	p := results.Provenance{
		Commit:          "unknown",
		GoVersion:       runtime.Version(),
		OS:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		CPUs:            runtime.NumCPU(),
		CPUModel:        cpuModel(),
		LoadAvg:         loadAvg(),
		Date:            start.UTC().Format(time.RFC3339),
		Seed:            m.Seed,
		Repeat:          m.Repeat,
		Warmup:          m.Warmup,
		Command:         s.command,
		FileSystem:      s.fsName,
		CacheMode:       s.cache,
		Linearizability: s.linNote,
		Jobs:            map[string]string{},
	}
	p.Commit, p.Dirty = commitOf(s.out)
	p.HostNotes = hostNotes(s.aioNote, s.discardNote)
	if slices.ContainsFunc(m.Backends, backends.Virtual) {
		for _, d := range m.Devices {
			p.Devices = append(p.Devices, deviceInfo(d))
		}
	}
	for _, pl := range m.Plans {
		p.Jobs[pl.Name()] = pl.JobFileText()
		p.Workloads = append(p.Workloads, pl.Name())
	}
	return p
}

// hostNotes returns the notes that are not empty, for
// Provenance.HostNotes.
func hostNotes(notes ...string) []string {
	return slices.DeleteFunc(notes, func(n string) bool { return n == "" })
}

// deviceInfo returns what provenance records of d: every parameter.
func deviceInfo(d sim.Device) results.DeviceInfo {
	return results.DeviceInfo{
		Name: d.Name, ReadLatencyNs: d.ReadLatency, WriteLatencyNs: d.WriteLatency, FlushLatencyNs: d.FlushLatency,
		BandwidthBps: d.Bandwidth, Parallelism: d.Parallelism, Jitter: d.Jitter, Scaling: d.Scaling,
		ConvertNs: d.ConvertTime, ExtendNs: d.ExtendTime,
	}
}

// commitOf returns the commit of the harness and whether tracked files
// outside outDir differ from it (workTreeDirty), from git; where git
// knows none (a binary built elsewhere, in a container), the VCS
// revision the build recorded; else "unknown".
func commitOf(outDir string) (string, bool) {
	if c, ok := gitCommit(); ok {
		return c, workTreeDirty(outDir)
	}
	if rev, modified, ok := buildRevision(); ok {
		return rev, modified
	}
	return "unknown", false
}

// gitCommit returns the commit git has checked out where runbench runs,
// if it can tell.
func gitCommit() (string, bool) {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

// buildRevision returns the VCS revision the binary's build recorded
// (go build in a git work tree does) and whether its work tree was
// modified, if it recorded one.
func buildRevision() (rev string, modified, ok bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false, false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified, rev != ""
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1, 5 and 15 minute load averages from
// /proc/loadavg, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// workTreeDirty reports whether tracked files differ from the commit,
// leaving out the output directory: its earlier results (and the stale
// counterexamples Run removes from it before this is called) are
// what this run replaces, not a change to the code that made them.
func workTreeDirty(outDir string) bool {
	args := []string{"status", "--porcelain", "--untracked-files=no", "--", "."}
	if top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
		root := strings.TrimSpace(string(top))
		if abs, err := filepath.Abs(outDir); err == nil {
			if rel, err := filepath.Rel(root, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
				args = append(args, ":(top,exclude)"+filepath.ToSlash(rel))
			}
		}
	}
	st, err := exec.Command("git", args...).Output()
	return err == nil && len(strings.TrimSpace(string(st))) > 0
}
