package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// TestPoliciesOnSimNoDeadlock runs every registered policy through 10,000
// random requests at queue depth 64 on the sim backend and requires every
// request to complete without error.
func TestPoliciesOnSimNoDeadlock(t *testing.T) {
	const (
		total = 10000
		depth = 64
		size  = 64 << 20
	)
	for _, reg := range model.Registered() {
		t.Run("policy="+reg.Name, func(t *testing.T) {
			t.Parallel()
			files := impl.Files{Image: impl.NewMemStorage(), Backing: impl.NewMemStorageFrom(make([]byte, size/2))}
			if err := impl.Create(files.Image, size, impl.CreateOptions{ClusterSize: 4096, TableSize: 1, BackingFile: "b"}); err != nil {
				t.Fatal(err)
			}
			dev, err := Preset("nvme")
			if err != nil {
				t.Fatal(err)
			}
			sim, err := New(files, dev, 42)
			if err != nil {
				t.Fatal(err)
			}
			im, err := impl.Open(files, sim, impl.Options{Policy: reg.Policy, Clock: sim.Now})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(42, 1))
			submitted, completed := 0, 0
			var next func()
			done := func(r *impl.Request) {
				if r.Err != nil {
					t.Errorf("request %d (%s at %d): %v", r.ID, r.Op, r.Off, r.Err)
				}
				completed++
				next()
			}
			next = func() {
				if submitted == total {
					return
				}
				submitted++
				r := &impl.Request{Done: done}
				switch p := rng.IntN(100); {
				case p < 2:
					r.Op = impl.ReqFlush
				case p < 30:
					r.Op = impl.ReqRead
				default:
					r.Op = impl.ReqWrite
				}
				if r.Op != impl.ReqFlush {
					// Cluster-sized hot spots make same-cluster races common.
					off := rng.Uint64N(size/4096/8) * 4096 * uint64(1+rng.IntN(8))
					off += rng.Uint64N(4096)
					n := 1 + rng.Uint64N(3*4096)
					if off+n > size {
						n = size - off
					}
					r.Off, r.Buf = off, make([]byte, n)
				}
				im.Submit(r)
			}
			for range depth {
				next()
			}
			im.Run()
			if completed != total {
				t.Fatalf("%d of %d requests completed (deadlock?)", completed, total)
			}
			st := im.Stats()
			t.Logf("virtual time %.3f ms, freezes %d, max allocating in flight %d, host I/Os %d",
				float64(sim.Now())/1e6, st.Freezes, st.MaxAllocInFlight, st.HostIOs())
			if reg.Parallel && st.MaxAllocInFlight < 2 {
				t.Errorf("parallel policy never had two allocating writes in flight")
			}
			if !reg.Parallel && reg.Name != "serial" && st.MaxAllocInFlight > 1 {
				t.Errorf("%s let %d allocating writes overlap", reg.Name, st.MaxAllocInFlight)
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
