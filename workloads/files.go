package workloads

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file holds fio's several files per job (nrfiles, HOWTO
// "nrfiles", "openfiles", "file_service_type"; fio's __get_next_file
// and set_io_u_file in io_u.c). runbench makes a job's N files N equal
// parts of each instance's region, one after another: file f is the
// range [f*size/N, (f+1)*size/N) of it (with filesize, N files of
// filesize). Each file has its own requests, as a job of its own of
// that size would: its own sequential position, random map and
// distribution. Which file the next request goes to is fio's
// file_service_type: roundrobin (the default), sequential (each file to
// its end before the next) or random (uniform), each staying on a file
// for :N requests (1 unless given). A file is done when its pass is
// (fio's file done); a pass of the job ends when every file's is, or
// when io_size is reached, and the next starts each file afresh. At
// most openfiles files are open at once: a file is opened when first
// chosen and closed when done, and while openfiles are open, fio's
// choice skips the files that are not (roundrobin moves on to the next
// file, random draws again).

// FileService is how the next request's file is chosen (key
// file_service_type).
type FileService string

// The file services.
const (
	// ServiceRoundRobin goes round the files (fio's default).
	ServiceRoundRobin FileService = "roundrobin"
	// ServiceSequential finishes a file before the next.
	ServiceSequential FileService = "sequential"
	// ServiceRandom chooses a file uniformly at random.
	ServiceRandom FileService = "random"
)

// parseFileService parses file_service_type: "roundrobin",
// "sequential" or "random", each with an optional ":N" (requests before
// the next choice). fio's zipf, pareto and normal (gauss) are refused:
// they start a done file afresh rather than finishing the pass.
func parseFileService(v string) (FileService, int, error) {
	name, nr, hasNr := strings.Cut(v, ":")
	fs := FileService(name)
	switch fs {
	case ServiceRoundRobin, ServiceSequential, ServiceRandom:
	case "zipf", "pareto", "normal", "gauss":
		return "", 0, fmt.Errorf("not supported: file_service_type=%s (files chosen by a skewed distribution, each started afresh when done); runbench has roundrobin, sequential and random", name)
	default:
		return "", 0, errors.New("want roundrobin, sequential or random, optionally with :N")
	}
	n := 1
	if hasNr {
		var err error
		n, err = strconv.Atoi(nr)
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("%s:%s: want a whole number of requests, at least 1", name, nr)
		}
	}
	return fs, n, nil
}

// formatFileService renders what parseFileService parses.
func formatFileService(fs FileService, n int) string {
	if fs == "" {
		fs = ServiceRoundRobin
	}
	if n > 1 {
		return string(fs) + ":" + strconv.Itoa(n)
	}
	return string(fs)
}

// planFiles checks the keys of several files and plans one file: a job
// of the file's size with the requests of one pass, which each file's
// stream runs. It sets p.files and p.filesPass.
func (p *Plan) planFiles() error {
	j := &p.job
	n := uint64(j.NrFiles)
	switch {
	case j.NrFiles > maxNrFiles:
		return j.keyError("nrfiles", fmt.Errorf("at most %d files", maxNrFiles))
	case j.Size%n != 0 || (j.Size/n)%512 != 0:
		return j.keyError("nrfiles", fmt.Errorf("size=%s does not split into %d files of whole sectors (runbench's files are equal parts of the region)", FormatSize(j.Size), n))
	case j.Size/n < j.BlockSize:
		return j.keyError("nrfiles", fmt.Errorf("%d files of size=%s hold no block of bs=%s", n, FormatSize(j.Size), FormatSize(j.BlockSize)))
	case p.sizes != nil:
		return j.keyError("nrfiles", errors.New("not supported: several files with block sizes that vary (bssplit, bsrange, bs=READ,WRITE)"))
	case j.IOLog != nil:
		return j.keyError("nrfiles", errors.New("an iolog replay names its own offsets"))
	case j.Pattern != Plain && j.Pattern != Rewrite:
		return j.keyError("nrfiles", fmt.Errorf("not supported: several files with pattern=%s", j.Pattern))
	case j.IOSize > j.Size:
		return j.keyError("io_size", errors.New("not supported: several files with more I/O than the files hold"))
	case j.OpenFiles < 0:
		return j.keyError("openfiles", errors.New("must not be negative"))
	case j.Distribution.Kind == Sequence:
		return j.keyError("nrfiles", errors.New("not supported: several files with random_distribution=sequence"))
	}
	if err := p.checkOpenFiles(p.depth); err != nil {
		return err
	}
	f := *j
	f.Name, f.Size, f.Offset, f.SizePercent, f.OffsetPercent = j.Name+"/file", j.Size/n, 0, 0, 0
	f.OffsetIncrement, f.OffsetIncrementPercent = 0, 0
	f.NrFiles, f.OpenFiles, f.FileService, f.FileServiceNr = 1, 0, "", 0
	f.IOSize, f.Ops, f.Loops, f.TimeBased, f.Runtime, f.RampTime = 0, 0, 0, false, 0, 0
	f.Fsync, f.NumJobs, f.SharedRegion, f.ImageSize, f.Prefill, f.ReopenEvery = 0, 1, false, 0, false, 0
	f.Rate, f.RateIOPS, f.ThinkTime = RWPair{}, RWPair{}, 0
	fp, err := f.Plan()
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.Job = j.Name
			ke.Err = fmt.Errorf("in each of nrfiles=%d files of %s: %w", n, FormatSize(f.Size), ke.Err)
		}
		return err
	}
	p.files = fp
	p.filesPass = satMul(fp.opsPerJob, n)
	if j.IOSize > 0 {
		p.filesPass = min(p.filesPass, (j.IOSize+j.BlockSize-1)/j.BlockSize)
	}
	return nil
}

// checkOpenFiles checks a run at queue depth qd of a job with fewer
// openfiles than files: fio, when the file it chose cannot be opened,
// waits for a request in flight to complete before it goes on, which
// runbench does not do; at depth 1 nothing is in flight then.
func (p *Plan) checkOpenFiles(qd int) error {
	j := &p.job
	if j.NrFiles > 1 && j.OpenFiles > 0 && j.OpenFiles < j.NrFiles && qd > 1 {
		return j.keyError("openfiles", fmt.Errorf("not supported: openfiles=%d of nrfiles=%d at queue depth %d: fio, when it cannot open the file it chose, waits for a request in flight to complete, which runbench does not; runbench runs such a job at queue depth 1 only", j.OpenFiles, j.NrFiles, qd))
	}
	return nil
}

// maxNrFiles bounds nrfiles: each file's stream holds state.
const maxNrFiles = 1 << 16

// filesGen generates an instance's requests over its files.
type filesGen struct {
	files []*Stream // each file's stream, over one pass of it
	done  []bool
	open  []bool
	nOpen int
	cur   int // the file being serviced; -1 for none
	left  int // requests on cur before the next choice
	rr    int // roundrobin: the file to try next
}

// newFilesGen starts the file streams of s, seeding each from s.rng.
func newFilesGen(s *Stream) *filesGen {
	p := s.p
	n := p.job.NrFiles
	g := &filesGen{files: make([]*Stream, n), done: make([]bool, n), open: make([]bool, n), cur: -1}
	fsize := p.files.job.Size
	for i := range g.files {
		f := &Stream{
			p:     p.files,
			rng:   newRandFrom(s.rng),
			left:  p.files.opsPerJob,
			bound: true,
			at:    -1,
			base:  s.base + uint64(i)*fsize,
		}
		f.gen = p.files.pattern.newGen(f)
		g.files[i] = f
	}
	return g
}

// startPass starts every file afresh, as fio's loop does: its position
// and random map, its random source going on.
func (g *filesGen) startPass(p *Plan) {
	for i, f := range g.files {
		f.left, f.seq = p.files.opsPerJob, 0
		f.gen = p.files.pattern.newGen(f)
		g.done[i], g.open[i] = false, false
	}
	g.nOpen, g.cur = 0, -1
}

func (g *filesGen) next(s *Stream) Op {
	p := s.p
	if s.seq%p.filesPass == 0 && s.seq > 0 {
		g.startPass(p)
	}
	for range 2 * len(g.files) { // at most every file done, then a new pass
		i := g.choose(s)
		if i < 0 {
			g.startPass(p)
			continue
		}
		if op, ok := g.files[i].Next(); ok {
			return op
		}
		g.done[i], g.open[i] = true, false // fio closes a done file
		g.nOpen--
		g.cur = -1
	}
	panic("workloads: no file has a request left") // Plan.filesPass keeps within the files' requests
}

// choose returns the file of the next request, opening it, or -1 when
// every file is done.
func (g *filesGen) choose(s *Stream) int {
	j := &s.p.job
	if g.cur >= 0 && !g.done[g.cur] {
		if j.FileService == ServiceSequential {
			return g.cur
		}
		if g.left > 0 {
			g.left--
			return g.cur
		}
	}
	n := len(g.files)
	limit := j.OpenFiles
	if limit == 0 || limit > n {
		limit = n
	}
	openable := func(i int) bool { return !g.done[i] && (g.open[i] || g.nOpen < limit) }
	pick := -1
	if j.FileService == ServiceRandom {
		any := false
		for i := range n {
			if openable(i) {
				any = true
				break
			}
		}
		for any {
			if i := int(s.rng.Uint64N(uint64(n))); openable(i) {
				pick = i
				break
			}
		}
	} else {
		for range n {
			i := g.rr
			g.rr = (g.rr + 1) % n
			if openable(i) {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return -1
	}
	if !g.open[pick] {
		g.open[pick] = true
		g.nOpen++
	}
	g.cur, g.left = pick, max(j.FileServiceNr, 1)-1
	return pick
}
