package workloads

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Baselines: the same workload on QEMU's own drivers through qemu-img
// bench, and on a preallocated raw file with no metadata at all (the
// device's limit). They run on the file backend only.
const (
	// BaselineQED is QEMU's QED driver.
	BaselineQED = "qemu-qed"
	// BaselineQcow2 is QEMU's qcow2 driver.
	BaselineQcow2 = "qemu-qcow2"
	// BaselineRaw is a preallocated raw file through qemu-img bench.
	BaselineRaw = "raw"
)

// BaselineNames returns every baseline, in table order.
func BaselineNames() []string { return []string{BaselineQED, BaselineQcow2, BaselineRaw} }

// IsBaseline reports whether name is a baseline rather than a policy.
func IsBaseline(name string) bool {
	for _, b := range BaselineNames() {
		if b == name {
			return true
		}
	}
	return false
}

// BaselineConfig configures one qemu-img bench run.
type BaselineConfig struct {
	// QemuImg is the qemu-img executable.
	QemuImg string
	// Baseline is BaselineQED, BaselineQcow2 or BaselineRaw.
	Baseline string
	// Plan is the workload; QD the queue depth (0: the job's iodepth).
	Plan *Plan
	QD   int
	// Dir is the directory in which the run makes its own new directory
	// (WorkdirPattern) for the image and backing file; "" means
	// os.TempDir(). The run removes that directory at its end, failed or
	// not, and touches nothing else in Dir.
	Dir string
	// Direct runs with cache=none (O_DIRECT) rather than writeback.
	Direct bool
	// AIO is qemu-img bench's -i: how QEMU submits I/O (threads,
	// io_uring, native); "" leaves QEMU's default, threads.
	AIO string
}

// BenchArgs returns the qemu-img bench arguments (without the image
// name) that run p at queue depth qd, and a note on how the run differs
// from ours, or an error saying why qemu-img bench cannot express p.
// qemu-img bench issues one stream of equal requests at a constant
// stride, all reads or all writes, so random orders become sequential
// ones with the same stride (each write still hits a fresh cluster for
// first-touch), and mixes, skewed distributions and several jobs are
// refused.
func BenchArgs(p *Plan, qd int) (args []string, note string, err error) {
	j := p.job
	switch {
	case j.NumJobs > 1:
		return nil, "", errors.New("qemu-img bench runs a single stream (numjobs > 1)")
	case j.RW == RWMixed || j.RW == RWRandMixed:
		return nil, "", errors.New("qemu-img bench cannot mix reads and writes")
	case j.Distribution.Kind == Zipf:
		return nil, "", errors.New("qemu-img bench has no skewed distribution")
	case p.opsPerJob == 0:
		return nil, "", errors.New("qemu-img bench needs an op count, not a runtime")
	case j.ReopenEvery > 0:
		return nil, "", errors.New("qemu-img bench cannot reopen the image (reopen_every)")
	}
	step := benchStride(p)
	args = []string{"bench", "-c", strconv.FormatUint(p.opsPerJob, 10), "-d", strconv.Itoa(qd),
		"-s", strconv.FormatUint(j.BlockSize, 10), "-S", strconv.FormatUint(step, 10), "-o", strconv.FormatUint(j.Offset, 10)}
	if j.RW.Writes() {
		args = append(args, "-w")
		if j.Fsync > 0 {
			args = append(args, "--flush-interval="+strconv.Itoa(j.Fsync))
		}
	}
	if j.RW.Random() {
		note = "sequential at the same stride instead of random order"
	}
	return args, note, nil
}

var benchTime = regexp.MustCompile(`Run completed in ([0-9.]+) seconds`)

// RunBaseline creates the image (and backing file), prefills it if the
// job says so (or the job only reads), and times qemu-img bench on it.
// The prefill covers what the bench touches: its -c requests at stride -S
// from the region's start, at most the region. The result has the op and
// byte counts and the time; qemu-img bench reports no latencies, and the
// image is not checked.
func RunBaseline(cfg BaselineConfig) (res Result, err error) {
	p := cfg.Plan
	qd := cfg.QD
	if qd == 0 {
		qd = p.job.IODepth
	}
	args, _, err := BenchArgs(p, qd)
	if err != nil {
		return Result{}, err
	}
	if err := p.CheckLimits(); err != nil {
		return Result{}, err
	}
	dir, remove, err := newWorkdir(cfg.Dir)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if rerr := remove(); rerr != nil && err == nil {
			res, err = Result{}, rerr
		}
	}()
	img := filepath.Join(dir, "baseline.img")
	size := strconv.FormatUint(p.imageSize, 10)
	cs := strconv.FormatUint(uint64(p.job.ClusterSize), 10)
	var create []string
	format := "raw"
	switch cfg.Baseline {
	case BaselineQED:
		format = "qed"
		create = []string{"create", "-q", "-f", "qed", "-o", "cluster_size=" + cs + ",table_size=" + strconv.FormatUint(uint64(p.job.TableSize), 10)}
	case BaselineQcow2:
		format = "qcow2"
		create = []string{"create", "-q", "-f", "qcow2", "-o", "cluster_size=" + cs}
	case BaselineRaw:
		create = []string{"create", "-q", "-f", "raw", "-o", "preallocation=falloc"}
	default:
		return Result{}, fmt.Errorf("unknown baseline %q (want %s)", cfg.Baseline, strings.Join(BaselineNames(), ", "))
	}
	if p.job.Backing && cfg.Baseline != BaselineRaw {
		bp := filepath.Join(dir, backingName)
		if err := writeBackingFile(bp, p.imageSize); err != nil {
			return Result{}, fmt.Errorf("backing file: %w", err)
		}
		create = append(create, "-b", backingName, "-F", "raw")
	}
	create = append(create, img, size)
	if err := qemuImg(cfg.QemuImg, create...); err != nil {
		return Result{}, err
	}
	cache := "writeback"
	if cfg.Direct {
		cache = "none"
	}
	if p.job.Prefill || !p.job.RW.Writes() {
		// Allocate the region first, untimed, in cluster-sized writes.
		for i := range p.job.NumJobs {
			off, rsize := p.Region(i)
			rsize = min(rsize, benchSpan(p))
			c := max(uint64(p.job.ClusterSize), 64<<10)
			if err := qemuImg(cfg.QemuImg, "bench", "-q", "-w", "-f", format, "-t", cache, "-c", strconv.FormatUint((rsize+c-1)/c, 10),
				"-d", "16", "-s", strconv.FormatUint(c, 10), "-S", strconv.FormatUint(c, 10), "-o", strconv.FormatUint(off, 10), img); err != nil {
				return Result{}, fmt.Errorf("prefill: %w", err)
			}
		}
	}
	if cfg.AIO != "" {
		args = append(args, "-i", cfg.AIO)
	}
	args = append(args, "-f", format, "-t", cache, img)
	out, err := exec.Command(cfg.QemuImg, args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	m := benchTime.FindSubmatch(out)
	if m == nil {
		return Result{}, fmt.Errorf("qemu-img bench: no time in its output %q", out)
	}
	secs, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return Result{}, fmt.Errorf("qemu-img bench: time %q: %w", m[1], err)
	}
	res = Result{Ops: p.opsPerJob, Bytes: p.opsPerJob * p.job.BlockSize, Nanos: int64(secs * 1e9)}
	if p.job.RW.Writes() {
		res.Writes = res.Ops
	} else {
		res.Reads = res.Ops
	}
	return res, nil
}

// benchStride returns the stride (-S) at which qemu-img bench runs p:
// a fresh cluster run per write for first-touch, a block otherwise.
func benchStride(p *Plan) uint64 {
	if p.job.Pattern == FirstTouch {
		return p.unitBytes
	}
	return p.job.BlockSize
}

// benchSpan returns the bytes from the region's start that qemu-img
// bench touches running p: its requests of bs bytes at benchStride,
// saturating.
func benchSpan(p *Plan) uint64 {
	if p.opsPerJob == 0 {
		return 0
	}
	return satAdd(satMul(p.opsPerJob-1, benchStride(p)), p.job.BlockSize)
}

// qemuImg runs qemu-img with args and returns its error with its output.
func qemuImg(bin string, args ...string) error {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
