package results

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Provenance says where and how a set of runs was made.
type Provenance struct {
	// Commit is the git commit of the harness, or "unknown".
	Commit string `json:"commit"`
	// Dirty is true when tracked files outside the output directory had
	// uncommitted changes.
	Dirty bool `json:"dirty"`
	// GoVersion, OS, Arch, CPUs (logical) and CPUModel describe the build
	// and the machine.
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	// LoadAvg is the machine's load average (1, 5, 15 minutes) when the
	// runs started and when they ended: wall-clock figures made under
	// load from other work are slower and noisier.
	LoadAvg    string `json:"load_avg,omitempty"`
	LoadAvgEnd string `json:"load_avg_end,omitempty"`
	// Date is when the runs started, RFC 3339.
	Date string `json:"date"`
	// Seed is the matrix's base seed; Repeat and Warmup its repetitions.
	Seed   int64 `json:"seed"`
	Repeat int   `json:"repeat"`
	Warmup int   `json:"warmup"`
	// Command is the command line.
	Command string `json:"command"`
	// FileSystem and CacheMode describe the file backend's directory and
	// I/O mode ("buffered" or "direct", with "+grow" when the image file
	// was grown ahead of allocating writes and "+workers=N" when the I/O
	// goroutines were not the default 64); empty without the file
	// backend.
	FileSystem string `json:"file_system,omitempty"`
	CacheMode  string `json:"cache_mode,omitempty"`
	// HostNotes are what the run said of its host before it started, as
	// it printed them: a file system that discards freed blocks online
	// (which slows some policies' first writes there), io_uring refused.
	// The report repeats them with its provenance.
	HostNotes []string `json:"host_notes,omitempty"`
	// Linearizability says how runs were checked, or why they were not.
	Linearizability string `json:"linearizability"`
	// Devices describes each sim device used.
	Devices []DeviceInfo `json:"devices,omitempty"`
	// Workloads lists the workloads in job order; Jobs holds each as a
	// job file section.
	Workloads []string          `json:"workloads,omitempty"`
	Jobs      map[string]string `json:"jobs,omitempty"`
	// Shards, for results merged from shards (runbench -shard, runbench
	// merge), says where and when each shard ran; the fields above are
	// then shard 1's, Date the earliest shard's and Dirty true if any
	// shard's was.
	Shards []ShardInfo `json:"shards,omitempty"`
}

// ShardInfo describes one shard of a merged result.
type ShardInfo struct {
	// Shard is "K/N".
	Shard string `json:"shard"`
	// Host, CPUs, CPUModel, LoadAvg and LoadAvgEnd describe the machine
	// as Provenance does; Date is when the shard started, RFC 3339.
	Host       string `json:"host,omitempty"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	LoadAvg    string `json:"load_avg,omitempty"`
	LoadAvgEnd string `json:"load_avg_end,omitempty"`
	Date       string `json:"date"`
	// WallSeconds is how long the shard took; Runs and Verdicts what it
	// made; EstimatedShare its share of the matrix's estimated cost.
	WallSeconds    float64 `json:"wall_seconds"`
	Runs           int     `json:"runs"`
	Verdicts       int     `json:"verdicts"`
	EstimatedShare float64 `json:"estimated_share"`
}

// DeviceInfo records a sim device's parameters, with the keys of its
// preset file (sim.Device's JSON).
type DeviceInfo struct {
	Name           string  `json:"name"`
	ReadLatencyNs  int64   `json:"read_latency_ns"`
	WriteLatencyNs int64   `json:"write_latency_ns"`
	FlushLatencyNs int64   `json:"flush_latency_ns"`
	BandwidthBps   int64   `json:"bandwidth_bytes_per_sec"`
	Parallelism    int     `json:"parallelism"`
	Jitter         float64 `json:"jitter"`
	// Scaling, ConvertNs and ExtendNs are sim.Device's Scaling,
	// ConvertTime and ExtendTime, left out when 0.
	Scaling   float64 `json:"scaling,omitempty"`
	ConvertNs int64   `json:"convert_ns,omitempty"`
	ExtendNs  int64   `json:"extend_ns,omitempty"`
}

// Results is the content of runs.json: provenance, then one record per
// measured run.
type Results struct {
	Provenance Provenance `json:"provenance"`
	Runs       []Record   `json:"runs"`
	// Verdicts are every checker's findings per policy (Verdict), when
	// they were made.
	Verdicts []Verdict `json:"verdicts,omitempty"`
}

// WriteJSON writes res as indented JSON.
func (res *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// ReadResults reads a runs.json file.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}
