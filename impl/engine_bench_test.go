package impl

import (
	"fmt"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// metaOnlyBackend completes I/Os at once in submission order, performing
// metadata I/O but skipping guest data, so a benchmark measures the
// engine's CPU cost without the cost of copying data.
type metaOnlyBackend struct{ MemBackend }

func (b *metaOnlyBackend) Submit(io *IO) {
	if io.Purpose == PurposeData || io.Purpose == PurposeBacking {
		b.queue = append(b.queue, io)
		return
	}
	b.MemBackend.Submit(io)
}

// BenchmarkEngine measures engine CPU per request at queue depth 32 on a
// backend that completes at once and copies no guest data.
func BenchmarkEngine(b *testing.B) {
	const qd = 32
	for _, kind := range []string{"rewrite", "alloc"} {
		for _, pol := range []model.Policy{model.FreezeAny{}, model.Overlap{}} {
			b.Run(fmt.Sprintf("op=%s/policy=%s/qd=%d", kind, pol.Name(), qd), func(b *testing.B) {
				const cluster = 64 << 10
				nClusters := uint64(qd * 8)
				size := max(uint64(b.N+qd), nClusters) * cluster
				files := Files{Image: newSparseStorage()}
				if err := Create(files.Image, size, CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				be := &metaOnlyBackend{MemBackend{files: files}}
				im, err := Open(files, be, Options{Policy: pol})
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 4096)
				if kind == "rewrite" {
					for c := range nClusters {
						if _, err := im.WriteAt(buf, int64(c*cluster)); err != nil {
							b.Fatal(err)
						}
					}
				}
				reqs := make([]Request, qd)
				var issued uint64
				var done func(r *Request)
				done = func(r *Request) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
					if issued >= uint64(b.N) {
						return
					}
					off := issued * cluster
					if kind == "rewrite" {
						off = (issued % nClusters) * cluster
					}
					issued++
					*r = Request{Op: ReqWrite, Off: off, Buf: buf, Done: done}
					im.Submit(r)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range reqs {
					done(&reqs[i])
				}
				im.Run()
				b.StopTimer()
				st := im.Stats()
				b.ReportMetric(float64(st.HostIOs())/float64(max(1, st.Requests)), "hostIOs/op")
			})
		}
	}
}

// sparseStorage is a Storage that keeps only the 4 KiB pages written, so
// benchmarks can address terabyte-scale images in little memory.
type sparseStorage struct {
	pages map[int64][]byte
	size  int64
}

func newSparseStorage() *sparseStorage { return &sparseStorage{pages: map[int64][]byte{}} }

func (s *sparseStorage) ReadAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		pg, in := (off+int64(n))>>12, (off+int64(n))&4095
		c := min(len(p)-n, int(4096-in))
		if page := s.pages[pg]; page != nil {
			copy(p[n:n+c], page[in:])
		} else {
			clear(p[n : n+c])
		}
		n += c
	}
	return len(p), nil
}

func (s *sparseStorage) WriteAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		pg, in := (off+int64(n))>>12, (off+int64(n))&4095
		c := min(len(p)-n, int(4096-in))
		page := s.pages[pg]
		if page == nil {
			page = make([]byte, 4096)
			s.pages[pg] = page
		}
		copy(page[in:], p[n:n+c])
		n += c
	}
	s.size = max(s.size, off+int64(len(p)))
	return len(p), nil
}

func (s *sparseStorage) Size() (int64, error) { return s.size, nil }
func (s *sparseStorage) Truncate(n int64) error {
	for pg := range s.pages {
		if pg<<12 >= n {
			delete(s.pages, pg)
		}
	}
	s.size = n
	return nil
}
func (s *sparseStorage) Sync() error { return nil }
