package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/qedharness/qedharness/workloads"
)

// collectProvenance describes the build, the machine and the matrix.
func collectProvenance(s *setup, args []string, start time.Time) workloads.Provenance {
	m := &s.matrix
	p := workloads.Provenance{
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
		Command:         strings.TrimSpace("runbench " + strings.Join(args, " ")),
		FileSystem:      s.fsName,
		CacheMode:       s.cache,
		Linearizability: s.linNote,
		Jobs:            map[string]string{},
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		p.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			p.Dirty = len(strings.TrimSpace(string(st))) > 0
		}
	}
	if contains(m.Backends, workloads.BackendSim) {
		for _, d := range m.Devices {
			p.Devices = append(p.Devices, workloads.DeviceInfo{
				Name: d.Name, ReadLatencyNs: d.ReadLatency, WriteLatencyNs: d.WriteLatency, FlushLatencyNs: d.FlushLatency,
				BandwidthBps: d.Bandwidth, Parallelism: d.Parallelism, Jitter: d.Jitter,
			})
		}
	}
	for _, pl := range m.Plans {
		j := pl.Job()
		p.Jobs[j.Name] = j.String()
		p.Workloads = append(p.Workloads, j.Name)
	}
	return p
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
