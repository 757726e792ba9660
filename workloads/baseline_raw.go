package workloads

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/results"
)

// rawSlot is one request slot of results.BaselineRaw's closed loop.
type rawSlot struct {
	io        impl.IO
	buf       []byte
	stream    *Stream
	submitted int64
}

// runRaw runs results.BaselineRaw: cfg.Plan's op stream for cfg.Seed (the
// streams a policy run with that seed issues: the same offsets, lengths
// and order, qd requests in flight per instance, a closed loop) against
// a raw file of the image's guest size, preallocated, through
// file.Backend with cfg's Direct, AIO and Workers, guest offsets
// being file offsets. Flushes are fdatasyncs; trims are write-zeroes
// (fallocate's zero range). There is no metadata and
// no backing file. Like the qemu-img baselines it prefills, untimed, what
// the streams touch (Plan.prefillSpans) when the job prefills or only
// reads, so that reads and rewrites find written blocks rather than
// unwritten extents. A job's reopen_every is ignored: a raw file has no
// metadata or caches to reload. The result has the counts, the time
// from the first submission to the last completion, latencies, the bytes
// written as DataBytes (MetaBytes 0) and one host I/O per request.
func runRaw(cfg BaselineConfig, qd int) (res Result, err error) {
	p := cfg.Plan
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("baseline %s on %s: %w", results.BaselineRaw, p.Name(), err)
	}
	if err := p.CheckQD(qd); err != nil {
		return fail(err)
	}
	if err := p.CheckLimits(); err != nil {
		return fail(err)
	}
	mode := file.AIOThreads
	if cfg.AIO != "" {
		if mode, err = file.ParseAIOMode(cfg.AIO); err != nil {
			return fail(err)
		}
	}
	clock := cfg.Clock
	if clock == nil {
		t0 := time.Now()
		clock = func() int64 { return int64(time.Since(t0)) }
	}
	dir, remove, err := newWorkdir(cfg.Dir)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if rerr := remove(); rerr != nil && err == nil {
			res, err = Result{}, rerr
		}
	}()
	path := filepath.Join(dir, "baseline.img")
	if err := createRaw(path, p, cfg.Seed); err != nil {
		return fail(err)
	}
	st, err := impl.OpenFileStorage(path, false)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			res, err = Result{}, fmt.Errorf("baseline %s: %w", results.BaselineRaw, cerr)
		}
	}()
	be, err := file.New(impl.Files{Image: st}, path, file.Options{
		Direct: cfg.Direct, AIO: mode, Workers: cfg.Workers, PreallocBytes: -1, // preallocated whole
	})
	if err != nil {
		return fail(err)
	}
	res, err = driveRaw(cfg, be, qd, clock)
	if cerr := be.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// createRaw creates the raw file at path, the image's guest size,
// preallocated (preallocateRaw), and writes zeros, untimed, over what
// the streams of seed touch when the job prefills or only reads.
func createRaw(path string, p *Plan, seed int64) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if p.imageSize > math.MaxInt64 {
		return fmt.Errorf("create %s: size %d too large for a file", path, p.imageSize)
	}
	if err := preallocateRaw(f, int64(p.imageSize)); err != nil {
		return err
	}
	if !p.job.Prefill && p.job.RW.Writes() {
		return file.Cold(path)
	}
	buf := make([]byte, 1<<20)
	for _, sp := range p.prefillSpans(seed, false) {
		for pos, end := sp.off, sp.off+sp.n; pos < end; {
			n := min(uint64(len(buf)), end-pos)
			if _, err := f.WriteAt(buf[:n], int64(pos)); err != nil {
				return fmt.Errorf("prefill: %w", err)
			}
			pos += n
		}
	}
	return file.Cold(path) // writes the prefill back, then drops it
}

// driveRaw runs the closed loop of runRaw on be and gathers the figures.
func driveRaw(cfg BaselineConfig, be *file.Backend, qd int, clock func() int64) (Result, error) {
	p := cfg.Plan
	streams := p.Streams(cfg.Seed)
	slots := make([]rawSlot, len(streams)*qd)
	bs := int(p.maxBS)
	bufs := impl.AlignedBuffer(len(slots) * bs)
	var (
		res      Result
		lats     []int64
		firstErr error
		stopped  bool
		inFlight int
		nextID   uint64
		deadline = int64(math.MaxInt64)
		last     int64
	)
	issue := func(i int) {
		s := &slots[i]
		if stopped {
			return
		}
		if deadline != math.MaxInt64 && clock() >= deadline {
			stopped = true
			return
		}
		op, ok := s.stream.Next()
		if !ok {
			return
		}
		nextID++
		s.io = impl.IO{ID: nextID, File: impl.ImageFile, Off: op.Off, Req: uint64(i)}
		switch op.Kind {
		case OpRead:
			s.io.Op, s.io.Buf = impl.OpRead, s.buf[:op.Len]
		case OpWrite:
			s.io.Op, s.io.Buf = impl.OpWrite, s.buf[:op.Len]
		case OpFlush:
			s.io.Op, s.io.Purpose = impl.OpFlush, impl.PurposeFlush
		case OpTrim:
			// A raw file's trim: zeros without a buffer (fallocate's
			// zero range), as the image's write-zeroes.
			s.io.Op, s.io.Len = impl.OpWriteZeroes, op.Len
		}
		inFlight++
		if cfg.onSubmit != nil {
			cfg.onSubmit(op, inFlight)
		}
		s.submitted = clock()
		be.Submit(&s.io)
	}
	for i := range slots {
		slots[i].stream = streams[i/qd]
		slots[i].buf = bufs[i*bs : (i+1)*bs : (i+1)*bs]
		fillRandom(slots[i].buf, cfg.Seed+int64(i)+1)
	}
	var user0, sys0 int64 = processCPU()
	start := clock()
	if p.job.Runtime > 0 {
		deadline = start + int64(p.job.Runtime)
	}
	for i := range slots {
		issue(i)
	}
	for {
		o := be.Next()
		if o == nil {
			break
		}
		now := clock()
		inFlight--
		i := int(o.Req)
		if o.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s at %#x+%d: %w", o.Op, o.Off, len(o.Buf), o.Err)
				if o.Op == impl.OpFlush {
					firstErr = fmt.Errorf("flush: %w", o.Err)
				}
			}
			stopped = true
			continue
		}
		res.Ops++
		res.HostIOs++
		switch o.Op {
		case impl.OpRead:
			res.Reads++
			res.Bytes += uint64(len(o.Buf))
		case impl.OpWrite:
			res.Writes++
			res.Bytes += uint64(len(o.Buf))
			res.DataBytes += uint64(len(o.Buf))
		case impl.OpFlush:
			res.Flushes++
		case impl.OpWriteZeroes:
			res.Trims++
			res.TrimBytes += o.Len
		}
		lats = append(lats, now-slots[i].submitted)
		last = max(last, now)
		issue(i)
	}
	user1, sys1 := processCPU()
	res.CPUUserNanos, res.CPUSysNanos = user1-user0, sys1-sys0
	if firstErr != nil {
		return Result{}, firstErr
	}
	if inFlight != 0 {
		return Result{}, errors.New("file backend returned no I/O with requests in flight")
	}
	res.Nanos = max(last-start, 0)
	res.IOWallNanos = res.Nanos
	summarizeLatency(&res, lats)
	return res, nil
}
