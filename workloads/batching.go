package workloads

import (
	"fmt"

	"github.com/qedharness/qedharness/impl"
)

// This file holds fio's batched submission and completion (keys
// iodepth_batch, iodepth_batch_complete_min, iodepth_batch_complete_max,
// iodepth_low), as fio's do_io (backend.c), wait_for_completions,
// io_u_queued_complete (io_u.c) and td_io_queue, td_io_getevents
// (ioengines.c) do them for one instance (fio's thread):
//
//   - it takes requests until iodepth are issued and not reaped (fio's
//     cur_depth), submitting them in groups of iodepth_batch (the rest
//     when the queue is full, or the instance has no more);
//   - when the queue is full, it waits until min(iodepth_batch_complete_min,
//     cur_depth) have completed (at least 1), reaps those completed, up to
//     iodepth_batch_complete_max (at least the minimum), and does so again
//     while more than iodepth_low are left, and only then takes requests
//     again;
//   - a request is counted when it is reaped, its latency running to then,
//     as fio's completion latency does.

// batchConfig is a job's batching, resolved for a queue depth as fio's
// fixup_options does.
type batchConfig struct {
	depth, batch, low, cmin, cmax int
}

// batching returns the job's batching at queue depth qd, and whether it
// differs from keeping qd in flight (fio's defaults).
func (j Job) batching(qd int) (batchConfig, bool) {
	c := batchConfig{depth: qd, batch: j.IODepthBatch, low: j.IODepthLow, cmin: j.IODepthBatchCompleteMin, cmax: j.IODepthBatchCompleteMax}
	if c.low > qd || c.low == 0 {
		c.low = qd
	}
	if c.batch > qd || c.batch == 0 {
		c.batch = qd
	}
	if c.cmin > c.cmax {
		c.cmax = c.cmin
	}
	return c, c.batch > 1 || c.cmin > 1 && qd > 1 || c.low < qd
}

// reaped is a completed request of a slot, awaiting its reaping.
type reaped struct {
	s              *runSlot
	op             impl.ReqOp
	bytes, trimLen uint64
	submitted      int64
}

// batcher is the batching of one instance.
type batcher struct {
	c      batchConfig
	free   []*runSlot // slots without a request
	queued []queuedOp // taken, not yet submitted
	cur    int        // taken and not reaped (fio's cur_depth)
	done   []reaped   // completed, not reaped, in completion order
	// waiting is set while the instance waits for completions: at least
	// minEvts (fio's min_evts), again while full was set (the queue was
	// full when it began) and more than low are left.
	waiting bool
	full    bool
	minEvts int
	ended   bool // the instance takes no more requests
	started bool // the driver has begun filling it
}

type queuedOp struct {
	s  *runSlot
	op Op
}

// fill takes requests until the queue is full or the instance has no
// more, submitting each group of batch, then waits for completions.
func (d *driver) fill(b *batcher) {
	for !b.ended && b.cur < b.c.depth {
		s := b.free[len(b.free)-1]
		op, ok := d.nextOp(s)
		if !ok {
			b.ended = true
			for _, f := range b.free {
				d.retire(f)
			}
			break
		}
		b.free = b.free[:len(b.free)-1]
		b.cur++
		b.queued = append(b.queued, queuedOp{s, op})
		if len(b.queued) >= b.c.batch {
			d.commit(b)
		}
	}
	d.commit(b) // fio's getevents commits what is queued before waiting
	if b.cur == 0 {
		return
	}
	b.waiting, b.full = true, b.cur >= b.c.depth
	b.minEvts = 1
	if b.full && b.c.cmin > 0 {
		b.minEvts = min(b.c.cmin, b.cur)
	}
	d.reap(b)
}

// commit submits the queued requests.
func (d *driver) commit(b *batcher) {
	for _, q := range b.queued {
		d.submit(q.s, q.op)
	}
	b.queued = b.queued[:0]
}

// reap reaps completed requests if enough have completed, and takes
// requests again once the wait is over.
func (d *driver) reap(b *batcher) {
	for b.waiting {
		need := min(b.minEvts, b.cur)
		if len(b.done) < need || len(b.done) == 0 {
			return
		}
		limit := min(b.c.cmax, b.cur)
		limit = max(limit, need)
		n := min(len(b.done), limit)
		at := d.env.clock()
		batch := b.done[:n]
		for _, r := range batch {
			b.cur--
			b.free = append(b.free, r.s)
			if b.ended {
				d.retire(r.s)
			}
			d.finish(r.s, r.op, r.bytes, r.trimLen, r.submitted, at)
		}
		b.done = append(b.done[:0], b.done[n:]...)
		if b.full && b.cur > b.c.low {
			continue
		}
		if b.ended {
			if b.cur == 0 {
				b.waiting = false
			}
			b.minEvts, b.full = 1, false
			continue
		}
		b.waiting = false
		d.fill(b)
		return
	}
}

// checkBatching refuses what batching is not implemented with; a
// problem is a *KeyError.
func (j *Job) checkBatching() error {
	if j.IODepthBatch <= 1 && j.IODepthBatchCompleteMin <= 1 && j.IODepthBatchCompleteMax <= 1 && j.IODepthLow == 0 {
		return nil
	}
	key := "iodepth_batch"
	switch {
	case j.IODepthLow > 0:
		key = "iodepth_low"
	case j.IODepthBatchCompleteMin > 1:
		key = "iodepth_batch_complete_min"
	case j.IODepthBatchCompleteMax > 1:
		key = "iodepth_batch_complete_max"
	}
	no := func(what string) error {
		return j.keyError(key, fmt.Errorf("not supported with %s: batching paced requests is not implemented", what))
	}
	switch {
	case j.Rate != RWPair{} || j.RateIOPS != RWPair{}:
		return no("rate or rate_iops")
	case j.ThinkTime > 0:
		return no("thinktime")
	case j.IOLog != nil:
		return no("read_iolog")
	case j.ReopenEvery > 0:
		return j.keyError(key, fmt.Errorf("not supported with reopen_every: requests held for the next generation are not batched"))
	}
	return nil
}
