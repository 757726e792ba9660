package file

import (
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
)

// TestWaitInterrupt: Wait returns completed I/Os, and nil once Interrupt
// is called, whether it was called before the Wait, during it with
// nothing in flight, or during it with I/O in flight; Next and Close are
// unaffected by a wake still on the ring.
func TestWaitInterrupt(t *testing.T) {
	forEachAIO(t, func(t *testing.T, aio AIOMode) {
		for _, tc := range []struct {
			name     string
			inflight bool // a write is in flight during the interrupted wait
			early    bool // Interrupt is called before Wait
		}{
			{"idle-interrupted-during", false, false},
			{"idle-interrupted-before", false, true},
			{"busy-interrupted-before", true, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b, _ := newFileTestBackend(t, Options{AIO: aio, Workers: 4})
				if tc.inflight {
					b.Submit(&impl.IO{ID: 1, Op: impl.OpWrite, Buf: make([]byte, 4096)})
				}
				if tc.early {
					b.Interrupt()
					b.Interrupt() // counts as one
				} else {
					go func() {
						time.Sleep(20 * time.Millisecond)
						b.Interrupt()
					}()
				}
				// The interrupt ends one Wait; a completion may come first.
				got := 0
				for o := b.Wait(); o != nil; o = b.Wait() {
					if o.Err != nil {
						t.Fatal(o.Err)
					}
					got++
				}
				if tc.inflight && got == 0 {
					if o := b.Wait(); o == nil || o.Err != nil {
						t.Fatalf("Wait after the interrupt: %v", o)
					}
				}
				// A second token is not pending: Next drains nothing more.
				b.Submit(&impl.IO{ID: 2, Op: impl.OpWrite, Off: 4096, Buf: make([]byte, 4096)})
				if o := b.Next(); o == nil || o.ID != 2 || o.Err != nil {
					t.Fatalf("Next: %v", o)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				if o := b.Wait(); o != nil {
					t.Fatalf("Wait after Close: %v", o)
				}
			})
		}
	})
}
