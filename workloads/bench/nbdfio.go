package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// nbdTailReads is the number of reads of the first block that end the
// iolog: fio stops replaying a log without waiting for the I/Os still in
// flight, and those are then these reads, not the measured writes and
// flush.
const nbdTailReads = 64

// nbdSalt separates the PCG stream of the write order from other users
// of the same seed.
const nbdSalt = 0x6e62642d6f726472

// writeNBDIOLog writes the iolog (fio's version 2) of one round: count 4
// KiB writes, one at the start of each of count 64 KiB clusters, in an
// order shuffled with seed (Fisher-Yates over a PCG stream), then a
// flush, then nbdTailReads reads of the first block.
func writeNBDIOLog(w io.Writer, count int, seed int64) error {
	order := make([]uint64, count)
	for i := range order {
		order[i] = uint64(i)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), nbdSalt))
	for i := count - 1; i > 0; i-- {
		j := rng.Uint64N(uint64(i) + 1)
		order[i], order[j] = order[j], order[i]
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "fio version 2 iolog\nnbd add\nnbd open\n")
	for _, c := range order {
		fmt.Fprintf(bw, "nbd write %d %d\n", c*nbdClusterSize, nbdBlock)
	}
	fmt.Fprintf(bw, "nbd sync 0 0\n")
	for range nbdTailReads {
		fmt.Fprintf(bw, "nbd read 0 %d\n", nbdBlock)
	}
	return bw.Flush()
}

// writeNBDIOLogFile writes writeNBDIOLog's iolog to a new file at path.
func writeNBDIOLogFile(path string, count int, seed int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("iolog: %w", err)
	}
	err = writeNBDIOLog(f, count, seed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("iolog %s: %w", path, err)
	}
	return nil
}

// fioOptions are the options of runbench nbd's fio job, in order, for a
// server on sock, the iolog at iolog and fio's iodepth qd. Latency
// percentiles are of the total latency (lat: submission to completion),
// what a client sees, rather than fio's default completion latency. The
// job runs as a thread of fio's process (thread=1), not a process of its
// own, so that killing fio stops it.
func fioOptions(sock, iolog string, qd int) [][2]string {
	return [][2]string{
		{"name", NBDWorkload}, {"ioengine", "nbd"}, {"uri", "nbd+unix:///?socket=" + sock}, {"read_iolog", iolog},
		{"iodepth", strconv.Itoa(qd)}, {"thread", "1"}, {"lat_percentiles", "1"}, {"percentile_list", "50:99:99.9"},
	}
}

// nbdJobText renders the job as a fio job file section, for the
// provenance: what each run gave fio (the socket and iolog paths as
// placeholders), with a comment saying what the iolog holds.
func nbdJobText(count, qd int, versions string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "; %s: the iolog holds %d writes of %s, one at the start of each %s cluster of a fresh image, shuffled with the round's seed, then a flush, then %d reads of the first block\n",
		versions, count, workloads.FormatSize(nbdBlock), workloads.FormatSize(nbdClusterSize), nbdTailReads)
	for _, kv := range fioOptions("SOCKET", "IOLOG", qd) {
		if kv[0] == "name" {
			fmt.Fprintf(&b, "[%s]\n", kv[1])
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.String()
}

// runFio runs fio's nbd engine against the server on sock, replaying
// iolog at depth qd, in dir (where fio may leave state files), and
// returns its report.
func runFio(ctx context.Context, fio, dir, sock, iolog string, qd int) (*fioJob, error) {
	var args []string
	for _, kv := range fioOptions(sock, iolog, qd) {
		args = append(args, "--"+kv[0]+"="+kv[1])
	}
	args = append(args, "--output-format=json+")
	var out bytes.Buffer
	stderr := &tailBuffer{max: 2048}
	cmd := exec.CommandContext(ctx, fio, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, stderr
	cmd.WaitDelay = 5 * time.Second // once killed, in case something still holds its output
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("fio: %v: %s", err, stderr)
	}
	return parseFio(out.Bytes())
}

// fioReport is the part of fio's JSON output (json+) runbench nbd reads.
type fioReport struct {
	Jobs []fioJob `json:"jobs"`
}

// fioJob is one job of a fio report.
type fioJob struct {
	Error int    `json:"error"`
	Write fioDir `json:"write"`
	Sync  struct {
		TotalIOs uint64 `json:"total_ios"`
	} `json:"sync"`
}

// fioDir is a job's figures for one direction.
type fioDir struct {
	BWBytes  float64 `json:"bw_bytes"`
	IOPS     float64 `json:"iops"`
	Runtime  float64 `json:"runtime"` // milliseconds
	TotalIOs uint64  `json:"total_ios"`
	Lat      fioLat  `json:"lat_ns"`
}

// fioLat is a latency distribution in nanoseconds: the percentiles
// asked for (keys as "99.900000") and, with json+, fio's histogram,
// each bucket's value with its count.
type fioLat struct {
	Max        float64            `json:"max"`
	Mean       float64            `json:"mean"`
	Percentile map[string]float64 `json:"percentile"`
	Bins       map[string]int64   `json:"bins"`
}

// parseFio reads fio's JSON output; the nbd engine prints a line before
// it ("fio: connected to NBD server"), which is skipped.
func parseFio(out []byte) (*fioJob, error) {
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return nil, fmt.Errorf("fio: no JSON in its output: %.200q", out)
	}
	var rep fioReport
	if err := json.Unmarshal(out[i:], &rep); err != nil {
		return nil, fmt.Errorf("fio: its JSON output: %w", err)
	}
	if len(rep.Jobs) != 1 {
		return nil, fmt.Errorf("fio: %d jobs in its output, want 1", len(rep.Jobs))
	}
	return &rep.Jobs[0], nil
}

// check reports why the job's report is not that of a complete run of
// count writes and a flush.
func (j *fioJob) check(count int) error {
	switch {
	case j.Error != 0:
		return fmt.Errorf("fio: the job ended with error %d", j.Error)
	case j.Write.TotalIOs != uint64(count):
		return fmt.Errorf("fio: %d writes done of %d", j.Write.TotalIOs, count)
	case j.Sync.TotalIOs == 0:
		return errors.New("fio: the flush was not done")
	case j.Write.IOPS <= 0 || j.Write.Runtime <= 0:
		return fmt.Errorf("fio: no rate (%g IOPS in %g ms)", j.Write.IOPS, j.Write.Runtime)
	}
	return nil
}

// percentile returns the latency percentile p (as 99.9) in
// nanoseconds, or 0 if fio did not report it.
func (l *fioLat) percentile(p float64) float64 {
	for k, v := range l.Percentile {
		if x, err := strconv.ParseFloat(k, 64); err == nil && math.Abs(x-p) < 1e-6 {
			return v
		}
	}
	return 0
}

// fill puts the job's write figures into rec: fio's IOPS and bandwidth
// over its write runtime (the flush and the tail reads inside it), the
// percentiles, mean and maximum of the total latency, the histogram
// (fio's buckets, about 1.6% wide, recorded at their values), and the
// queue depth achieved by Little's law (IOPS x mean latency).
func (j *fioJob) fill(rec *results.Record) {
	w := &j.Write
	rec.Ops, rec.Seconds, rec.OpsPerSec, rec.MiBPerSec = w.TotalIOs, w.Runtime/1e3, w.IOPS, w.BWBytes/(1<<20)
	rec.LatP50Us, rec.LatP99Us, rec.LatP999Us = w.Lat.percentile(50)/1e3, w.Lat.percentile(99)/1e3, w.Lat.percentile(99.9)/1e3
	rec.LatMeanUs, rec.LatMaxUs = w.Lat.Mean/1e3, w.Lat.Max/1e3
	rec.AchievedQD = w.IOPS * w.Lat.Mean / 1e9
	if len(w.Lat.Bins) == 0 {
		return
	}
	h := results.NewLatencyHistogram()
	for k, n := range w.Lat.Bins {
		v, err := strconv.ParseInt(k, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		// In range after the clamp, so RecordValues cannot fail.
		_ = h.RecordValues(min(max(v, results.LatencyLowestNs), results.LatencyHighestNs), n)
	}
	enc, err := results.EncodeLatency(h)
	if err != nil {
		rec.Error = err.Error()
		return
	}
	rec.LatencyHDR = enc
}
