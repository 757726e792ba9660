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

// streamOps returns the operations of instance 0 of p for seed 1.
func streamOps(p *Plan) []Op {
	var ops []Op
	s := p.Streams(1)[0]
	for {
		op, ok := s.Next()
		if !ok {
			return ops
		}
		ops = append(ops, op)
	}
}

// TestTrimStreams checks the operations of fio's trim modes: trim and
// randtrim trim every block of the region once per pass (in order, or in
// a random order); trimwrite and randtrimwrite trim a block and then
// write the same bytes, a pass being a trim and a write of every block;
// bs=READ,WRITE,TRIM sizes the trims.
func TestTrimStreams(t *testing.T) {
	const size = 64 << 10
	tests := []struct {
		set       map[string]string
		n         int  // operations
		random    bool // offsets not in order
		pairs     bool // trim then write of the same bytes
		trimBytes uint64
	}{
		{set: map[string]string{"rw": "trim"}, n: 16, trimBytes: 4 << 10},
		{set: map[string]string{"rw": "randtrim"}, n: 16, random: true, trimBytes: 4 << 10},
		{set: map[string]string{"rw": "trimwrite"}, n: 32, pairs: true, trimBytes: 4 << 10},
		{set: map[string]string{"rw": "randtrimwrite"}, n: 32, random: true, pairs: true, trimBytes: 4 << 10},
		{set: map[string]string{"rw": "randtrimwrite", "ops": "7"}, n: 7, random: true, pairs: true, trimBytes: 4 << 10},
		{set: map[string]string{"rw": "trim", "bs": "4k,4k,16k"}, n: 4, trimBytes: 16 << 10},
		{set: map[string]string{"rw": "trim", "bs": "8k,16k"}, n: 4, trimBytes: 16 << 10},
	}
	for _, tc := range tests {
		tc.set["size"] = fmt.Sprint(size)
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			p := mustPlan(t, "trims", tc.set)
			ops := streamOps(p)
			if len(ops) != tc.n {
				t.Fatalf("%d operations, want %d: %v", len(ops), tc.n, ops)
			}
			seen := map[uint64]int{}
			inOrder := true
			var last uint64
			for i, op := range ops {
				want := OpTrim
				if tc.pairs && i%2 == 1 {
					want = OpWrite
					if prev := ops[i-1]; op.Off != prev.Off || op.Len != prev.Len {
						t.Errorf("op %d: %v does not write what op %d trimmed (%v)", i, op, i-1, prev)
					}
				}
				if op.Kind != want {
					t.Fatalf("op %d is %v, want a %s", i, op, want)
				}
				if op.Kind != OpTrim {
					continue
				}
				if op.Len != tc.trimBytes {
					t.Errorf("op %d: %v, want trims of %d bytes", i, op, tc.trimBytes)
				}
				if len(seen) > 0 && op.Off < last {
					inOrder = false
				}
				last = op.Off
				seen[op.Off]++
			}
			for off, k := range seen {
				if k > 1 {
					t.Errorf("block at %#x trimmed %d times in one pass", off, k)
				}
			}
			if tc.random == inOrder && len(seen) > 2 {
				t.Errorf("trims in order: %v, want %v", inOrder, !tc.random)
			}
		})
	}
}

// TestTrimBlockSizeString checks bs renders the trims' size only when it
// differs from the writes', and reads back the same.
func TestTrimBlockSizeString(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"4k", "4k"},
		{"4k,8k", "4k,8k"},
		{"4k,8k,16k", "4k,8k,16k"},
		{"4k,8k,8k", "4k,8k"},
		{"8k,8k,16k", "8k,8k,16k"},
		{"8k,8k,", "8k,8k,4k"},
	} {
		j := DefaultJob()
		if err := j.Set("bs", tc.in); err != nil {
			t.Fatal(err)
		}
		got := jobKeyValue(t, &j, "bs")
		if got != tc.out {
			t.Errorf("bs=%s renders as %q, want %q", tc.in, got, tc.out)
		}
		j2 := DefaultJob()
		if err := j2.Set("bs", got); err != nil || j2.BlockSize != j.BlockSize || j2.WriteBlockSize != j.WriteBlockSize || j2.TrimBlockSize != j.TrimBlockSize {
			t.Errorf("bs=%s does not read back: %v, %+v", got, err, j2)
		}
	}
}

// jobKeyValue returns the value key renders for j.
func jobKeyValue(t *testing.T, j *Job, key string) string {
	t.Helper()
	for _, k := range jobKeys {
		if k.name == key {
			return k.get(j)
		}
	}
	t.Fatalf("no key %q", key)
	return ""
}

// TestTrimIOLog checks an iolog's trims replay as trims.
func TestTrimIOLog(t *testing.T) {
	p, err := iologJob(t, "fio version 2 iolog\nf add\nf open\nf write 0 8192\nf trim 4096 4096\nf read 0 8192\nf close\n", "replay_no_stall=1\n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range streamOps(p) {
		got = append(got, op.String())
	}
	if want := "write 0x0+8192 trim 0x1000+4096 read 0x0+8192"; strings.Join(got, " ") != want {
		t.Errorf("replay %q, want %q", strings.Join(got, " "), want)
	}
}

// TestTrimRun runs trim jobs on the sim backend: every trim is the
// image's write-zeroes request, counted in Ops and Trims (its bytes in
// TrimBytes, not Bytes), and the image checks clean; over a backing file
// whole-cluster trims make zero clusters, allocations like writes'.
func TestTrimRun(t *testing.T) {
	for _, tc := range []struct {
		set        map[string]string
		trims      uint64
		writes     uint64
		allocating bool
	}{
		{map[string]string{"rw": "randtrim", "size": "1m", "bs": "64k"}, 16, 0, false},
		{map[string]string{"rw": "randtrim", "size": "1m", "bs": "64k", "backing": "1"}, 16, 0, true},
		{map[string]string{"rw": "randtrimwrite", "size": "1m", "bs": "4k", "cluster_size": "4k", "backing": "1"}, 256, 256, true},
		{map[string]string{"rw": "trim", "size": "1m", "bs": "16k", "pattern": "rewrite"}, 64, 0, false},
	} {
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			p := mustPlan(t, "trim", tc.set)
			var zeroes uint64
			res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 8, Seed: 1,
				Wrap: func(open history.Opener) (Submitter, error) {
					im, _, err := open(0)
					return submitFunc(func(r *impl.Request) {
						if r.Op == impl.ReqWriteZeroes {
							zeroes++
						}
						im.Submit(r)
					}), err
				}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Trims != tc.trims || res.Writes != tc.writes || res.Ops != tc.trims+tc.writes || zeroes != tc.trims {
				t.Errorf("ops %d, trims %d, writes %d, write-zeroes submitted %d; want %d trims and %d writes", res.Ops, res.Trims, res.Writes, zeroes, tc.trims, tc.writes)
			}
			if res.TrimBytes != tc.trims*p.Job().BlockSize || res.Bytes != tc.writes*p.Job().BlockSize {
				t.Errorf("trim bytes %d, bytes %d", res.TrimBytes, res.Bytes)
			}
			if (res.AllocatingWrites > 0) != tc.allocating {
				t.Errorf("%d allocating requests, want some: %v", res.AllocatingWrites, tc.allocating)
			}
			if !res.Check.Clean() {
				t.Errorf("check: %+v", res.Check)
			}
			rec := NewRecord(results.Config{Policy: "overlap", Workload: "trim"}, 1, 1, &res)
			if rec.Trims != tc.trims || rec.TrimBytes != res.TrimBytes {
				t.Errorf("record: %d trims, %d bytes", rec.Trims, rec.TrimBytes)
			}
		})
	}
}
