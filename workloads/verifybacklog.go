package workloads

import (
	"fmt"
	"math"
	"sort"
)

// This file holds fio's verify_backlog: every verify_backlog writes an
// instance has issued, it reads back verify_backlog_batch of them
// (verify_backlog by default) before writing on, through the same
// request slots, and those reads are I/O of the job, measured as fio
// measures them. runbench issues the reads where fio would (fio's
// io_u.c check_get_verify, verify.c get_next_verify, iolog.c
// log_io_piece); its own checks (-linearizability) do the verifying.
// Once the stream has issued its last request, the instance issues
// nothing more (do_io's loop condition, io_issue_bytes_exceeded, which
// the read-backs do not count in): the read-backs then due are fio's
// verify after the I/O.
//
// With loops, each loop is fio's do_io then do_verify (backend.c
// thread_main): the loop's I/O ends at its byte budget (do_io's
// bytes_issued against total_bytes, counted afresh each loop) or, where
// fio's file runs out (a sequential pass reaching the region's end, a
// random map full), at the end of the stream's pass; the instance lets
// its requests complete, then reads back every block the loop wrote and
// did not read back yet, at the instance's depth, in the log's order
// (do_verify's get_next_verify), and lets those complete before the
// next loop starts with the log empty. fio's count of the batch being
// read (verify_batch) and its last completion's direction carry over
// from loop to loop, as they do in fio's thread_data. The reads after the
// last loop are fio's verify after the I/O, which runbench does not
// issue (its checks verify the data outside the measured phase).
// Where fio's loop differs: a loop its byte budget ends in the middle of
// the stream's pass (io_size beyond size) is followed by one that goes
// on where the stream stopped, while fio's next loop starts its file
// over (fio_file_reset: a sequential pass at the region's start, a new
// random map).

// verifyPiece is a write logged for reading back (fio's io_piece).
type verifyPiece struct {
	off, len uint64
	inFlight bool
}

// verifyLog is one instance's written blocks awaiting their read-back
// (fio's io_hist list or tree) and the state of the batch being read.
// It is a pure state machine, driven by the driver's issue and complete;
// it keeps the driver's waiting slots for it, and never touches them.
type verifyLog struct {
	backlog, batch uint64
	// sorted keeps the pieces in offset order, an overlapping write
	// replacing the pieces it overlaps, as fio's tree does when offsets
	// may repeat (fio_offset_overlap_risk); otherwise they are in the
	// order issued, as fio's list.
	sorted bool
	pieces []*verifyPiece
	left   uint64 // reads left in the current batch (fio's verify_batch)
	// lastRead is whether the last request completed (not counting
	// flushes) was a read: fio's last_ddir_completed == DDIR_READ,
	// which it is before any completes.
	lastRead bool
	// issued counts the bytes of every read, write and trim issued in
	// the loop, the read-backs too, and the loop issues nothing more once
	// it reaches total (fio's bytes_issued and total_bytes in do_io).
	issued, total uint64
	// loop counts the loops over (0 in the first), of loops (1 or more).
	loop, loops uint64
	// passEnds is whether fio's loop also ends where the stream's pass
	// does: fio's file runs out (get_io_u finds no block) at the end of a
	// sequential pass, or of a random one with the random map; it does
	// not with norandommap, io_size beyond size or an offset modifier
	// that wraps in the region, where the byte budget ends the loop.
	passEnds bool
	phase    verifyPhase
	inFlight int // the instance's requests issued and not complete
	// waiting holds the driver's slots of the instance that found
	// nothing to issue while it drains or reads back (fio's do_io end
	// and do_verify); the driver issues them again when the last request
	// in flight completes.
	waiting []*runSlot
}

// verifyPhase is where an instance with verify_backlog is in a loop.
type verifyPhase uint8

const (
	// phaseIO issues the loop's requests and read-backs (fio's do_io).
	phaseIO verifyPhase = iota
	// phaseDrain waits for the loop's requests to complete (do_io's end).
	phaseDrain
	// phaseVerify reads back what the loop left (fio's do_verify).
	phaseVerify
	// phaseDone: the last loop's I/O is over; what it left is for fio's
	// verify after the I/O, which runbench does not issue.
	phaseDone
)

// opSource is what the verify log draws an instance's requests from: a
// Stream.
type opSource interface {
	Next() (Op, bool)
	ended() bool
	passesDone() uint64
}

// newVerifyLog returns the verify log of an instance of p's job, whose
// writes j.VerifyBacklog says to read back.
func newVerifyLog(p *Plan) *verifyLog {
	j := &p.job
	batch := j.VerifyBacklogBatch
	if batch == 0 {
		batch = j.VerifyBacklog
	}
	// fio's do_io: the region, or io_size when larger for sequential
	// writes and for random writes without a random map, plus the region
	// again for the read-backs.
	total := j.Size
	if j.RW.Writes() && (!j.RW.Random() || j.NoRandomMap) {
		total = max(total, j.IOSize)
	}
	// fio's file runs out at the end of a pass (io_u.c get_next_block
	// failing): not with norandommap (get_next_rand_offset always finds
	// a block), nor for writes with io_size beyond size
	// (get_next_seq_offset goes back to the start), nor with an offset
	// modifier that wraps in the region.
	passEnds := p.dist == nil && !(j.RW.Random() && j.NoRandomMap) && !(j.RW.Writes() && j.IOSize > j.Size) &&
		!(j.OffsetAdd != 0 && !j.RW.Random() && seqAddRun(j.Size, j.BlockSize, j.OffsetAdd) == math.MaxUint64)
	return &verifyLog{
		backlog: j.VerifyBacklog, batch: batch, lastRead: true,
		sorted:   j.NoRandomMap || j.OffsetAdd != 0 || j.RandomRun > 1 || j.IOSize > j.Size,
		total:    satAdd(total, j.Size),
		loops:    uint64(max(j.Loops, 1)),
		passEnds: passEnds,
	}
}

// take returns the instance's next request, from st or a read-back,
// following fio's do_io and do_verify through the loops: the piece of a
// write, to be marked complete when it completes, and whether the
// request is a read-back. None (ok false) while the loop drains, while
// the read-backs after it have none left to issue, and once the
// instance is done; the caller then marks the slot waiting if
// v.resumes().
func (v *verifyLog) take(st opSource) (op Op, p *verifyPiece, back, ok bool) {
	for {
		switch v.phase {
		case phaseIO:
			last := v.loop+1 >= v.loops
			// do_io: the stream's bytes over every loop first
			// (io_issue_bytes_exceeded, which read-backs do not count
			// in), then the loop's (bytes_issued), then a read-back due
			// (get_io_u's check_get_verify), then the stream.
			if st.ended() || v.issued >= v.total {
				if last {
					v.phase = phaseDone
					return Op{}, nil, false, false
				}
				v.phase = phaseDrain
				continue
			}
			if op, ok := v.next(); ok {
				v.issued += op.Len
				v.inFlight++
				return op, nil, true, true
			}
			if !last && v.passEnds && st.passesDone() > v.loop {
				v.phase = phaseDrain // get_io_u finds the file done
				continue
			}
			op, ok := st.Next()
			if !ok { // (st.ended() says so first)
				v.phase = phaseDrain
				continue
			}
			v.issued += op.Len
			v.inFlight++
			if op.Kind == OpWrite {
				p = v.log(op.Off, op.Len)
			}
			return op, p, false, true
		case phaseDrain:
			if v.inFlight > 0 {
				return Op{}, nil, false, false
			}
			v.phase = phaseVerify
		case phaseVerify:
			// do_verify: every piece left, in the log's order, all of
			// them complete now.
			if len(v.pieces) > 0 {
				q := v.pieces[0]
				v.pieces = v.pieces[1:]
				v.inFlight++
				return Op{Kind: OpRead, Off: q.off, Len: q.len}, nil, true, true
			}
			if v.inFlight > 0 {
				return Op{}, nil, false, false
			}
			// The next loop: do_io's bytes_issued starts at 0; the log
			// is empty, verify_batch and last_ddir_completed carry over.
			v.loop++
			v.issued = 0
			v.phase = phaseIO
		default: // phaseDone
			return Op{}, nil, false, false
		}
	}
}

// resumes reports whether a slot that found nothing to issue will have
// something once the requests in flight complete: while the loop
// drains or its read-backs complete.
func (v *verifyLog) resumes() bool { return v.phase == phaseDrain || v.phase == phaseVerify }

// completed records the completion of one of the instance's requests
// (a flush too), read saying whether it was a read, p the piece of a
// write (nil for others), and returns the slots to issue again: those
// waiting, once nothing is in flight.
func (v *verifyLog) completed(read, flush bool, p *verifyPiece) []*runSlot {
	v.inFlight--
	if !flush {
		v.lastRead = read
	}
	if p != nil {
		p.inFlight = false
	}
	if v.inFlight > 0 || len(v.waiting) == 0 {
		return nil
	}
	w := v.waiting
	v.waiting = nil
	return w
}

// ended reports whether the stream has issued all its reads and writes
// and the flush owed after them: Next would return none.
func (s *Stream) ended() bool {
	switch {
	case s.flush:
		return false
	case s.bound:
		return s.left == 0
	case s.p.budget > 0:
		return s.bytes == 0
	}
	return s.exhausted()
}

// passesDone returns how many of the stream's passes (its loops) are
// over: every read and write of them issued, and the flush owed after
// the last; 0 when the stream has no passes to count.
func (s *Stream) passesDone() uint64 {
	loops := uint64(max(s.p.job.Loops, 1))
	var done, per uint64
	switch {
	case s.bound:
		done, per = s.p.opsPerJob-s.left, s.p.opsPerJob/loops
	case s.p.budget > 0:
		done, per = s.p.budget-s.bytes, s.p.budget/loops
	}
	if per == 0 {
		return 0
	}
	n := done / per
	if s.flush && n > 0 && done%per == 0 {
		n-- // the flush after the pass's last write is still owed
	}
	return n
}

// next returns the read-back to issue instead of the instance's next
// request, if one is due: while a batch has reads left, or when the
// pieces logged are a multiple of the backlog and the last completion
// was not a read; the read is of the first piece (in offset order when
// sorted) whose write has completed, and none is due when that is none
// (in fio's list, when the oldest write is in flight).
func (v *verifyLog) next() (Op, bool) {
	n := uint64(len(v.pieces))
	if n == 0 {
		return Op{}, false
	}
	if v.left == 0 {
		if n%v.backlog != 0 || v.lastRead {
			return Op{}, false
		}
		v.left = v.batch
	}
	i := 0
	if v.sorted {
		for i < len(v.pieces) && v.pieces[i].inFlight {
			i++
		}
		if i == len(v.pieces) {
			return Op{}, false
		}
	} else if v.pieces[0].inFlight {
		return Op{}, false
	}
	p := v.pieces[i]
	v.pieces = append(v.pieces[:i], v.pieces[i+1:]...)
	v.left--
	return Op{Kind: OpRead, Off: p.off, Len: p.len}, true
}

// log logs a write as it is issued and returns its piece, to be marked
// complete when the write completes.
func (v *verifyLog) log(off, n uint64) *verifyPiece {
	p := &verifyPiece{off: off, len: n, inFlight: true}
	if !v.sorted {
		v.pieces = append(v.pieces, p)
		return p
	}
	// Drop the pieces the write overlaps, then insert it by offset.
	kept := v.pieces[:0]
	for _, q := range v.pieces {
		if q.off < off+n && off < q.off+q.len {
			continue
		}
		kept = append(kept, q)
	}
	v.pieces = kept
	i := sort.Search(len(v.pieces), func(i int) bool { return v.pieces[i].off > off })
	v.pieces = append(v.pieces, nil)
	copy(v.pieces[i+1:], v.pieces[i:])
	v.pieces[i] = p
	return p
}

// verifyKeys are fio's keys that say whether it logs writes to read
// back: verify (not "0", its default), do_verify (default 1) and
// experimental_verify (default 0). runbench ignores them otherwise.
type verifyKeys struct {
	verify             string
	noDo, experimental bool
}

// set records key=value if key is one of them.
func (k *verifyKeys) set(key, value string) {
	switch key {
	case "verify":
		k.verify = value
	case "do_verify":
		var b bool
		if setBool(&b, value) == nil {
			k.noDo = !b
		}
	case "experimental_verify":
		_ = setBool(&k.experimental, value)
	}
}

// whyNoBacklog says why fio would read nothing back during job j
// (iolog.c, log_io_piece's callers), or "" if it would.
func (k *verifyKeys) whyNoBacklog(j *Job) string {
	switch {
	case j.VerifyBacklog == 0:
		return "without verify_backlog, fio reads nothing back during the job"
	case k.verify == "" || k.verify == "0" || k.verify == "none":
		return "without verify, fio logs no writes to read back"
	case k.noDo:
		return "with do_verify=0, fio logs no writes to read back"
	case k.experimental:
		return "with experimental_verify=1, fio logs no writes to read back"
	case !j.RW.Writes():
		return "a job without writes has nothing to read back"
	}
	return ""
}

// checkVerifyBacklog refuses what verify_backlog is not implemented
// with; a problem is a *KeyError.
func (j *Job) checkVerifyBacklog() error {
	if j.VerifyBacklog == 0 {
		return nil
	}
	no := func(format string, args ...any) error {
		return j.keyError("verify_backlog", fmt.Errorf("not supported with "+format, args...))
	}
	switch {
	case j.RW.Trims():
		return no("rw=%s: fio's trims double its byte budget in a way not implemented", j.RW)
	case j.TimeBased:
		return no("time_based: fio stops a time-based job's writes after each pass to verify them all, then starts again")
	case j.Loops > 1 && (j.IODepthBatch > 1 || j.IODepthBatchCompleteMin > 1 || j.IODepthBatchCompleteMax > 1 || j.IODepthLow > 0):
		return no("loops and iodepth_batch, iodepth_batch_complete_min, _max or iodepth_low: the read-backs between loops are not batched")
	case j.Ops > 0:
		return no("number_ios: fio counts the read-backs in it")
	case j.IOLog != nil:
		return no("read_iolog")
	case j.Rate != RWPair{} || j.RateIOPS != RWPair{} || j.ThinkTime > 0:
		return no("rate, rate_iops or thinktime: the read-backs' pacing is not implemented")
	}
	return nil
}
