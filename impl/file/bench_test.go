package file

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// BenchmarkFileFirstTouch is the workload of `qemu-img bench -f qed -t none
// -w -s 4096 -S 65536`: 4 KiB writes, one per 64 KiB cluster, to a fresh
// image on the file backend with O_DIRECT. Set QED_BENCH_DIR to choose
// the file system (default: the temporary directory; the benchmark works
// in a new directory it makes there and removes); scripts/compare-qemu.sh
// runs it beside qemu-img bench. user% is the process's user CPU time
// (the engine, the backend's workers, the Go runtime) as a share of wall
// time; sys% the kernel's time performing the I/O. aio= is how the
// backend submits I/O (Options.AIO). hostIOs/op counts the I/Os of the
// measured writes; with meta=writeback the L2 sectors they dirtied are
// written at close, after the timer stops (one per 64 writes here).
func BenchmarkFileFirstTouch(b *testing.B) {
	dir := b.TempDir()
	if parent := os.Getenv("QED_BENCH_DIR"); parent != "" {
		// A directory of our own inside it: files already there are
		// never overwritten or removed.
		d, err := os.MkdirTemp(parent, "qedbench-")
		if err != nil {
			b.Fatalf("QED_BENCH_DIR: %v", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	// The allocating-write schemes, from QEMU's QED to our default, each
	// one step further.
	schemes := []struct {
		fill impl.FillMode
		grow impl.GrowMode
		meta impl.MetaMode
	}{
		{impl.FillSeparate, impl.GrowOff, impl.MetaWriteThrough}, // QEMU's QED
		{impl.FillMerged, impl.GrowOff, impl.MetaWriteThrough},
		{impl.FillElide, impl.GrowOff, impl.MetaWriteThrough},
		{impl.FillElide, impl.GrowAhead, impl.MetaWriteThrough},
		{impl.FillElide, impl.GrowAhead, impl.MetaWriteBack}, // the default
	}
	for _, sc := range schemes {
		fill, grow, meta := sc.fill, sc.grow, sc.meta
		for _, aio := range aioModes {
			for _, pol := range []model.Policy{model.FreezeAny{}, model.Overlap{}} {
				for _, qd := range []int{1, 32} {
					b.Run(fmt.Sprintf("fill=%s/grow=%v/meta=%s/aio=%v/policy=%s/qd=%d", fill, grow, meta, aio, pol.Name(), qd), func(b *testing.B) {
						path := filepath.Join(dir, "bench.qed")
						defer os.Remove(path)
						const cluster = 64 << 10
						if err := impl.CreatePath(path, uint64(b.N+1)*cluster+(1<<30), impl.CreateOptions{}); err != nil {
							b.Fatal(err)
						}
						im, err := impl.OpenPath(path, impl.PathOptions{Options: impl.Options{Policy: pol, Fill: fill, Grow: grow, Metadata: meta}, NewBackend: Opener(Options{Direct: true, AIO: aio})})
						if err != nil {
							skipIfRefused(b, Options{Direct: true, AIO: aio}, err)
							b.Fatal(err)
						}
						buf := impl.AlignedBuffer(4096)
						reqs := make([]impl.Request, qd)
						issued := 0
						var next func(*impl.Request)
						next = func(r *impl.Request) {
							if r.Err != nil {
								b.Fatal(r.Err)
							}
							if issued == b.N {
								return
							}
							*r = impl.Request{Op: impl.ReqWrite, Off: uint64(issued) * cluster, Buf: buf, Done: next}
							issued++
							im.Submit(r)
						}
						b.ResetTimer()
						user0, sys0 := processCPU()
						for i := range reqs {
							next(&reqs[i])
						}
						im.Run()
						b.StopTimer()
						user1, sys1 := processCPU()
						st := im.Stats()
						b.ReportMetric(float64(st.HostIOs())/float64(max(st.Requests, 1)), "hostIOs/op")
						// The harness's own CPU is user time: the kernel's
						// work for the I/O is system time.
						wall := float64(b.Elapsed().Nanoseconds())
						b.ReportMetric(100*float64(user1-user0)/wall, "user%")
						b.ReportMetric(100*float64(sys1-sys0)/wall, "sys%")
						if err := im.Close(); err != nil {
							b.Fatal(err)
						}
					})
				}
			}
		}
	}
}
