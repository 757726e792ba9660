package checker

import (
	"fmt"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// exploreRecorder records the calls and returns of an explored run as a
// history.History, for Check. It does what history.Recorder does
// (stamps every write with its tags, decodes what reads saw, records
// reopens), but sized for the explorer, which builds tens of thousands
// of short runs: it allocates nothing per run beyond the events.
// Like the image, it is driven by one goroutine.
type exploreRecorder struct {
	open   func(gen int) (*impl.Image, error)
	im     *impl.Image
	gen    int
	hist   history.History
	nextID uint64
	// maxAlloc is the most allocating writes in flight over the closed
	// generations.
	maxAlloc int
}

func newExploreRecorder(disk model.Disk, open func(gen int) (*impl.Image, error)) (*exploreRecorder, error) {
	im, err := open(0)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	return &exploreRecorder{open: open, im: im, hist: history.History{Disk: disk}}, nil
}

// History returns the history recorded so far; it shares storage with
// the recorder.
func (r *exploreRecorder) History() history.History { return r.hist }

// MaxAllocInFlight returns the most allocating writes in flight at once,
// over every generation.
func (r *exploreRecorder) MaxAllocInFlight() int {
	return max(r.maxAlloc, r.im.Stats().MaxAllocInFlight)
}

// Submit records q's call and submits it; q's Done, if set, runs after
// the return is recorded. q must cover whole sectors (a write-zeroes by
// its Len).
func (r *exploreRecorder) Submit(q *impl.Request) {
	r.nextID++
	id := r.nextID
	act := history.ActRead
	switch q.Op {
	case impl.ReqWrite:
		act = history.ActWrite
		history.StampWrite(q.Buf, id, q.Off/model.SectorSize)
	case impl.ReqFlush:
		act = history.ActFlush
	case impl.ReqWriteZeroes:
		act = history.ActWriteZeroes
	}
	r.hist.Events = append(r.hist.Events, history.Event{
		Kind: history.Call, ID: id, Action: act,
		Sector: q.Off / model.SectorSize, Sectors: q.Length() / model.SectorSize, Client: int(id),
	})
	orig := q.Done
	q.Done = func(q *impl.Request) {
		ev := history.Event{Kind: history.Return, ID: id, Req: q.ID}
		if q.Err != nil {
			ev.Err = q.Err.Error()
		} else if act == history.ActRead {
			ev.Seen = history.DecodeSectors(nil, q.Buf)
		}
		r.hist.Events = append(r.hist.Events, ev)
		q.Done = orig
		if orig != nil {
			orig(q)
		}
	}
	r.im.Submit(q)
}

// Step processes one I/O completion.
func (r *exploreRecorder) Step() bool { return r.im.Step() }

// Run processes completions until no I/O is in flight.
func (r *exploreRecorder) Run() { r.im.Run() }

// Reopen runs the image until idle, closes it, opens the next generation
// and records the reopen.
func (r *exploreRecorder) Reopen() error {
	r.im.Run()
	r.nextID++
	id := r.nextID
	r.hist.Events = append(r.hist.Events, history.Event{Kind: history.Call, ID: id, Action: history.ActReopen, Client: int(id)})
	r.maxAlloc = r.MaxAllocInFlight()
	err := r.im.Close()
	if err == nil {
		var im *impl.Image
		if im, err = r.open(r.gen + 1); err == nil {
			r.im, r.gen = im, r.gen+1
		}
	}
	ev := history.Event{Kind: history.Return, ID: id}
	if err != nil {
		err = fmt.Errorf("reopen: %w", err)
		ev.Err = err.Error()
	}
	r.hist.Events = append(r.hist.Events, ev)
	return err
}
