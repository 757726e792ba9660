package sim

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// simRun runs a fixed random workload on the sim backend and returns a
// hash of the image file and the engine's stats.
func simRun(t *testing.T, pol model.Policy, seed int64) ([32]byte, impl.Stats, int64) {
	t.Helper()
	files := impl.Files{Image: impl.NewMemStorage()}
	if err := impl.Create(files.Image, 8<<20, impl.CreateOptions{ClusterSize: 4096, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	dev, _ := Preset("nvme")
	sim, err := New(files, dev, seed)
	if err != nil {
		t.Fatal(err)
	}
	im, err := impl.Open(files, sim, impl.Options{Policy: pol, Clock: sim.Now})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := rand.NewChaCha8([32]byte{1, 2}) // the bytes written
	n := 0
	var next func(*impl.Request)
	next = func(*impl.Request) {
		if n == 1500 {
			return
		}
		n++
		off := rng.Uint64N(8<<20 - 8192)
		buf := make([]byte, 1+rng.IntN(8192))
		data.Read(buf)
		im.Submit(&impl.Request{Op: impl.ReqWrite, Off: off, Buf: buf, Done: next})
	}
	for range 32 {
		next(nil)
	}
	im.Run()
	end := sim.Now()
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(files.Image.(*impl.MemStorage).Bytes()), im.Stats(), end
}

func TestSimRunIsReproducible(t *testing.T) {
	for _, reg := range model.Registered() {
		h1, s1, t1 := simRun(t, reg.Policy, 9)
		h2, s2, t2 := simRun(t, reg.Policy, 9)
		if h1 != h2 || s1 != s2 || t1 != t2 {
			t.Errorf("%s: two runs with seed 9 differ (time %d vs %d)", reg.Name, t1, t2)
		}
		if reg.Parallel {
			h3, _, _ := simRun(t, reg.Policy, 10)
			if h3 == h1 {
				t.Logf("%s: seed 10 gave the same image as seed 9", reg.Name)
			}
		}
	}
}

func TestFreezeAccounting(t *testing.T) {
	files := impl.Files{Image: impl.NewMemStorage()}
	impl.Create(files.Image, 1<<20, impl.CreateOptions{ClusterSize: 4096})
	dev, _ := Preset("nvme")
	sim, _ := New(files, dev, 1)
	im, err := impl.Open(files, sim, impl.Options{Policy: model.FreezeAny{}, Clock: sim.Now})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*impl.Request
	for i := range 4 {
		r := &impl.Request{Op: impl.ReqWrite, Off: uint64(i) * 8192, Buf: make([]byte, 512)}
		reqs = append(reqs, r)
		im.Submit(r)
	}
	im.Run()
	if reqs[0].Freezes != 0 {
		t.Errorf("first request frozen %d times", reqs[0].Freezes)
	}
	for _, r := range reqs[1:] {
		if r.Freezes != 1 || r.FrozenNanos <= 0 {
			t.Errorf("request %d: freezes %d, frozen %dns; want 1 episode of positive length", r.ID, r.Freezes, r.FrozenNanos)
		}
	}
	// Each waits for all before it: frozen time grows with position.
	for i := 2; i < len(reqs); i++ {
		if reqs[i].FrozenNanos <= reqs[i-1].FrozenNanos {
			t.Errorf("request %d frozen %dns, not longer than request %d's %dns", i, reqs[i].FrozenNanos, i-1, reqs[i-1].FrozenNanos)
		}
	}
	if st := im.Stats(); st.Freezes != 3 || st.MaxAllocInFlight != 1 {
		t.Errorf("stats: %d freezes, max alloc in flight %d; want 3 and 1", st.Freezes, st.MaxAllocInFlight)
	}
	im.Close()
}
