package workloads

import (
	"fmt"
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
		{"write then read each", map[string]string{"rw": "write", "size": "16k", "verify_backlog": "1"}, 1, 4, 4, "w0 r0 w4 r4 w8 r8 w12 r12"},
		{"two by two", map[string]string{"rw": "write", "size": "16k", "verify_backlog": "2"}, 1, 4, 4, "w0 w4 r0 r4 w8 w12 r8 r12"},
		// io_size 64k over 16k without a random map: a budget of 64k +
		// 16k, half of it read-backs.
		{"budget", map[string]string{"rw": "randwrite", "size": "16k", "io_size": "64k", "norandommap": "1", "verify_backlog": "1"}, 1, 10, 10, ""},
		// A sequential job's budget is its io_size and size: the writes
		// are cut short too.
		{"sequential budget", map[string]string{"rw": "write", "size": "16k", "io_size": "32k", "verify_backlog": "1"}, 1, 6, 6, "w0 r0 w4 r4"},
		// Four in flight: no read-back until a write completes; one whose
		// oldest block is in flight waits for it (w16 goes first); the
		// last four blocks are left for fio's verify after the job, which
		// runbench does not issue.
		{"deeper", map[string]string{"rw": "write", "size": "64k", "verify_backlog": "4"}, 4, 12, 16, "w0 w4 w8 w12 r0 w16 r4 r8 r12"},
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

// TestVerifyBacklogRefused checks what verify_backlog is refused with.
func TestVerifyBacklogRefused(t *testing.T) {
	for _, kv := range [][2]string{{"time_based", "1"}, {"loops", "2"}, {"number_ios", "8"}, {"rate_iops", "100"}, {"rw", "trimwrite"}} {
		j := DefaultJob()
		j.Name = "vb"
		for _, s := range [][2]string{{"rw", "write"}, {"runtime", "1"}, {"verify_backlog", "1"}, kv} {
			if err := j.Set(s[0], s[1]); err != nil {
				t.Fatal(err)
			}
		}
		_, err := j.Plan()
		if ke, ok := err.(*KeyError); !ok || ke.Key != "verify_backlog" || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s=%s: error %v, want verify_backlog refused", kv[0], kv[1], err)
		}
	}
}
