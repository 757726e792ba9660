package history

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// observedImage opens a new image of 64 KiB in memory, with a backing
// file of the given bytes if not nil.
func observedImage(t *testing.T, backing []byte) *impl.Image {
	t.Helper()
	files := impl.Files{Image: impl.NewMemStorage()}
	co := impl.CreateOptions{ClusterSize: 4096, TableSize: 1}
	if backing != nil {
		files.Backing = impl.NewMemStorageFrom(backing)
		co.BackingFile = "backing.raw"
	}
	if err := impl.Create(files.Image, 64<<10, co); err != nil {
		t.Fatal(err)
	}
	im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: model.Overlap{}})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// obsStep is one request of an observer test: "w OFF LEN BYTE" writes
// LEN bytes of BYTE, "r OFF LEN" reads, "f" flushes; each runs to
// completion.
type obsStep struct {
	op      impl.ReqOp
	off, n  uint64
	pattern byte
}

func TestObserver(t *testing.T) {
	backing := bytes.Repeat([]byte{0xbb}, 2*SectorSize)
	for _, tc := range []struct {
		name      string
		backing   []byte
		steps     []obsStep
		want      string // the history's text form, times left out
		ambiguous int
		unaligned int
	}{
		{"distinct", nil, []obsStep{{impl.ReqWrite, 0, 1024, 1}, {impl.ReqWrite, 512, 512, 2}, {impl.ReqRead, 0, 1536, 0}, {impl.ReqFlush, 0, 0, 0}},
			"disk backing=0\ncall 1 write s0+2 client=0\nreturn 1\ncall 2 write s1+1 client=0\nreturn 2\ncall 3 read s0+3 client=0\nreturn 3 saw=w1/s0,w2/s1,zero\ncall 4 flush client=0\nreturn 4\n", 0, 0},
		{"zeros-written", nil, []obsStep{{impl.ReqWrite, 0, 512, 0}, {impl.ReqRead, 0, 1024, 0}},
			"disk backing=0\ncall 1 write s0+1 client=0\nreturn 1\ncall 3 read s1+1 client=0\nreturn 3 saw=zero\n", 1, 0},
		{"same-bytes-twice", nil, []obsStep{{impl.ReqWrite, 0, 512, 7}, {impl.ReqWrite, 0, 512, 7}, {impl.ReqRead, 0, 512, 0}},
			"disk backing=0\ncall 1 write s0+1 client=0\nreturn 1\ncall 2 write s0+1 client=0\nreturn 2\n", 1, 0},
		{"ambiguous-middle", nil, []obsStep{{impl.ReqWrite, 512, 512, 0}, {impl.ReqWrite, 0, 512, 3}, {impl.ReqWrite, 1024, 512, 4}, {impl.ReqRead, 0, 1536, 0}},
			"disk backing=0\ncall 1 write s1+1 client=0\nreturn 1\ncall 2 write s0+1 client=0\nreturn 2\ncall 3 write s2+1 client=0\nreturn 3\ncall 5 read s0+1 client=0\ncall 6 read s2+1 client=0\nreturn 5 saw=w2/s0\nreturn 6 saw=w3/s2\n", 1, 0},
		{"backing", backing, []obsStep{{impl.ReqWrite, 512, 512, 9}, {impl.ReqRead, 0, 1536, 0}},
			"disk backing=2\ncall 1 write s1+1 client=0\nreturn 1\ncall 2 read s0+3 client=0\nreturn 2 saw=backing/s0,w1/s1,zero\n", 0, 0},
		{"unaligned", nil, []obsStep{{impl.ReqWrite, 100, 512, 5}, {impl.ReqRead, 0, 100, 0}, {impl.ReqRead, 512, 512, 0}},
			"disk backing=0\ncall 1 read s1+1 client=0\nreturn 1 saw=corrupt\n", 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := observedImage(t, tc.backing)
			opts := ObserverOptions{}
			if tc.backing != nil {
				opts.Disk.BackingSectors = uint64(len(tc.backing) / SectorSize)
				opts.Initial = func(s uint64, buf []byte) error {
					copy(buf, tc.backing[s*SectorSize:])
					return nil
				}
			}
			o := NewObserver(im, opts)
			for _, st := range tc.steps {
				done := false
				r := &impl.Request{Op: st.op, Off: st.off, Buf: bytes.Repeat([]byte{st.pattern}, int(st.n)), Done: func(*impl.Request) { done = true }}
				o.Submit(r)
				for !done && im.Step() {
				}
				if !done || r.Err != nil {
					t.Fatalf("%v at %d: done %v, err %v", st.op, st.off, done, r.Err)
				}
			}
			h := o.History()
			var b strings.Builder
			if err := h.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			got := stripTimes(b.String())
			if got != tc.want {
				t.Errorf("history:\n%s\nwant:\n%s", got, tc.want)
			}
			if o.Ambiguous != tc.ambiguous || o.Unaligned != tc.unaligned || o.Err != nil {
				t.Errorf("ambiguous %d unaligned %d err %v, want %d %d", o.Ambiguous, o.Unaligned, o.Err, tc.ambiguous, tc.unaligned)
			}
			if _, err := ParseHistory(strings.NewReader(b.String())); err != nil {
				t.Errorf("the text form does not parse back: %v", err)
			}
		})
	}
}

// stripTimes removes the t= and req= fields of a history's text form.
func stripTimes(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		var kept []string
		for _, f := range strings.Fields(line) {
			if !strings.HasPrefix(f, "t=") && !strings.HasPrefix(f, "req=") {
				kept = append(kept, f)
			}
		}
		out = append(out, strings.Join(kept, " "))
	}
	return strings.Join(out, "\n")
}
