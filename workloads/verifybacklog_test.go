package workloads

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestVerifyLog steps fio's read-back logic through scripts: "w OFF"
// issues the instance's next write (at OFF KiB, 4 KiB long) unless a
// read-back is due, in which case the step expects it ("r OFF"); "c OFF"
// completes the write at OFF, "cr" a read.
func TestVerifyLog(t *testing.T) {
	tests := []struct {
		name           string
		backlog, batch uint64
		sorted         bool
		script         string
	}{
		{"backlog 1 at depth 1", 1, 0, false, "w 0, c 0, r 0, cr, w 4, c 4, r 4, cr, w 8"},
		{"backlog 2 reads both", 2, 0, false, "w 0, c 0, w 4, c 4, r 0, cr, r 4, cr, w 8"},
		{"a smaller batch leaves blocks unread", 2, 1, false, "w 0, c 0, w 4, c 4, r 0, cr, w 8, c 8, r 4, cr, w 12"},
		// No read-back before a write completes: fio's last completion
		// starts as a read.
		{"nothing before a completion", 1, 0, false, "w 0, w 4, c 0, r 0, cr, c 4, r 4"},
		// The oldest write in flight holds the list back; a batch started
		// stays due.
		{"oldest in flight", 2, 0, false, "w 0, w 4, c 4, w 8, w 12, c 8, w 16, c 0, r 0, cr, r 4"},
		// Sorted: the first completed piece by offset, in flight or not.
		{"sorted skips pieces in flight", 2, 0, true, "w 8, w 0, c 8, r 8, cr, w 12, c 12, r 12"},
		// An overwrite replaces the piece it overlaps.
		{"overwrite", 2, 0, true, "w 8, c 8, w 8, c 8, w 0, c 0, r 0, cr, r 8, cr, w 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyLog{backlog: tt.backlog, batch: tt.batch, sorted: tt.sorted, lastRead: true, total: 1 << 40}
			if v.batch == 0 {
				v.batch = v.backlog
			}
			inflight := map[uint64]*verifyPiece{}
			for i, step := range strings.Split(tt.script, ", ") {
				var kind string
				var off uint64
				fmt.Sscanf(step, "%s %d", &kind, &off)
				off <<= 10
				switch kind {
				case "w", "r":
					op, ok := v.next()
					got := "w"
					if ok {
						got = fmt.Sprintf("r %d", op.Off>>10)
						if op.Len != 4<<10 {
							t.Fatalf("step %d: read of %d bytes", i, op.Len)
						}
					}
					if got != step && (kind == "r" || got != "w") {
						t.Fatalf("step %d (%s): got %s", i, step, got)
					}
					if kind == "w" {
						inflight[off] = v.log(off, 4<<10)
					}
				case "c":
					inflight[off].inFlight = false
					v.lastRead = false
				case "cr":
					v.lastRead = true
				}
			}
		})
	}
}

// opRecorder records the requests submitted, as "w0" or "r4" (KiB).
type opRecorder struct {
	im  *impl.Image
	ops []string
}

func (o *opRecorder) Submit(r *impl.Request) {
	switch r.Op {
	case impl.ReqRead:
		o.ops = append(o.ops, fmt.Sprintf("r%d", r.Off>>10))
	case impl.ReqWrite:
		o.ops = append(o.ops, fmt.Sprintf("w%d", r.Off>>10))
	}
	o.im.Submit(r)
}

// TestRunVerifyBacklog runs read-backs on sim: their order, and fio's
// budget of size bytes more.
func TestRunVerifyBacklog(t *testing.T) {
	tests := []struct {
		name          string
		set           map[string]string
		qd            int
		reads, writes uint64
		prefix        string
	}{
		// The last write issued ends fio's do_io (io_issue_bytes_exceeded:
		// the read-backs do not count in it) before its check_get_verify:
		// the last block, or the last backlog, is read back by fio's verify
		// after the I/O, which runbench does not issue.
		{"write then read each", map[string]string{"rw": "write", "size": "16k", "verify_backlog": "1"}, 1, 3, 4, "w0 r0 w4 r4 w8 r8 w12"},
		{"two by two", map[string]string{"rw": "write", "size": "16k", "verify_backlog": "2"}, 1, 2, 4, "w0 w4 r0 r4 w8 w12"},
		// io_size 64k over 16k without a random map: a budget of 64k +
		// 16k, half of it read-backs.
		{"budget", map[string]string{"rw": "randwrite", "size": "16k", "io_size": "64k", "norandommap": "1", "verify_backlog": "1"}, 1, 10, 10, ""},
		// A sequential job's budget is its io_size and size: the writes
		// are cut short too.
		{"sequential budget", map[string]string{"rw": "write", "size": "16k", "io_size": "32k", "verify_backlog": "1"}, 1, 6, 6, "w0 r0 w4 r4"},
		// Four in flight: no read-back until a write completes; one whose
		// oldest block is in flight waits for it (w16 goes first); after
		// r12 the last completion is a read, so w32 goes on past a
		// multiple of the backlog and the next batch waits for the eighth
		// block logged (w44); the last eight blocks are left for fio's
		// verify after the job, which runbench does not issue.
		{"deeper", map[string]string{"rw": "write", "size": "64k", "verify_backlog": "4"}, 4, 8, 16,
			"w0 w4 w8 w12 r0 w16 r4 r8 r12 w20 w24 w28 w32 w36 w40 w44 r16 r20 r24 r28 w48 w52 w56 w60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "vb", tt.set)
			var rec *opRecorder
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: tt.qd, Seed: 1,
				Wrap: func(open history.Opener) (Submitter, error) {
					im, _, err := open(0)
					rec = &opRecorder{im: im}
					return rec, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reads != tt.reads || res.Writes != tt.writes {
				t.Errorf("%d reads, %d writes; want %d, %d: %v", res.Reads, res.Writes, tt.reads, tt.writes, rec.ops)
			}
			if got := strings.Join(rec.ops, " "); !strings.HasPrefix(got, tt.prefix) {
				t.Errorf("requests %s, want them to start %s", got, tt.prefix)
			}
			// Every read is of a block written before it.
			written := map[string]bool{}
			for _, op := range rec.ops {
				if op[0] == 'w' {
					written[op[1:]] = true
				} else if !written[op[1:]] {
					t.Errorf("read %s of a block not written: %v", op, rec.ops)
				}
			}
		})
	}
}

// TestVerifyBacklogRefused checks what verify_backlog is refused with,
// in one loop and in two.
func TestVerifyBacklogRefused(t *testing.T) {
	for _, kvs := range [][][2]string{
		{{"time_based", "1"}}, {{"number_ios", "8"}}, {{"rate_iops", "100"}}, {{"rw", "trimwrite"}},
		{{"time_based", "1"}, {"loops", "2"}}, {{"number_ios", "8"}, {"loops", "2"}},
		{{"rate_iops", "100"}, {"loops", "2"}}, {{"rw", "trimwrite"}, {"loops", "2"}},
		{{"iodepth_batch", "4"}, {"loops", "2"}},
	} {
		j := DefaultJob()
		j.Name = "vb"
		for _, s := range append([][2]string{{"rw", "write"}, {"runtime", "1"}, {"verify_backlog", "1"}}, kvs...) {
			if err := j.Set(s[0], s[1]); err != nil {
				t.Fatal(err)
			}
		}
		_, err := j.Plan()
		if ke, ok := err.(*KeyError); !ok || ke.Key != "verify_backlog" || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%v: error %v, want verify_backlog refused", kvs, err)
		}
	}
	// Batching in one loop is accepted.
	j := DefaultJob()
	j.Name = "vb"
	for _, s := range [][2]string{{"rw", "write"}, {"verify_backlog", "1"}, {"iodepth_batch", "4"}} {
		if err := j.Set(s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.Plan(); err != nil {
		t.Errorf("iodepth_batch in one loop: %v", err)
	}
}

// scriptSource is an opSource of ops in passes of pass ops each.
type scriptSource struct {
	ops  []Op
	pass int
	i    int
}

func (s *scriptSource) Next() (Op, bool) {
	if s.i == len(s.ops) {
		return Op{}, false
	}
	s.i++
	return s.ops[s.i-1], true
}

func (s *scriptSource) ended() bool        { return s.i == len(s.ops) }
func (s *scriptSource) passesDone() uint64 { return uint64(s.i / s.pass) }

// TestVerifyLogLoops steps fio's loops through scripts over a stream of
// 4 KiB writes at the offsets given (KiB), passes long, in two loops:
// "w OFF" and "r OFF" expect the next request to be that write or
// read-back; "-" expects none, the slot waiting for the requests in
// flight (fio's do_io draining, or do_verify's reads completing);
// "." none, the instance done; "c OFF" completes the write at OFF, "cr"
// a read; "wake N" expects the last completion to have woken N
// waiting slots.
func TestVerifyLogLoops(t *testing.T) {
	tests := []struct {
		name           string
		backlog, batch uint64
		total          uint64 // bytes of a loop (KiB)
		sorted, ends   bool
		offs           []uint64
		pass           int
		script         string
	}{
		// Depth 2, nothing due: the pass ends (get_io_u finds the file
		// done), both slots wait for w12, then do_verify reads the four
		// blocks at depth 2, and the second loop starts once they
		// complete; its own blocks are for fio's verify after the I/O.
		{"drain, read back, next loop", 8, 8, 1 << 20, false, true, []uint64{0, 4, 8, 12, 0, 4, 8, 12}, 4,
			"w 0, w 4, c 0, w 8, c 4, w 12, c 8, -, -, c 12, wake 2, r 0, r 4, cr, r 8, cr, r 12, cr, -, cr, wake 1, " +
				"w 0, w 4, c 0, w 8, c 4, w 12, c 8, ., c 12, ."},
		// A read-back due when the pass is over comes first
		// (check_get_verify before get_io_u finds the file done); the
		// next slot finds the oldest block in flight and the file done,
		// and waits for both requests; w4 is read back by do_verify.
		{"due as the pass ends", 2, 0, 1 << 20, false, true, []uint64{0, 4, 0, 4}, 2,
			"w 0, w 4, c 0, r 0, -, c 4, cr, wake 1, r 4, -, cr, wake 1, w 0, w 4, c 0, ., c 4, ."},
		// The pass ends with one block logged, not a multiple of the
		// backlog: do_verify reads it back (r8) before the next loop.
		{"one left for do_verify", 2, 0, 1 << 20, false, true, []uint64{0, 4, 8, 0, 4, 8}, 3,
			"w 0, c 0, w 4, c 4, r 0, cr, r 4, cr, w 8, c 8, r 8, cr, w 0, c 0, w 4, c 4, r 0, cr, r 4, cr, w 8, c 8, ."},
		// Without fio's pass end (norandommap, io_size beyond size), the
		// loop's bytes end it: 16 KiB, read-backs included; the stream
		// goes on where it stopped.
		{"bytes end the loop", 8, 0, 16, true, false, []uint64{0, 4, 8, 12, 16, 20}, 3,
			"w 0, c 0, w 4, c 4, w 8, c 8, w 12, c 12, r 0, r 4, cr, r 8, cr, r 12, cr, -, cr, wake 1, w 16, c 16, w 20, c 20, ."},
		// A batch left unfinished carries over (verify_batch), and is
		// taken up once the next loop logs a write: r0 comes before w4.
		{"batch carries over", 2, 4, 24, false, true, []uint64{0, 4, 8, 0, 4, 8}, 3,
			"w 0, c 0, w 4, c 4, r 0, cr, r 4, cr, w 8, c 8, r 8, cr, w 0, c 0, r 0, cr, w 4, c 4, w 8, c 8, ."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyLog{backlog: tt.backlog, batch: tt.batch, sorted: tt.sorted, lastRead: true,
				total: tt.total << 10, loops: 2, passEnds: tt.ends}
			if v.batch == 0 {
				v.batch = v.backlog
			}
			src := &scriptSource{pass: tt.pass}
			for _, off := range tt.offs {
				src.ops = append(src.ops, Op{Kind: OpWrite, Off: off << 10, Len: 4 << 10})
			}
			inflight := map[uint64]*verifyPiece{}
			var woken []*runSlot
			for i, step := range strings.Split(tt.script, ", ") {
				var kind string
				var n uint64
				fmt.Sscanf(step, "%s %d", &kind, &n)
				switch kind {
				case "w", "r", "-", ".":
					op, p, back, ok := v.take(src)
					got := "."
					switch {
					case ok && back:
						got = fmt.Sprintf("r %d", op.Off>>10)
					case ok:
						got = fmt.Sprintf("w %d", op.Off>>10)
						inflight[op.Off>>10] = p
					case v.resumes():
						got = "-"
						v.waiting = append(v.waiting, &runSlot{})
					}
					if got != step {
						t.Fatalf("step %d (%s): got %s", i, step, got)
					}
				case "c":
					woken = v.completed(false, false, inflight[n])
				case "cr":
					woken = v.completed(true, false, nil)
				case "wake":
					if uint64(len(woken)) != n {
						t.Fatalf("step %d: %d slots woken, want %d", i, len(woken), n)
					}
				}
			}
		})
	}
}

// TestRunVerifyBacklogLoops runs verify_backlog with loops=2 on sim at
// depth 1: the requests in order, as fio's do_io and do_verify issue
// them (computed by hand in the comments).
func TestRunVerifyBacklogLoops(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		ops  string
	}{
		// Each loop's budget is 32k (size, plus size for the read-backs):
		// the first loop ends at r12 (do_io's bytes_issued), leaving
		// nothing for do_verify; the second ends at its last write
		// (io_issue_bytes_exceeded, counting writes over both loops), r12
		// left for fio's verify after the I/O.
		{"backlog 1", map[string]string{"size": "16k", "verify_backlog": "1"},
			"w0 r0 w4 r4 w8 r8 w12 r12 w0 r0 w4 r4 w8 r8 w12"},
		// The first loop's file runs out after w12 with one block logged,
		// not a multiple of 3: do_verify reads it back.
		{"backlog 3", map[string]string{"size": "16k", "verify_backlog": "3"},
			"w0 w4 w8 r0 r4 r8 w12 r12 w0 w4 w8 r0 r4 r8 w12"},
		// Batches of 4 every 2 writes: the first loop's second batch
		// reads r8 and ends at its 24k (size 12k twice) with one read of
		// it left; the second loop's first write takes it up.
		{"batch carries over", map[string]string{"size": "12k", "verify_backlog": "2", "verify_backlog_batch": "4"},
			"w0 w4 r0 r4 w8 r8 w0 r0 w4 w8"},
		// io_size 16k over 8k: the offsets wrap in the region and the log
		// keeps one piece per block (sorted, overwrites replacing); a
		// loop's budget is 24k (io_size, plus size), so the first ends at
		// its sixth write and do_verify reads both blocks, in offset
		// order; the second loop has the writes left over both loops
		// (io_issue_bytes_exceeded at 32k).
		{"io_size beyond size", map[string]string{"size": "8k", "io_size": "16k", "verify_backlog": "4"},
			"w0 w4 w0 w4 w0 w4 r0 r4 w0 w4"},
		// cross-stripe-verify.fio in small: an offset modifier that
		// wraps in the region, io_size, a read-back after every write;
		// each loop's 64k budget ends it after 8 writes, the second
		// starting at the region's start again (fio's loop reopens the
		// file), and ends at the writes of both loops (64k).
		{"cross-stripe", map[string]string{"rw": "write:4k", "size": "32k", "io_size": "32k", "verify_backlog": "1"},
			"w0 r0 w8 r8 w16 r16 w24 r24 w0 r0 w8 r8 w16 r16 w24 r24 " +
				"w0 r0 w8 r8 w16 r16 w24 r24 w0 r0 w8 r8 w16 r16 w24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"rw": "write", "loops": "2"}
			maps.Copy(set, tt.set)
			p := mustPlan(t, "vb", set)
			var rec *opRecorder
			_, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 1, Seed: 1,
				Wrap: func(open history.Opener) (Submitter, error) {
					im, _, err := open(0)
					rec = &opRecorder{im: im}
					return rec, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rec.ops, " "); got != tt.ops {
				t.Errorf("requests\n%s\nwant\n%s", got, tt.ops)
			}
		})
	}
}

// TestRunVerifyBacklogLoopsData runs verify_backlog with loops on mem,
// recorded, deeper than 1: every read-back finds in each sector what the
// last write to it completed before the read put there, and the
// read-backs between loops come after the loop's writes complete.
func TestRunVerifyBacklogLoopsData(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		qd   int
	}{
		{"sequential", map[string]string{"rw": "write", "size": "256k", "verify_backlog": "3", "loops": "3"}, 4},
		{"random map", map[string]string{"rw": "randwrite", "size": "256k", "verify_backlog": "5", "verify_backlog_batch": "2", "loops": "2"}, 8},
		{"two instances", map[string]string{"rw": "write", "size": "128k", "bs": "8k", "numjobs": "2", "verify_backlog": "4", "loops": "2"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "vb", tt.set)
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendMem, QD: tt.qd, Seed: 7,
				Wrap: func(open history.Opener) (Submitter, error) { return history.NewRecorder(p.Disk(), open) }})
			if err != nil {
				t.Fatal(err)
			}
			h := res.Submitter.(*history.Recorder).History()
			calls := map[uint64]history.Event{}
			last := map[uint64]model.Tag{} // sector: the tag of the last write to it completed
			writing := map[uint64]int{}    // sector: writes to it in flight
			reads, checked := 0, 0
			for _, ev := range h.Events {
				if ev.Kind == history.Call {
					calls[ev.ID] = ev
					if ev.Action == history.ActWrite {
						for s := ev.Sector; s < ev.Sector+ev.Sectors; s++ {
							writing[s]++
						}
					}
					continue
				}
				c := calls[ev.ID]
				switch c.Action {
				case history.ActWrite:
					for s := c.Sector; s < c.Sector+c.Sectors; s++ {
						writing[s]--
						last[s] = c.Action.Wrote(c.ID, s)
					}
				case history.ActRead:
					reads++
					for k, d := range ev.Seen {
						s := c.Sector + uint64(k)
						if writing[s] > 0 {
							t.Fatalf("read %d of sector %d while a write to it is in flight", c.ID, s)
						}
						if want, ok := last[s]; !ok || d.Fault != history.FaultNone || d.Tag != want {
							t.Fatalf("read %d found %v in sector %d, want %v (written: %v)", c.ID, d, s, want, ok)
						}
						checked++
					}
				}
			}
			if uint64(reads) != res.Reads || reads == 0 || checked == 0 {
				t.Errorf("%d reads recorded, %d counted, %d sectors checked", reads, res.Reads, checked)
			}
		})
	}
}
