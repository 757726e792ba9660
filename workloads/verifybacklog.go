package workloads

import (
	"fmt"
	"sort"
)

// This file holds fio's verify_backlog: every verify_backlog writes an
// instance has issued, it reads back verify_backlog_batch of them
// (verify_backlog by default) before writing on, through the same
// request slots, and those reads are I/O of the job, measured as fio
// measures them. runbench issues the reads where fio would (fio's
// io_u.c check_get_verify, verify.c get_next_verify, iolog.c
// log_io_piece); its own checks (-linearizability) do the verifying.

// verifyPiece is a write logged for reading back (fio's io_piece).
type verifyPiece struct {
	off, len uint64
	inFlight bool
}

// verifyLog is one instance's written blocks awaiting their read-back
// (fio's io_hist list or tree) and the state of the batch being read.
// It is a pure state machine, driven by the driver's issue and complete.
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
	// issued counts the bytes of every read, write and trim issued, the
	// read-backs too, and the instance issues nothing more once it
	// reaches total (fio's bytes_issued and total_bytes in do_io).
	issued, total uint64
}

// newVerifyLog returns the verify log of an instance of j, whose writes
// j.VerifyBacklog says to read back.
func newVerifyLog(j *Job) *verifyLog {
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
	return &verifyLog{
		backlog: j.VerifyBacklog, batch: batch, lastRead: true,
		sorted: j.NoRandomMap || j.OffsetAdd != 0 || j.RandomRun > 1 || j.IOSize > j.Size,
		total:  satAdd(total, j.Size),
	}
}

// done reports whether the instance has issued its bytes.
func (v *verifyLog) done() bool { return v.issued >= v.total }

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
	case j.Loops > 1:
		return no("loops: fio verifies what is left after each loop")
	case j.Ops > 0:
		return no("number_ios: fio counts the read-backs in it")
	case j.IOLog != nil:
		return no("read_iolog")
	case j.Rate != RWPair{} || j.RateIOPS != RWPair{} || j.ThinkTime > 0:
		return no("rate, rate_iops or thinktime: the read-backs' pacing is not implemented")
	}
	return nil
}
