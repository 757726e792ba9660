package crash

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/controlled"
)

// TestCrashReproducers replays, step by step, the shortest crash the
// explorer (Explore) finds for each ordering issue, on
// the controlled backend: one allocating write of guest cluster 0 on a
// fresh image, every I/O completed in order (oldest first) until the L1
// update is in flight, then a crash that keeps only the in-flight L1
// write. The L1 entry then points at an L2 table that never reached the disk, the
// need-check bit (without a backing file) is lost with its header write,
// so the reopen does not check, and the allocator later hands out the
// table's space: writes acknowledged and flushed after the crash are lost.
// The engine now flushes after the need-check header write and, with a
// backing file, between a new L2 table's write and the L1 update, so the
// crash must recover cleanly: this is the regression test for that fix.
func TestCrashReproducers(t *testing.T) {
	for _, backed := range []bool{false, true} {
		t.Run(fmt.Sprintf("backing=%v", backed), func(t *testing.T) {
			mem, files, backing := newTestImage(t, backed)
			l := &Ledger{Backing: backed}
			cs, err := NewStore(mem)
			if err != nil {
				t.Fatal(err)
			}
			files.Image = cs
			be := &ioRecorder{Backend: controlled.New(files), ios: map[uint64]*impl.IO{}}
			im, err := impl.Open(files, be, impl.Options{})
			if err != nil {
				t.Fatal(err)
			}
			l.Submitted(1, 0, testCS)
			im.Submit(&impl.Request{Op: impl.ReqWrite, Off: 0, Buf: Data(1, 0, testCS)})
			var l1 *controlled.PendingIO
			var table uint64 // the new L2 table's offset, once written
			for l1 == nil {
				p := be.Pending()
				if len(p) == 0 {
					t.Fatal("no I/O pending before the L1 update")
				}
				if p[0].Purpose == impl.PurposeL1Write {
					if len(p) != 1 {
						t.Fatalf("%d I/Os pending with the L1 update, want it alone", len(p))
					}
					l1 = &p[0]
					break
				}
				// The oldest first (the file's growth, then the chain).
				if p[0].Purpose == impl.PurposeL2Write {
					table = p[0].Off
				}
				if err := be.Complete(p[0].ID); err != nil {
					t.Fatal(err)
				}
				im.Step()
			}
			// Only the L1 update lands, as the engine issued it: the L1
			// sector with entry 0 pointing at the new table.
			entry := append([]byte(nil), be.ios[l1.ID].Buf...)
			if got := binary.LittleEndian.Uint64(entry); table == 0 || got != table {
				t.Fatalf("the L1 update's entry 0 is %#x, want the new L2 table written at %#x", got, table)
			}
			units := cs.Units([]Write{{Off: int64(l1.Off), Data: entry}}, false)
			land := make([]bool, len(units))
			land[len(land)-1] = true
			img := cs.Crash(units, land)
			rec, err := Recover(img, backing, l, nil)
			t.Logf("need-check after crash %v; recovery: %v", rec.NeedCheck, err)
			if err != nil {
				t.Errorf("recovery failed (class %q): %v", knownIssueOf(err, rec, img), err)
			}
		})
	}
}

// ioRecorder is a controlled backend that keeps every I/O submitted, by
// ID, so a test can see the bytes of a write still in flight (as the
// explorer's recorder does).
type ioRecorder struct {
	*controlled.Backend
	ios map[uint64]*impl.IO
}

// Submit records io and passes it to the controlled backend.
func (b *ioRecorder) Submit(io *impl.IO) {
	b.ios[io.ID] = io
	b.Backend.Submit(io)
}
