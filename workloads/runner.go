package workloads

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// Submitter is the submit path the runner drives: an *impl.Image, or a
// wrapper around one (a history recorder) that passes every request on to
// the image. Submit must eventually lead to the request's Done callback
// being called, from within Submit or while the runner steps the image,
// on the runner's goroutine.
type Submitter interface {
	Submit(*impl.Request)
}

// RunConfig configures one run.
type RunConfig struct {
	// Plan is the workload.
	Plan *Plan
	// Policy decides when allocating writes may overlap.
	Policy model.Policy
	// Backend is the name of a registered backend (impl/backends).
	Backend string
	// Device is the device BackendSim simulates; ignored otherwise.
	Device sim.Device
	// QD is the number of requests each instance keeps in flight; 0 means
	// the job's iodepth (each job's, for a group of jobs).
	QD int
	// JobDepths runs each job of the plan that asks for a queue depth
	// (Plan.JobQD) at that depth, QD applying to the others: a group's
	// jobs each at their own iodepth, as Matrix.JobDepths.
	JobDepths bool
	// Seed seeds the streams, the sim device's jitter and the data.
	Seed int64
	// Dir is the directory in which BackendFile makes the run's own new
	// directory (WorkdirPattern) for the image and backing file; "" means
	// os.TempDir(). The run removes that directory at its end, failed or
	// not, and touches nothing else in Dir.
	Dir string
	// File configures BackendFile.
	File file.Options
	// Wrap, if not nil, wraps the opened image for the run. open(0)
	// returns the image the runner opened and its clock (virtual on sim);
	// open(g) for the next generation g closes the image and opens it
	// again from its files, on the same clock, for a job with
	// reopen_every. The runner submits through what Wrap returns (a
	// history.Recorder, for example: history.NewRecorder(plan.Disk(), open)) and hands it
	// back in Result.Submitter. With reopen_every the submitter must have a
	// method Reopen() error that lets the image drain and then calls open
	// with the next generation, as history.Recorder.Reopen does.
	Wrap func(open history.Opener) (Submitter, error)
	// WallClock returns monotonic nanoseconds for BackendMem and
	// BackendFile; nil means time since the run started. BackendSim uses
	// the device's virtual clock.
	WallClock func() int64
	// Sleep waits, on BackendMem and BackendFile, until a paced request's
	// time (the job's rate, thinktime or iolog timing) when nothing is in
	// flight; nil means time.Sleep. On BackendSim the virtual clock skips
	// to it instead.
	Sleep func(time.Duration)
	// ReadBack, after the measured phase, reads back every byte the run
	// wrote through the submit path at the same queue depth, so that a
	// history recorder sees whether each write survived (a write-only
	// history is linearizable whatever the image lost). The reads count
	// in no figure.
	ReadBack bool
	// Pages, if not nil, supplies and takes back the memory of in-memory
	// images (sim and mem backends); runs made one after another should
	// share one. A Matrix shares one among its runs.
	Pages *PagePool

	// prefillRegions prefills every cluster of the regions even where
	// the run's ops touch only some (tests compare the two).
	prefillRegions bool
}

// Result holds the figures of one run. Times are in nanoseconds, virtual
// on the sim backend; counts cover the measured phase only (not the
// prefill, nor the close, nor a job's ramp_time: with one, the figures
// count the requests that complete after it, Nanos runs from its end,
// and the image's counters from the first such completion; Device, the
// CPU times and IOWallNanos cover the ramp too).
type Result struct {
	// Ops counts completed requests (reads, writes, trims and flushes);
	// Reads, Writes, Trims and Flushes split them. A trim is the image's
	// write-zeroes request. A sync or FUA write (Job.SyncWrites,
	// WriteFUA) is one write, its flush part of it.
	Ops, Reads, Writes, Trims, Flushes uint64
	// Bytes counts guest bytes read and written; TrimBytes the bytes
	// trimmed, apart, as fio reports trims apart (a trim moves no data).
	Bytes, TrimBytes uint64
	// Nanos is the time from the first submission to the last completion.
	Nanos int64
	// Latency percentiles (nearest rank), mean and maximum of request
	// latency, from submission to completion.
	LatP50, LatP99, LatP999, LatMax int64
	LatMean                         float64
	// Latency holds every request's latency in nanoseconds (virtual on
	// sim), as an HDR histogram (results.NewLatencyHistogram); nil for
	// an empty run. The percentiles above are exact; Latency's agree with
	// them to within its precision.
	Latency *hdrhistogram.Histogram
	// Freezes counts freeze episodes; FrozenNanos is the total time
	// requests spent frozen (summed over requests, so it can exceed Nanos).
	Freezes     uint64
	FrozenNanos int64
	// AllocatingWrites counts writes that allocated.
	AllocatingWrites uint64
	// Reopens counts the times the image was closed and opened again
	// during the run (the job's reopen_every); the figures cover every
	// generation of the image.
	Reopens int
	// DataBytes and MetaBytes are the host bytes written for guest data
	// and for metadata (impl.Stats); HostIOs counts host I/Os issued.
	DataBytes, MetaBytes, HostIOs uint64
	// AchievedQD is the mean number of requests in flight: total latency
	// over Nanos (Little's law).
	AchievedQD float64
	// Check is the result of impl.Check on the image after Close.
	Check impl.CheckResult
	// Submitter is what the runner submitted through: the image, or what
	// RunConfig.Wrap returned.
	Submitter Submitter
	// Device is the sim device's counters, nil on other backends.
	Device *sim.Stats
	// CPUUserNanos and CPUSysNanos are the process's user and system CPU
	// time during the measured phase on the wall-clock backends (mem,
	// file), 0 on sim: the harness's cost, I/O system calls included.
	CPUUserNanos, CPUSysNanos int64
	// IOWallNanos is the wall time of the measured phase on the run's
	// RunConfig.WallClock, on every backend (on sim, where Nanos is
	// virtual, it is the harness's cost of the simulated I/O): from the
	// first submission until the image has nothing in flight, reopens
	// included; setup, the read-back, the close and the check are not.
	// It is the only wall-clock figure of a Result besides the CPU times.
	IOWallNanos int64
	// SteadyStateNanos is when the job's steady state (Job.SteadyState)
	// was attained, from the start of the measured phase: the check at
	// which the last instance (or, with group_reporting, the group) met
	// the criterion and stopped issuing; 0 when steady state was not
	// detected or not attained by every instance.
	SteadyStateNanos int64
	// LatencyTargetDepth is the queue depth the job's latency_target
	// search (Job.LatencyTarget) ended at, fio's latency_depth: the
	// deepest that met the target when it settled; 0 without a target.
	LatencyTargetDepth int
	// Jobs holds each job's figures in a run of a group of several jobs
	// running together (PlanGroup), in the group's order; nil for a run
	// of one job, whose figures are the run's.
	Jobs []JobResult
}

// Seconds returns Nanos in seconds.
func (r *Result) Seconds() float64 { return float64(r.Nanos) / 1e9 }

// OpsPerSec returns completed requests per second, or 0 for an empty run.
func (r *Result) OpsPerSec() float64 {
	if r.Nanos <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Seconds()
}

// MiBPerSec returns guest MiB (2^20 bytes) read and written per second.
func (r *Result) MiBPerSec() float64 {
	if r.Nanos <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Seconds()
}

// HostIOsPerOp returns host I/Os issued per completed request.
func (r *Result) HostIOsPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.HostIOs) / float64(r.Ops)
}

// CheckSummary renders a check result in a few words: "clean", or the
// counts of what remains, such as "2 corruptions, 1 leak".
func CheckSummary(c impl.CheckResult) string {
	if c.Clean() {
		return "clean"
	}
	var parts []string
	plural := func(n int, what string) {
		if n == 1 {
			parts = append(parts, "1 "+what)
		} else if n > 1 {
			parts = append(parts, fmt.Sprintf("%d %ss", n, what))
		}
	}
	plural(c.Corruptions, "corruption")
	plural(c.Leaks, "leak")
	plural(c.CheckErrors, "check error")
	return strings.Join(parts, ", ")
}

// simSalt separates the sim device's randomness from the streams'.
const simSalt = 0x5bd1e995

// Run drives an image with cfg.Plan at cfg.QD requests per instance (a
// closed loop: each completion submits the instance's next operation),
// then closes the image and checks it. A request that fails, an image
// that cannot be created, opened or closed, or a run beyond the limits
// of Plan.CheckLimits and Plan.CheckQD is an error; what the check finds
// is not: it is reported in Result.Check.
//
// A prefilled run (prefill=1, pattern=rewrite) allocates, before it
// starts, the clusters its ops touch when it has an op count that cannot
// touch the whole region, and every cluster of the region otherwise:
// each request finds its cluster allocated either way, and the image
// holds what Plan.Disk says it starts with.
func Run(cfg RunConfig) (res Result, err error) {
	p := cfg.Plan
	if p == nil {
		return Result{}, errors.New("run: no plan")
	}
	if cfg.Policy == nil {
		return Result{}, errors.New("run: no policy")
	}
	qd := cfg.QD
	if qd == 0 {
		qd = p.depth
	}
	if err := p.CheckQD(qd); err != nil {
		return Result{}, fmt.Errorf("run %s: %w", p.Name(), err)
	}
	if err := p.CheckLimits(); err != nil {
		return Result{}, fmt.Errorf("run %s: %w", p.Name(), err)
	}
	wall := cfg.WallClock
	if wall == nil {
		t0 := time.Now()
		wall = func() int64 { return int64(time.Since(t0)) }
	}
	env, err := setUp(cfg, wall)
	if err != nil {
		return Result{}, fmt.Errorf("run %s: %w", p.Name(), err)
	}
	defer func() {
		if cerr := env.cleanup(); cerr != nil && err == nil {
			res, err = Result{}, fmt.Errorf("run %s: %w", p.Name(), cerr)
		}
	}()
	res, err = drive(cfg, env, qd, wall)
	if err != nil {
		env.close()
		return Result{}, fmt.Errorf("run %s (%s, qd %d, %s): %w", p.Name(), cfg.Policy.Name(), qd, cfg.Backend, err)
	}
	if err := env.close(); err != nil {
		return Result{}, fmt.Errorf("run %s: %w", p.Name(), err)
	}
	if res.Check, err = env.check(); err != nil {
		return Result{}, fmt.Errorf("run %s: after the run: %w", p.Name(), err)
	}
	return res, nil
}

// reopen closes generation gen-1 of the image, adding its counters to
// res, and opens generation gen from the same files. It is the runner's
// history.Opener: generation 0 is the image setUp opened.
func (env *runEnv) reopen(res *Result, gen int) (*impl.Image, func() int64, error) {
	if gen == 0 && env.gen == 0 {
		return env.im, env.clock, nil
	}
	if gen != env.gen+1 {
		return nil, nil, fmt.Errorf("reopen: generation %d asked for, the image is at %d", gen, env.gen)
	}
	// Close first: its write-back of dirty tables is this generation's
	// work (and time), whoever closes it (a history.Recorder already has).
	if err := env.close(); err != nil {
		return nil, nil, fmt.Errorf("reopen: %w", err)
	}
	addStats(res, env.im.Stats())
	env.close = func() error { return nil }
	im, cl, err := env.open()
	if err != nil {
		return nil, nil, fmt.Errorf("reopen: %w", err)
	}
	env.im, env.close, env.gen = im, cl, gen
	res.Reopens++
	return im, env.clock, nil
}

// addStats adds the counters of one generation of the image to res.
func addStats(res *Result, st impl.Stats) {
	res.Freezes += st.Freezes
	res.FrozenNanos += st.FrozenNanos
	res.AllocatingWrites += st.AllocatingWrites
	res.DataBytes += st.DataBytes()
	res.MetaBytes += st.MetaBytes()
	res.HostIOs += st.HostIOs()
}

// subtractStats takes the image's counters in base (those at the end of a
// ramp) from res.
func subtractStats(res, base *Result) {
	sub := func(a *uint64, b uint64) { *a -= min(*a, b) }
	sub(&res.Freezes, base.Freezes)
	res.FrozenNanos = max(res.FrozenNanos-base.FrozenNanos, 0)
	sub(&res.AllocatingWrites, base.AllocatingWrites)
	sub(&res.DataBytes, base.DataBytes)
	sub(&res.MetaBytes, base.MetaBytes)
	sub(&res.HostIOs, base.HostIOs)
}

// prefilledImage holds the images a prefilled plan starts from on the
// in-memory backends, each made once and copied into each run's storage:
// one for a plan that prefills its whole regions, one per seed (the most
// recent few) for a plan that prefills what its streams touch.
type prefilledImage struct {
	mu      sync.Mutex
	entries []*prefilledEntry // least recently made first
}

// maxPrefilledImages is how many prefilled images a plan keeps: a
// matrix runs one seed per round, and its workers may straddle a few.
const maxPrefilledImages = 4

// prefillKey names a prefilled image: the seed of the streams whose
// clusters it holds, or whole for every cluster of the regions.
type prefillKey struct {
	seed  int64
	whole bool
}

// prefilledEntry is one prefilled image, made once.
type prefilledEntry struct {
	key  prefillKey
	once sync.Once
	st   *sparseStorage // read-only once made
	err  error
}

// entry returns the entry for key, adding it (and dropping the oldest
// beyond maxPrefilledImages) if there is none.
func (pi *prefilledImage) entry(key prefillKey) *prefilledEntry {
	pi.mu.Lock()
	defer pi.mu.Unlock()
	for _, e := range pi.entries {
		if e.key == key {
			return e
		}
	}
	e := &prefilledEntry{key: key}
	pi.entries = append(pi.entries, e)
	if len(pi.entries) > maxPrefilledImages {
		pi.entries[0] = nil
		pi.entries = pi.entries[1:]
	}
	return e
}

// prefilledImage returns the plan's image with its whole regions
// prefilled, as prefilledImageFor does.
func (p *Plan) prefilledImage(backing impl.Storage) (*sparseStorage, error) {
	return p.prefilledImageFor(backing, 0, true)
}

// prefilledImageFor returns the plan's prefilled image for a run with
// seed, making it at the first call: created, opened on a mem backend
// over backing (the plan's backing file, the same for every run),
// prefilled (Plan.prefillSpans; whole regions if regions is set) and
// closed, as a run's own storage would be. The result is shared and must
// not be written.
func (p *Plan) prefilledImageFor(backing impl.Storage, seed int64, regions bool) (*sparseStorage, error) {
	build := func() (*sparseStorage, error) {
		spans := p.prefillSpans(seed, regions)
		copts := p.CreateOptions()
		if p.job.Backing {
			copts.BackingFile = backingName
		}
		files := impl.Files{Image: newSparseStorage(nil), Backing: backing}
		if err := impl.Create(files.Image, p.imageSize, copts); err != nil {
			return nil, err
		}
		im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{})
		if err != nil {
			return nil, err
		}
		if err := prefill(im, p, spans); err != nil {
			im.Close()
			return nil, err
		}
		if err := im.Close(); err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
		return files.Image.(*sparseStorage), nil
	}
	if p.prefilled == nil {
		return build()
	}
	key := prefillKey{seed: seed}
	if regions || !p.prefillTouchedOnly() {
		key = prefillKey{whole: true} // the same image whatever the seed
	}
	e := p.prefilled.entry(key)
	e.once.Do(func() { e.st, e.err = build() })
	return e.st, e.err
}

// prefillSpans returns the guest ranges a prefilled run of p with seed
// writes before it starts: every instance's region when the run has no
// op count or one that can touch every cluster of the regions (or when
// regions is set), and otherwise every cluster the streams of seed read
// or write, merged into runs of consecutive clusters and clipped to the
// image. Either way each request of the run finds its cluster allocated.
func (p *Plan) prefillSpans(seed int64, regions bool) []span {
	if p.members != nil {
		var spans []span
		for _, m := range p.members {
			if m.job.Prefill {
				spans = append(spans, m.prefillSpans(seed, regions)...)
			}
		}
		slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
		return spans
	}
	if regions || !p.prefillTouchedOnly() {
		n := p.job.NumJobs
		if p.job.SharedRegion && p.starts == nil {
			n = 1
		}
		spans := make([]span, 0, n)
		for i := range n {
			off, size := p.Region(i)
			if k := len(spans) - 1; k >= 0 && off <= spans[k].off+spans[k].n {
				// offset_increment's regions, in order, may overlap.
				spans[k].n = max(spans[k].n, off+size-spans[k].off)
				continue
			}
			spans = append(spans, span{off, size})
		}
		return spans
	}
	cs := uint64(p.job.ClusterSize)
	var clusters []uint64
	for _, s := range p.Streams(seed) {
		for {
			op, ok := s.Next()
			if !ok {
				break
			}
			if op.Kind == OpFlush || op.Len == 0 {
				continue
			}
			for c := op.Off / cs; c <= (op.Off+op.Len-1)/cs; c++ {
				clusters = append(clusters, c)
			}
		}
	}
	slices.Sort(clusters)
	clusters = slices.Compact(clusters)
	var spans []span
	for i := 0; i < len(clusters); {
		j := i + 1
		for j < len(clusters) && clusters[j] == clusters[j-1]+1 {
			j++
		}
		off := clusters[i] * cs
		end := min((clusters[j-1]+1)*cs, p.imageSize)
		spans = append(spans, span{off, end - off})
		i = j
	}
	return spans
}

// prefill writes spans (guest ranges, in order) in cluster-aligned
// chunks of at least 1 MiB, so every cluster they touch is allocated. It
// writes what the ranges held already (zeros, or the backing file's
// content), so the image still reads as Plan.Disk says it starts.
func prefill(im *impl.Image, p *Plan, spans []span) error {
	cs := uint64(p.job.ClusterSize)
	chunk := max(cs, 1<<20)
	buf := make([]byte, chunk)
	for _, sp := range spans {
		for pos, end := sp.off, sp.off+sp.n; pos < end; {
			n := min(chunk-pos%cs, end-pos)
			if p.job.Backing {
				history.FillBacking(buf[:n], pos)
			}
			if _, err := im.WriteAt(buf[:n], int64(pos)); err != nil {
				return fmt.Errorf("prefill: %w", err)
			}
			pos += n
		}
	}
	return nil
}

// fillRandom fills b with bytes drawn from seed.
func fillRandom(b []byte, seed int64) {
	rng := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24),
		4: byte(seed >> 32), 5: byte(seed >> 40), 6: byte(seed >> 48), 7: byte(seed >> 56), 8: 'w', 9: 'l'})
	rng.Read(b)
}

// span is a guest byte range.
type span struct{ off, n uint64 }

// readBack reads the guest ranges written, merged and cut at chunk
// boundaries, with qd reads in flight, through sub, and runs the image
// until done.
func readBack(sub Submitter, im *impl.Image, written []span, chunk uint64, qd int) error {
	slices.SortFunc(written, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	var merged []span
	for _, w := range written {
		if n := len(merged); n > 0 && w.off <= merged[n-1].off+merged[n-1].n {
			last := &merged[n-1]
			last.n = max(last.n, w.off+w.n-last.off)
			continue
		}
		merged = append(merged, w)
	}
	var spans []span
	for _, m := range merged {
		for pos, end := m.off, m.off+m.n; pos < end; {
			n := min(chunk-pos%chunk, end-pos)
			spans = append(spans, span{pos, n})
			pos += n
		}
	}
	if len(spans) == 0 {
		return nil
	}
	reqs := make([]impl.Request, min(qd, len(spans)))
	bufs := make([][]byte, len(reqs))
	var firstErr error
	next := 0
	var issue func(i int)
	issue = func(i int) {
		if next == len(spans) || firstErr != nil {
			return
		}
		sp := spans[next]
		next++
		if bufs[i] == nil {
			bufs[i] = make([]byte, chunk)
		}
		reqs[i] = impl.Request{Op: impl.ReqRead, Off: sp.off, Buf: bufs[i][:sp.n], Done: func(r *impl.Request) {
			if r.Err != nil && firstErr == nil {
				firstErr = fmt.Errorf("read back %#x+%d: %w", r.Off, len(r.Buf), r.Err)
			}
			issue(i)
		}}
		sub.Submit(&reqs[i])
	}
	for i := range reqs {
		issue(i)
	}
	im.Run()
	if firstErr == nil && next < len(spans) {
		firstErr = fmt.Errorf("read back stalled after %d of %d reads", next, len(spans))
	}
	return firstErr
}
