package impl

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// wzEntry reads the L2 entry mapping guest offset off from the image in
// st (as it is on storage): 0 when no L2 table maps it.
func wzEntry(t *testing.T, st Storage, off uint64) uint64 {
	t.Helper()
	e, err := L2EntryOf(st, off)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wzClass names what an L2 entry is: "unalloc", "zero", or "data".
func wzClass(entry uint64) string {
	switch entry {
	case 0:
		return "unalloc"
	case ZeroCluster:
		return "zero"
	}
	return "data"
}

// TestWriteZeroes runs one write-zeroes request per case over an image
// prepared by a few writes (and write-zeroes), and checks what it left:
// every byte against a reference, the L2 entry of the clusters named,
// that allocated clusters keep their offset (zeroed in place, no
// metadata change), which host I/Os it issued, and that the image checks
// clean and reads the same after a reopen.
//
// Geometry: 4 KiB clusters, one-cluster tables (an L2 table maps 2 MiB),
// a 6 MiB guest plus 512 bytes (the last cluster is partial). The backing
// file, where there is one, covers the guest's first 3 MiB and 1000
// bytes, unless a case says otherwise.
func TestWriteZeroes(t *testing.T) {
	const (
		cs   = 4096
		span = 2 << 20
		size = 6<<20 + 512
	)
	type span_ struct{ off, n uint64 }
	tests := []struct {
		name       string
		backing    uint64   // backing file length; 0: none
		writes     []span_  // data writes before
		zeros      []span_  // write-zeroes before
		off, n     uint64   // the write-zeroes under test
		want       []string // class of the entries of clusters first, first+1, ... (after the request)
		first      uint64   // cluster index of want[0]
		wantIOs    []IOOp   // the data I/Os it issues (purpose data), in order; nil: none
		wantNoIO   bool     // it issues no I/O but L2 table reads
		allocating bool     // it is an allocating request (Request.Allocated)
	}{
		{
			name: "aligned/unallocated/no-backing", off: 2 * cs, n: 2 * cs,
			first: 2, want: []string{"unalloc", "unalloc"}, wantNoIO: true,
		},
		{
			name: "aligned/unallocated/backing", backing: 3<<20 + 1000, off: 2 * cs, n: 2 * cs,
			first: 2, want: []string{"zero", "zero"}, allocating: true,
		},
		{
			name: "aligned/unallocated-past-backing-end/backing", backing: 3<<20 + 1000, off: 4 << 20, n: 2 * cs,
			first: 4 << 20 / cs, want: []string{"unalloc", "unalloc"}, wantNoIO: true,
		},
		{
			name: "aligned/allocated/no-backing", writes: []span_{{2 * cs, 2 * cs}}, off: 2 * cs, n: 2 * cs,
			first: 2, want: []string{"data", "data"}, wantIOs: []IOOp{OpWriteZeroes},
		},
		{
			name: "aligned/allocated/backing", backing: 3<<20 + 1000, writes: []span_{{2 * cs, 2 * cs}}, off: 2 * cs, n: 2 * cs,
			first: 2, want: []string{"data", "data"}, wantIOs: []IOOp{OpWriteZeroes},
		},
		{
			name: "aligned/zero-cluster/backing", backing: 3<<20 + 1000, zeros: []span_{{2 * cs, 2 * cs}}, off: 2 * cs, n: 2 * cs,
			first: 2, want: []string{"zero", "zero"}, wantNoIO: true,
		},
		{
			name: "aligned/mixed-run/backing", backing: 3<<20 + 1000, writes: []span_{{3 * cs, 100}}, zeros: []span_{{5 * cs, cs}},
			off: 2 * cs, n: 5 * cs,
			first: 2, want: []string{"zero", "data", "zero", "zero", "zero"}, wantIOs: []IOOp{OpWriteZeroes}, allocating: true,
		},
		{
			name: "unaligned/allocated/no-backing", writes: []span_{{0, 3 * cs}}, off: 1000, n: 8000,
			first: 0, want: []string{"data", "data", "data"}, wantIOs: []IOOp{OpWriteZeroes, OpWriteZeroes, OpWriteZeroes},
		},
		{
			name: "unaligned/unallocated/no-backing", off: 1000, n: 8000,
			first: 0, want: []string{"unalloc", "unalloc", "unalloc"}, wantNoIO: true,
		},
		{
			// Head and tail written as zero data over a copy-on-write fill
			// from the backing file; the whole cluster between becomes a
			// zero cluster.
			name: "unaligned/unallocated/backing", backing: 3<<20 + 1000, off: 1000, n: 8000,
			first: 0, want: []string{"data", "zero", "data"}, wantIOs: []IOOp{OpRead, OpWrite, OpRead, OpWrite}, allocating: true,
		},
		{
			name: "unaligned/zero-cluster/backing", backing: 3<<20 + 1000, zeros: []span_{{0, 3 * cs}}, off: 1000, n: 8000,
			first: 0, want: []string{"zero", "zero", "zero"}, wantNoIO: true,
		},
		{
			name: "unaligned/within-one-cluster/backing", backing: 3<<20 + 1000, off: cs + 512, n: 1024,
			first: 1, want: []string{"data"}, wantIOs: []IOOp{OpRead, OpWrite}, allocating: true,
		},
		{
			// Both L2 tables are new: two AllocL2 segments of zero entries.
			name: "l2-boundary/unallocated/backing", backing: 3<<20 + 1000, off: span - 2*cs, n: 4 * cs,
			first: span/cs - 2, want: []string{"zero", "zero", "zero", "zero"}, allocating: true,
		},
		{
			// The first table exists, the second is new.
			name: "l2-boundary/first-table-exists/backing", backing: 3<<20 + 1000, writes: []span_{{0, 10}},
			off: span - 2*cs + 100, n: 4*cs - 100,
			first: span/cs - 2, want: []string{"data", "zero", "zero", "zero"}, wantIOs: []IOOp{OpRead, OpWrite}, allocating: true,
		},
		{
			name: "l2-boundary/allocated/no-backing", writes: []span_{{span - cs, 2 * cs}}, off: span - 2*cs, n: 4 * cs,
			first: span/cs - 2, want: []string{"unalloc", "data", "data", "unalloc"}, wantIOs: []IOOp{OpWriteZeroes, OpWriteZeroes},
		},
		{
			// The image's last cluster is partial: zeroing up to the
			// image's end zeroes it whole.
			name: "image-end/partial-last-cluster/backing", backing: size + 1000, off: size - 512 - cs, n: cs + 512,
			first: (size - 512 - cs) / cs, want: []string{"zero", "zero"}, allocating: true,
		},
		{
			name: "empty", backing: 3<<20 + 1000, off: 5 * cs, n: 0,
			first: 5, want: []string{"unalloc"}, wantNoIO: true,
		},
	}
	for _, tc := range tests {
		for _, meta := range []MetaMode{MetaWriteBack, MetaWriteThrough} {
			t.Run(fmt.Sprintf("%s/meta=%s", tc.name, meta), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, uint64(tc.off)))
				ref := make([]byte, size)
				var backing []byte
				if tc.backing > 0 {
					backing = pattern(rng, int(tc.backing))
					copy(ref, backing)
				}
				opts := Options{Metadata: meta}
				im, files := testImage(t, size, CreateOptions{ClusterSize: cs, TableSize: 1}, backing, opts)
				for _, w := range tc.writes {
					data := pattern(rng, int(w.n))
					if _, err := im.WriteAt(data, int64(w.off)); err != nil {
						t.Fatal(err)
					}
					copy(ref[w.off:], data)
				}
				for _, z := range tc.zeros {
					if err := im.WriteZeroesAt(int64(z.off), int64(z.n)); err != nil {
						t.Fatal(err)
					}
					clear(ref[z.off : z.off+z.n])
				}
				im = reopen(t, im, files, opts)
				var before []uint64
				for i := range tc.want {
					before = append(before, wzEntry(t, files.Image, (tc.first+uint64(i))*cs))
				}
				st0 := im.Stats()
				r := &Request{Op: ReqWriteZeroes, Off: tc.off, Len: tc.n}
				if err := im.do(r); err != nil {
					t.Fatal(err)
				}
				clear(ref[tc.off : tc.off+tc.n])
				st1 := im.Stats()
				if r.Allocated != tc.allocating {
					t.Errorf("Allocated = %v, want %v", r.Allocated, tc.allocating)
				}
				if n := (st1.HostIOs() - st1.IOs[PurposeL2Read]) - (st0.HostIOs() - st0.IOs[PurposeL2Read]); tc.wantNoIO && n != 0 {
					t.Errorf("issued %d host I/Os (L2 table reads aside), want none", n)
				}
				got := make([]byte, size)
				if _, err := im.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if d := wzDiff(got, ref); d != "" {
					t.Errorf("before reopen: %s", d)
				}
				im = reopen(t, im, files, opts)
				for i, want := range tc.want {
					off := (tc.first + uint64(i)) * cs
					e := wzEntry(t, files.Image, off)
					if c := wzClass(e); c != want {
						t.Errorf("cluster %d: entry %#x (%s), want %s", tc.first+uint64(i), e, c, want)
					}
					if b := before[i]; b > ZeroCluster && e != b {
						t.Errorf("cluster %d: allocated at %#x before, entry %#x after: an allocated cluster must be zeroed in place", tc.first+uint64(i), b, e)
					}
				}
				clear(got)
				if _, err := im.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if d := wzDiff(got, ref); d != "" {
					t.Errorf("after reopen: %s", d)
				}
				if err := im.Close(); err != nil {
					t.Fatal(err)
				}
				res, err := Check(files.Image, false)
				if err != nil || !res.Clean() {
					t.Errorf("Check: %v, %+v", err, res)
				}
			})
		}
	}
	// The data I/Os each case issues, on an engine driven by hand so
	// every I/O is seen.
	for _, tc := range tests {
		if tc.wantNoIO {
			continue
		}
		t.Run("ios/"+tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(tc.off)))
			var backing []byte
			if tc.backing > 0 {
				backing = pattern(rng, int(tc.backing))
			}
			im, files := testImage(t, size, CreateOptions{ClusterSize: cs, TableSize: 1}, backing, Options{})
			for _, w := range tc.writes {
				if _, err := im.WriteAt(pattern(rng, int(w.n)), int64(w.off)); err != nil {
					t.Fatal(err)
				}
			}
			for _, z := range tc.zeros {
				if err := im.WriteZeroesAt(int64(z.off), int64(z.n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
			eng, err := NewEngine(files, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ops := wzDataOps(t, eng, files, &Request{Op: ReqWriteZeroes, Off: tc.off, Len: tc.n})
			if fmt.Sprint(ops) != fmt.Sprint(tc.wantIOs) {
				t.Errorf("data I/Os %v, want %v", ops, tc.wantIOs)
			}
		})
	}
}

// wzDataOps runs r alone on eng, completing its I/Os in issue order, and
// returns the ops of its guest-data I/Os (purpose data or backing).
func wzDataOps(t *testing.T, eng *Engine, files Files, r *Request) []IOOp {
	t.Helper()
	eng.Submit(r)
	var ops []IOOp
	var pending []*IO
	done := false
	for {
		rd := eng.Ready()
		for _, io := range rd.IOs {
			if io.Purpose == PurposeData || io.Purpose == PurposeBacking {
				ops = append(ops, io.Op)
			}
		}
		pending = append(pending, rd.IOs...)
		for _, d := range rd.Done {
			if d == r {
				done = true
			}
		}
		if len(pending) == 0 {
			break
		}
		io := pending[0]
		pending = pending[1:]
		io.Err = Perform(files, io)
		eng.Complete(io)
	}
	if !done {
		t.Fatal("request never completed")
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return ops
}

// wzDiff describes the first difference between got and want.
func wzDiff(got, want []byte) string {
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at guest offset %d: %#02x, want %#02x", i, got[i], want[i])
		}
	}
	return ""
}

// TestWriteZeroesRefused checks the bad requests get a clear error.
func TestWriteZeroesRefused(t *testing.T) {
	im, _ := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
	defer im.Close()
	tests := []struct {
		name string
		r    Request
	}{
		{"past-end", Request{Op: ReqWriteZeroes, Off: 1<<20 - 512, Len: 1024}},
		{"overflow", Request{Op: ReqWriteZeroes, Off: 4096, Len: ^uint64(0) - 100}},
		{"with-buffer", Request{Op: ReqWriteZeroes, Off: 0, Len: 512, Buf: make([]byte, 512)}},
		{"len-on-write", Request{Op: ReqWrite, Off: 0, Len: 512, Buf: make([]byte, 512)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if err := im.do(&r); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
	if err := im.WriteZeroesAt(-1, 10); err == nil {
		t.Error("negative offset accepted")
	}
	ro, files := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
	ro.Close()
	im2, err := Open(files, NewMemBackend(files), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer im2.Close()
	if err := im2.WriteZeroesAt(0, 4096); err == nil {
		t.Error("write-zeroes on a read-only image accepted")
	}
}

// TestWriteZeroesConcurrent submits a write and a write-zeroes of the same
// cluster together (in both orders) under every registered policy, with
// and without a backing file, and completes their I/Os in every order
// the engine allows (a search that replays each order from scratch),
// with the L2 table to be read first (cold) or already cached (warm):
// the image must check free of corruption, and for a policy that claims
// safety the content must be one of the two serial orders (the write's
// data over zeros, or zeros). A policy that claims unsafety may lose the
// write; the test logs how often.
func TestWriteZeroesConcurrent(t *testing.T) {
	const cs = 4096
	type scenario struct {
		name     string
		backing  bool
		table    bool // the L2 table exists (another cluster under it was written)
		prealloc bool // the cluster is allocated before
		wOff     uint64
		wLen     uint64
		zOff     uint64
		zLen     uint64
	}
	scenarios := []scenario{
		{"backing/new-table/partial-write", true, false, false, 4*cs + 512, 1024, 4 * cs, cs},
		{"backing/table/partial-write", true, true, false, 4*cs + 512, 1024, 4 * cs, cs},
		{"backing/table/whole-write", true, true, false, 4 * cs, cs, 4 * cs, 2 * cs},
		{"backing/table/unaligned-zeroes", true, true, false, 4*cs + 512, 1024, 4*cs + 1024, 2 * cs},
		{"backing/allocated", true, true, true, 4*cs + 512, 1024, 4 * cs, cs},
		{"no-backing/table/partial-write", false, true, false, 4*cs + 512, 1024, 4 * cs, cs},
		{"no-backing/allocated", false, true, true, 4*cs + 512, 1024, 4*cs + 100, cs},
	}
	for _, reg := range model.Registered() {
		for _, sc := range scenarios {
			t.Run(reg.Name+"/"+sc.name, func(t *testing.T) {
				runs, violations, lastV := 0, 0, ""
				for _, order := range []struct{ zFirst, warm bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					zFirst := order.zFirst
					if order.warm && !sc.table {
						continue
					}
					var prefix []int
					for {
						choices, counts, v := wzConcurrentOnce(t, reg.Policy, sc.backing, sc.table, sc.prealloc, order.warm, sc.wOff, sc.wLen, sc.zOff, sc.zLen, zFirst, prefix)
						runs++
						if v != "" {
							violations, lastV = violations+1, v
							if reg.Expect == model.Safe {
								t.Fatalf("order %v (write-zeroes first: %v, table cached: %v): %s", choices, zFirst, order.warm, v)
							}
						}
						i := len(choices) - 1
						for i >= 0 && choices[i]+1 >= counts[i] {
							i--
						}
						if i < 0 {
							break
						}
						prefix = append(choices[:i:i], choices[i]+1)
					}
				}
				if violations > 0 {
					t.Logf("%d of %d completion orders lost a write (the policy claims unsafe); the last: %s", violations, runs, lastV)
				} else {
					t.Logf("%d completion orders", runs)
				}
			})
		}
	}
}

// wzConcurrentOnce submits a write and a write-zeroes together (the
// write-zeroes first if zFirst) and completes their I/Os one at a time:
// the k'th completion takes pending I/O prefix[k] (in issue order), or
// the first one past the prefix. It returns the choices made, how many
// I/Os were pending at each, and a violation, or "".
func wzConcurrentOnce(t *testing.T, p model.Policy, withBacking, table, prealloc, warm bool, wOff, wLen, zOff, zLen uint64, zFirst bool, prefix []int) (choices, counts []int, violation string) {
	t.Helper()
	const (
		cs   = 4096
		size = 1 << 20
	)
	var backing []byte
	if withBacking {
		backing = bytes.Repeat([]byte{0xbb}, size)
	}
	im, files := testImage(t, size, CreateOptions{ClusterSize: cs, TableSize: 1}, backing, Options{Policy: p})
	base := make([]byte, size)
	copy(base, backing)
	if table {
		if _, err := im.WriteAt([]byte{1}, 0); err != nil {
			t.Fatal(err)
		}
		base[0] = 1
	}
	if prealloc {
		if _, err := im.WriteAt(bytes.Repeat([]byte{0xcc}, 2*cs), 4*cs); err != nil {
			t.Fatal(err)
		}
		copy(base[4*cs:], bytes.Repeat([]byte{0xcc}, 2*cs))
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(files, Options{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if warm {
		// A read of cluster 0 loads the L2 table into the cache.
		eng.Submit(&Request{Op: ReqRead, Off: 0, Buf: make([]byte, SectorSize)})
		for n := 0; eng.HasReady(); n++ {
			if n > 100 {
				t.Fatal("the warming read does not complete")
			}
			for _, io := range eng.Ready().IOs {
				io.Err = Perform(files, io)
				eng.Complete(io)
			}
		}
	}
	w := &Request{Op: ReqWrite, Off: wOff, Buf: bytes.Repeat([]byte{0x77}, int(wLen))}
	z := &Request{Op: ReqWriteZeroes, Off: zOff, Len: zLen}
	reqs := []*Request{w, z}
	if zFirst {
		reqs[0], reqs[1] = z, w
	}
	var pending []*IO
	ndone := 0
	drain := func() {
		rd := eng.Ready()
		pending = append(pending, rd.IOs...)
		ndone += len(rd.Done)
	}
	for _, r := range reqs {
		eng.Submit(r)
		drain()
	}
	for len(pending) > 0 {
		if len(choices) > 1000 {
			t.Fatal("I/O still pending after 1000 completions")
		}
		i := 0
		if k := len(choices); k < len(prefix) {
			i = prefix[k]
		}
		choices, counts = append(choices, i), append(counts, len(pending))
		io := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		io.Err = Perform(files, io)
		eng.Complete(io)
		drain()
	}
	if ndone != 2 {
		t.Fatalf("%d of 2 requests done with no I/O pending", ndone)
	}
	for _, r := range reqs {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Op, r.Err)
		}
	}
	// Write back and reopen, then read everything.
	im = &Image{eng: eng, be: NewMemBackend(files), files: files}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Check(files.Image, false)
	if err != nil || res.Corruptions > 0 || res.CheckErrors > 0 {
		t.Fatalf("Check: %v, %+v", err, res)
	}
	im, err = Open(files, NewMemBackend(files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	got := make([]byte, size)
	if _, err := im.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	wz := append([]byte(nil), base...) // the write, then the zeros
	copy(wz[wOff:], w.Buf)
	clear(wz[zOff : zOff+zLen])
	zw := append([]byte(nil), base...) // the zeros, then the write
	clear(zw[zOff : zOff+zLen])
	copy(zw[wOff:], w.Buf)
	if !bytes.Equal(got, wz) && !bytes.Equal(got, zw) {
		return choices, counts, fmt.Sprintf("content is neither write-then-zeroes (%s) nor zeroes-then-write (%s)", wzDiff(got, wz), wzDiff(got, zw))
	}
	return choices, counts, ""
}
