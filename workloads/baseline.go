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

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/results"
)

// The baselines (results.BaselineNames) run on the file backend only.
// qemu-img bench issues one stream of equal requests at a constant
// stride, so the baselines run through it (every one but
// results.BaselineRaw) are sequential where the workload is random;
// BenchArgs says how, and BaselineNote says so for each baseline.
// results.BaselineRaw runs the workload's own op stream through the file
// backend instead, in the policies' order (RunBaseline).

// subclusterSize is results.BaselineQcow2Subcluster's cluster size.
const subclusterSize = 128 << 10

// viaQemuImg reports whether baseline name runs through qemu-img bench.
func viaQemuImg(name string) bool {
	return results.IsMatrixBaseline(name) && name != results.BaselineRaw
}

// benchBaselines returns the baselines that run through qemu-img bench,
// in table order.
func benchBaselines() []string {
	var out []string
	for _, b := range results.BaselineNames() {
		if viaQemuImg(b) {
			out = append(out, b)
		}
	}
	return out
}

// CheckBaseline reports why baseline name cannot run p at queue depth qd,
// or nil if it can: for the qemu-img bench baselines, what BenchArgs
// refuses; for results.BaselineRaw, a queue depth or plan beyond the runner's
// limits (Plan.CheckQD, Plan.CheckLimits).
func CheckBaseline(name string, p *Plan, qd int) error {
	switch {
	case !results.IsMatrixBaseline(name):
		return fmt.Errorf("unknown baseline %q (want %s)", name, strings.Join(results.BaselineNames(), ", "))
	case p.members != nil:
		return errors.New("the baselines run one job, not a group of jobs running together")
	case name == results.BaselineRaw:
		if p.pace != nil {
			return errors.New("the raw baseline does not pace requests (rate, rate_iops, thinktime, ramp_time, an iolog's timing)")
		}
		if p.job.syncWrites() {
			return errors.New("the raw baseline does not make each write durable before it completes (sync, writefua)")
		}
		if p.job.SteadyState.Duration > 0 {
			return errors.New("the raw baseline does not end a job at steady state (steadystate)")
		}
		if p.job.LatencyTarget.Target > 0 {
			return errors.New("the raw baseline keeps its queue depth, without fio's latency_target search")
		}
		if p.job.VerifyBacklog > 0 {
			return errors.New("the raw baseline does not read back what it writes during the job (verify_backlog)")
		}
		if g := p.job.Group; p.job.NumJobs > 1 && (g.Flow > 0 || g.ExitAll) {
			return errors.New("the raw baseline runs its instances without fio's flow control or exitall")
		}
		if _, on := p.job.batching(qd); on {
			return errors.New("the raw baseline keeps its queue depth in flight, without fio's batching (iodepth_batch, iodepth_batch_complete_min, iodepth_low)")
		}
		if err := p.CheckQD(qd); err != nil {
			return err
		}
		return p.CheckLimits()
	}
	_, _, err := BenchArgs(p, qd)
	return err
}

// BaselineConfig configures one baseline run.
type BaselineConfig struct {
	// QemuImg is the qemu-img executable; results.BaselineRaw does not use it.
	QemuImg string
	// Baseline is one of results.BaselineNames.
	Baseline string
	// Plan is the workload; QD the queue depth (0: the job's iodepth).
	Plan *Plan
	QD   int
	// Seed seeds results.BaselineRaw's streams as RunConfig.Seed seeds a policy
	// run's, so a run with the seed of a policy run issues the same
	// operations in the same order; the qemu-img bench baselines have no
	// randomness and ignore it.
	Seed int64
	// Dir is the directory in which the run makes its own new directory
	// (WorkdirPattern) for the image and backing file; "" means
	// os.TempDir(). The run removes that directory at its end, failed or
	// not, and touches nothing else in Dir.
	Dir string
	// Direct runs with cache=none (O_DIRECT) rather than writeback; for
	// results.BaselineRaw, file.Options.Direct.
	Direct bool
	// AIO is qemu-img bench's -i: how QEMU submits I/O (threads,
	// io_uring, native); "" leaves QEMU's default, threads. results.BaselineRaw
	// takes the file backend's mode of that name (threads or io_uring;
	// "" is threads).
	AIO string
	// Workers is results.BaselineRaw's file.Options.Workers (0: 64); the
	// qemu-img bench baselines ignore it.
	Workers int
	// Clock returns monotonic nanoseconds for results.BaselineRaw's figures; nil
	// means time since the run started. qemu-img bench times itself.
	Clock func() int64

	// onSubmit, if not nil, sees each operation results.BaselineRaw submits, with
	// the number then in flight (it included); for tests.
	onSubmit func(op Op, inFlight int)
}

// BenchArgs returns the qemu-img bench arguments (without the image
// name, format, cache and aio mode) that run p at queue depth qd, and a
// note on how the baselines' runs differ from the policies', or an error
// saying why qemu-img bench cannot express p. qemu-img bench issues one
// stream of equal requests at a constant stride, all reads or all
// writes, so random orders become sequential ones with the same stride
// (each write still hits a fresh cluster for first-touch), and mixes,
// skewed distributions and several jobs are refused.
//
// The note (for every workload of a run, after "baselines run ") covers
// the qemu-img bench baselines' sequential order and the baselines'
// other differences that depend on p (BaselineNote has each baseline's
// own); "" when they have none.
func BenchArgs(p *Plan, qd int) (args []string, note string, err error) {
	j := p.job
	switch {
	case p.members != nil:
		return nil, "", errors.New("qemu-img bench runs a single stream, not a group of jobs running together")
	case j.NumJobs > 1:
		return nil, "", errors.New("qemu-img bench runs a single stream (numjobs > 1)")
	case j.RW == RWMixed || j.RW == RWRandMixed:
		return nil, "", errors.New("qemu-img bench cannot mix reads and writes")
	case j.RW.Trims():
		return nil, "", errors.New("qemu-img bench issues no trims (discards or write-zeroes)")
	case j.Distribution.Kind != Uniform:
		return nil, "", errors.New("qemu-img bench has no skewed distribution")
	case p.sizes != nil || j.BlockAlign > 0:
		return nil, "", errors.New("qemu-img bench issues requests of one size (bssplit, bsrange, blockalign, bs=READ,WRITE)")
	case p.iolog != nil:
		return nil, "", errors.New("qemu-img bench cannot replay an iolog")
	case p.pace != nil:
		return nil, "", errors.New("qemu-img bench does not pace requests (rate, rate_iops, thinktime, ramp_time)")
	case p.opsPerJob == 0:
		return nil, "", errors.New("qemu-img bench needs an op count, not a runtime")
	case j.ReopenEvery > 0:
		return nil, "", errors.New("qemu-img bench cannot reopen the image (reopen_every)")
	case j.syncWrites():
		return nil, "", errors.New("qemu-img bench cannot make each write durable before it completes (sync, writefua)")
	case j.SteadyState.Duration > 0:
		return nil, "", errors.New("qemu-img bench does not end at steady state (steadystate)")
	case j.LatencyTarget.Target > 0:
		return nil, "", errors.New("qemu-img bench keeps its queue depth, without fio's latency_target search")
	case j.VerifyBacklog > 0:
		return nil, "", errors.New("qemu-img bench does not read back what it writes (verify_backlog)")
	}
	if _, on := j.batching(qd); on {
		return nil, "", errors.New("qemu-img bench keeps its queue depth in flight, without fio's batching (iodepth_batch, iodepth_batch_complete_min, iodepth_low)")
	}
	switch {
	case j.OffsetAdd != 0:
		return nil, "", errors.New("qemu-img bench has no offset modifier (rw=write:112k)")
	case j.NrFiles > 1:
		return nil, "", errors.New("qemu-img bench issues one stream over one region (nrfiles)")
	case j.zoned():
		return nil, "", errors.New("qemu-img bench has no strided zones (zonemode=strided)")
	case j.ZoneMode == ZoneZBD:
		return nil, "", errors.New("qemu-img bench has no zoned-device mode (zonemode=zbd): its writes go where it strides, not to write pointers")
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
	var notes []string
	if j.RW.Random() {
		notes = append(notes, fmt.Sprintf("through qemu-img bench (%s) in sequential order at a stride of %s, not the workload's random order, since qemu-img bench cannot issue random offsets (raw runs the workload's own order)",
			strings.Join(benchBaselines(), ", "), FormatSize(step)))
	}
	if n := subclusterNote(p); n != "" {
		notes = append(notes, results.BaselineQcow2Subcluster+" with "+n)
	}
	if j.Backing {
		notes = append(notes, fmt.Sprintf("%s, %s and %s without the backing file (qcow2 refuses preallocation with one unless extended_l2=on; a raw file has none)",
			results.BaselineQcow2Falloc, results.BaselineRawQemuImg, results.BaselineRaw))
	}
	return args, strings.Join(notes, "; "), nil
}

// subclusterNote says how BaselineQcow2Subcluster's clusters differ from
// p's, or "" if they do not.
func subclusterNote(p *Plan) string {
	if uint64(p.job.ClusterSize) == subclusterSize {
		return ""
	}
	return fmt.Sprintf("%s clusters (extended_l2=on) by definition, not the job's %s", FormatSize(subclusterSize), FormatSize(uint64(p.job.ClusterSize)))
}

// BaselineNote says, for readers of a record of baseline name's run of
// p, how it differs from the policies' runs of p beyond being another
// implementation: the order (sequential through qemu-img bench), the
// cluster size, preallocation and a backing file left out; for
// results.BaselineRaw, also that it runs the workload's own operations. "" when
// there is nothing to say.
func BaselineNote(name string, p *Plan) string {
	var notes []string
	if viaQemuImg(name) && p.job.RW.Random() {
		notes = append(notes, fmt.Sprintf("sequential order at a stride of %s, not the workload's random order: qemu-img bench cannot issue random offsets", FormatSize(benchStride(p))))
	}
	switch name {
	case results.BaselineQcow2Falloc:
		notes = append(notes, "every cluster preallocated at create (preallocation=falloc), so no write allocates")
		if p.job.Backing {
			notes = append(notes, "no backing file: qcow2 refuses preallocation with one unless extended_l2=on")
		}
	case results.BaselineQcow2Subcluster:
		if n := subclusterNote(p); n != "" {
			notes = append(notes, n)
		}
	case results.BaselineRawQemuImg, results.BaselineRaw:
		if p.job.Backing {
			notes = append(notes, "no backing file: a raw file has none")
		}
	}
	if name == results.BaselineRaw {
		notes = append(notes, "the workload's own operations in its order, through our file backend with no metadata")
	}
	return strings.Join(notes, "; ")
}

var benchTime = regexp.MustCompile(`Run completed in ([0-9.]+) seconds`)

// createArgs returns the qemu-img create arguments, up to the options,
// that make baseline name's image for p, its format and cluster size,
// and whether it takes the job's backing file (given with -b after
// them). The qed and qcow2 images have the job's cluster size, but for
// BaselineQcow2Subcluster's 128 KiB; the raw file and the falloc qcow2
// have no backing file.
func createArgs(name string, p *Plan) (args []string, format string, clusterSize uint64, backing bool, err error) {
	cs := uint64(p.job.ClusterSize)
	csOpt := "cluster_size=" + strconv.FormatUint(cs, 10)
	switch name {
	case results.BaselineQED:
		return []string{"create", "-q", "-f", "qed", "-o", csOpt + ",table_size=" + strconv.FormatUint(uint64(p.job.TableSize), 10)}, "qed", cs, p.job.Backing, nil
	case results.BaselineQcow2:
		return []string{"create", "-q", "-f", "qcow2", "-o", csOpt}, "qcow2", cs, p.job.Backing, nil
	case results.BaselineQcow2Falloc:
		return []string{"create", "-q", "-f", "qcow2", "-o", csOpt + ",preallocation=falloc"}, "qcow2", cs, false, nil
	case results.BaselineQcow2Subcluster:
		return []string{"create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=" + strconv.Itoa(subclusterSize)}, "qcow2", subclusterSize, p.job.Backing, nil
	case results.BaselineRawQemuImg:
		return []string{"create", "-q", "-f", "raw", "-o", "preallocation=falloc"}, "raw", cs, false, nil
	case results.BaselineRaw:
		return nil, "", 0, false, fmt.Errorf("baseline %s runs on our file backend, not qemu-img", name)
	}
	return nil, "", 0, false, fmt.Errorf("unknown baseline %q (want %s)", name, strings.Join(results.BaselineNames(), ", "))
}

// RunBaseline runs cfg.Baseline on cfg.Plan. results.BaselineRaw runs the plan's
// op stream on a raw file through our file backend (see results.BaselineRaw);
// the others create the image (and backing file), prefill it if the job
// says so (or the job only reads), and time qemu-img bench on it. The
// prefill covers what the bench touches: its -c requests at stride -S
// from the region's start, at most the region. Their result has the op
// and byte counts and the time; qemu-img bench reports no latencies, and
// the image is not checked.
func RunBaseline(cfg BaselineConfig) (res Result, err error) {
	p := cfg.Plan
	if p == nil {
		return Result{}, fmt.Errorf("baseline %s: no plan", cfg.Baseline)
	}
	qd := cfg.QD
	if qd == 0 {
		qd = p.depth
	}
	if cfg.Baseline == results.BaselineRaw {
		return runRaw(cfg, qd)
	}
	create, format, cs, backing, err := createArgs(cfg.Baseline, p)
	if err != nil {
		return Result{}, err
	}
	args, _, err := BenchArgs(p, qd)
	if err != nil {
		return Result{}, fmt.Errorf("baseline %s on %s: %w", cfg.Baseline, p.Name(), err)
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
	if backing {
		bp := filepath.Join(dir, backingName)
		if err := writeBackingFile(bp, p.imageSize); err != nil {
			return Result{}, fmt.Errorf("backing file: %w", err)
		}
		create = append(create, "-b", backingName, "-F", "raw")
	}
	create = append(create, img, strconv.FormatUint(p.imageSize, 10))
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
			c := max(cs, 64<<10)
			if err := qemuImg(cfg.QemuImg, "bench", "-q", "-w", "-f", format, "-t", cache, "-c", strconv.FormatUint((rsize+c-1)/c, 10),
				"-d", "16", "-s", strconv.FormatUint(c, 10), "-S", strconv.FormatUint(c, 10), "-o", strconv.FormatUint(off, 10), img); err != nil {
				return Result{}, fmt.Errorf("prefill: %w", err)
			}
		}
	}
	// The bench starts cold, as the image's runs do (file.Cold).
	if err := file.Cold(img); err != nil {
		return Result{}, err
	}
	if backing {
		if err := file.Cold(filepath.Join(dir, backingName)); err != nil {
			return Result{}, err
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
	secs, err := parseBenchTime(out)
	if err != nil {
		return Result{}, err
	}
	res = Result{Ops: p.opsPerJob, Bytes: p.opsPerJob * p.job.BlockSize, Nanos: int64(secs * 1e9)}
	if p.job.RW.Writes() {
		res.Writes = res.Ops
	} else {
		res.Reads = res.Ops
	}
	return res, nil
}

// parseBenchTime returns the seconds qemu-img bench's output says the
// run took.
func parseBenchTime(out []byte) (float64, error) {
	m := benchTime.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("qemu-img bench: no time in its output %q", out)
	}
	secs, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, fmt.Errorf("qemu-img bench: time %q: %w", m[1], err)
	}
	return secs, nil
}

// benchStride returns the stride (-S) at which qemu-img bench runs p:
// one unit of its pattern per request (a run of fresh clusters for
// first-touch, a block otherwise).
func benchStride(p *Plan) uint64 {
	return p.lay.unitBytes
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
