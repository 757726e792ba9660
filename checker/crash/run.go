package crash

import (
	"fmt"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/controlled"
)

// run is one run of the workload, replayed along a schedule.
type run struct {
	cs     *Store
	be     *controlled.Backend
	im     *impl.Image
	l      *Ledger
	ios    map[uint64]*impl.IO // every I/O submitted, by ID
	marks  map[uint64]uint64   // flush I/O ID -> Store mark at submission
	phase  int
	open   int // requests of the current phase not yet done
	nextID uint64
	failed error
	trace  []string
	steps  []Step
	reqs   map[uint64]int // engine request ID -> guest request (1-based)
	nreq   int
}

// step records a step of the trace as data.
func (r *run) step(kind string, req int, io uint64, text string) {
	r.steps = append(r.steps, Step{Kind: kind, Req: req, IO: io, Text: text})
}

// recorder is the impl.Backend the image sees: it records every I/O so the
// explorer knows the data of writes in flight and where each flush's
// coverage ends, and passes everything to the controlled backend.
type recorder struct{ r *run }

// Submit records io and passes it on.
func (b recorder) Submit(io *impl.IO) {
	r := b.r
	r.ios[io.ID] = io
	if io.Op == impl.OpFlush {
		r.marks[io.ID] = r.cs.Mark()
	}
	r.step("issue", r.reqs[io.Req], io.ID, r.describe(io))
	r.be.Submit(io)
}

// Next passes on the controlled backend's next completion.
func (b recorder) Next() *impl.IO { return b.r.be.Next() }

// Close closes the controlled backend.
func (b recorder) Close() error { return b.r.be.Close() }

// start creates the image, makes the workload's setup writes, and opens
// the image over a Store on the controlled backend with the first phase
// submitted.
func (x *explorer) start() (*run, error) {
	mem, files, err := newImage(imageSize, x.backing)
	if err != nil {
		return nil, err
	}
	r := &run{l: &Ledger{Backing: x.backing != nil}, ios: map[uint64]*impl.IO{}, marks: map[uint64]uint64{}, reqs: map[uint64]int{}, nextID: 1}
	if len(x.w.Setup) > 0 {
		im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: x.reg.Policy})
		if err != nil {
			return nil, err
		}
		for _, q := range x.w.Setup {
			id := r.nextID
			r.nextID++
			off, n := q.Sector*impl.SectorSize, q.Count*impl.SectorSize
			r.l.Submitted(id, off, n)
			if _, err := im.WriteAt(Data(id, off, n), int64(off)); err != nil {
				return nil, err
			}
			r.l.Completed(id)
		}
		r.l.FlushCompleted(r.l.FlushSubmitted())
		if err := im.Close(); err != nil {
			return nil, err
		}
	}
	r.cs, err = NewStore(mem)
	if err != nil {
		return nil, err
	}
	files.Image = r.cs
	r.be = controlled.New(files)
	im, err := impl.Open(files, recorder{r}, impl.Options{Policy: x.reg.Policy, UnorderedMetadata: x.cfg.UnorderedMeta})
	if err != nil {
		return nil, err
	}
	r.be.Attach(im.Engine()) // finer footprints for the reduction
	r.im = im
	r.phase = -1
	r.advance(x.w)
	return r, nil
}

// newImage creates in memory an empty image of size guest bytes with the
// workloads' geometry (4 KiB clusters, one-cluster tables), over backing
// as its raw backing file "backing.raw" unless backing is nil. files
// holds mem as the image and backing's storage.
func newImage(size uint64, backing []byte) (mem *impl.MemStorage, files impl.Files, err error) {
	mem = impl.NewMemStorage()
	opts := impl.CreateOptions{ClusterSize: clusterSize, TableSize: 1}
	files = impl.Files{Image: mem}
	if backing != nil {
		opts.BackingFile = "backing.raw"
		files.Backing = impl.NewMemStorageFrom(backing)
	}
	if err := impl.Create(mem, size, opts); err != nil {
		return nil, impl.Files{}, err
	}
	return mem, files, nil
}

// advance submits the next phase once the current one is done.
func (r *run) advance(w Workload) {
	for r.open == 0 && r.phase+1 < len(w.Phases) {
		r.phase++
		for _, q := range w.Phases[r.phase] {
			r.submit(q)
		}
	}
}

// submit submits guest request q and records it in the ledger and trace.
func (r *run) submit(q Request) {
	r.open++
	r.nreq++
	lane := r.nreq
	if q.Flush {
		mark := r.l.FlushSubmitted()
		r.trace = append(r.trace, "submit flush")
		r.step("submit", lane, 0, "flush")
		freq := &impl.Request{Op: impl.ReqFlush, Done: func(req *impl.Request) {
			r.open--
			if req.Err != nil {
				r.failed = req.Err
				return
			}
			r.l.FlushCompleted(mark)
			r.trace = append(r.trace, "  flush done")
			r.step("done", lane, 0, "flush done")
		}}
		r.submitted(freq, lane)
		return
	}
	id := r.nextID
	r.nextID++
	off, n := q.Sector*impl.SectorSize, q.Count*impl.SectorSize
	what, req := "write", &impl.Request{Op: impl.ReqWrite, Off: off, Buf: Data(id, off, n)}
	if q.Zero {
		what, req = "write-zeroes", &impl.Request{Op: impl.ReqWriteZeroes, Off: off, Len: n}
		r.l.SubmittedZeroes(id, off, n)
	} else {
		r.l.Submitted(id, off, n)
	}
	r.trace = append(r.trace, fmt.Sprintf("submit %s %d: guest %#x+%d", what, id, off, n))
	r.step("submit", lane, 0, fmt.Sprintf("%s %d: guest %#x+%d", what, id, off, n))
	req.Done = func(req *impl.Request) {
		r.open--
		if req.Err != nil {
			r.failed = req.Err
			return
		}
		r.l.Completed(id)
		r.trace = append(r.trace, fmt.Sprintf("  %s %d done", what, id))
		r.step("done", lane, 0, fmt.Sprintf("%s %d done", what, id))
	}
	r.submitted(req, lane)
}

// submitted hands q, guest request lane, to the image, noting its
// engine ID first: the engine assigns it at Submit and may issue I/O for
// it at once.
func (r *run) submitted(q *impl.Request, lane int) {
	// The engine numbers requests from 1 in submission order, and hands
	// the request's first I/Os to the backend inside Submit.
	r.reqs[uint64(lane)] = lane
	r.im.Submit(q)
	if q.ID != uint64(lane) && r.failed == nil {
		r.failed = fmt.Errorf("crash explorer: request %d got engine ID %d; trace steps would name the wrong request", lane, q.ID)
	}
}

// describe renders io in domain words, as the engine does.
func (r *run) describe(io *impl.IO) string {
	if r.im == nil {
		return io.String()
	}
	return r.im.Engine().Describe(io)
}

// complete completes pending I/O id and lets the engine process it.
func (r *run) complete(id uint64, w Workload) error {
	io := r.ios[id]
	if io != nil && io.Op == impl.OpFlush {
		r.cs.SyncLimit(r.marks[id])
	}
	r.trace = append(r.trace, "complete "+io.String())
	r.step("complete", r.reqs[io.Req], id, r.describe(io))
	if err := r.be.Complete(id); err != nil {
		return err
	}
	if !r.im.Step() {
		return fmt.Errorf("no I/O completed after completing %d", id)
	}
	r.advance(w)
	return r.failed
}

// inFlight returns the image writes pending on the backend, oldest first.
func (r *run) inFlight() []Write {
	var out []Write
	for _, p := range r.be.Pending() {
		if p.File != impl.ImageFile {
			continue
		}
		switch io := r.ios[p.ID]; p.Op {
		case impl.OpWrite:
			out = append(out, Write{Off: int64(io.Off), Data: append([]byte(nil), io.Buf...)})
		case impl.OpWriteZeroes:
			// A write-zeroes (a zero fill, or a guest write-zeroes in
			// place) may land as its zeros would.
			out = append(out, Write{Off: int64(io.Off), Data: make([]byte, io.Len)})
		}
	}
	return out
}
