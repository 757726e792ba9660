package checker

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/commands"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
)

// The sequential property: gopter's commands package drives an image with
// reads, writes (at any byte offset and length), flushes, reopens and
// checks, one at a time, against a reference model of the guest bytes;
// every read must match the model and every check find no corruption.
// It runs on every backend. The model is the disk specification at byte
// granularity: with one request at a time every history is sequential,
// so linearizability reduces to "a read returns the last write".

// seqCases is how many command sequences each backend runs by default,
// seqMaxCommands the longest sequence.
const (
	seqCases       = 30
	seqMaxCommands = 30
)

// seqWrite is one write the model remembers: n bytes at off, of the
// pattern seeded by seed.
type seqWrite struct {
	off, n uint64
	seed   uint32
}

// seqState is the model: the geometry, and every write so far in order.
// A state is never modified once built: NextState returns a new one that
// may share the writes' backing array but never writes into it.
type seqState struct {
	geom   propGeom
	writes []seqWrite
}

// String renders the initial state as gopter prints it.
func (s *seqState) String() string { return "geometry " + s.geom.String() }

// patternByte is byte p of the pattern seeded by seed.
func patternByte(seed uint32, p uint64) byte {
	x := (uint64(seed)<<40 ^ p) * 0x9e3779b97f4a7c15
	return byte(x >> 56)
}

// backingSeed seeds the backing file's pattern; write seeds are drawn
// below it.
const backingSeed = 0xbacc0000

// expect returns the n guest bytes at off as the model says they are.
func (s *seqState) expect(off, n uint64) []byte {
	b := make([]byte, n)
	for p := off; p < min(off+n, s.geom.Backing); p++ {
		b[p-off] = patternByte(backingSeed, p)
	}
	for _, w := range s.writes {
		for p := max(off, w.off); p < min(off+n, w.off+w.n); p++ {
			b[p-off] = patternByte(w.seed, p)
		}
	}
	return b
}

// seqSUT is the system under test: an image on one backend, opened again
// on reopen from the same files.
type seqSUT struct {
	backend string
	geom    propGeom
	seed    int64
	dir     string
	files   impl.Files
	im      *impl.Image
	gen     int
	err     error // from creating or reopening; fails every command
}

func newSeqSUT(backend, root string, s *seqState, seed int64) *seqSUT {
	u := &seqSUT{backend: backend, geom: s.geom, seed: seed}
	co := impl.CreateOptions{ClusterSize: uint32(s.geom.Cluster()), TableSize: s.geom.TableSize}
	var backing []byte
	if s.geom.Backing > 0 {
		backing = make([]byte, s.geom.Backing)
		for p := range backing {
			backing[p] = patternByte(backingSeed, uint64(p))
		}
		co.BackingFile = "backing.raw"
	}
	switch backend {
	case "mem", "sim":
		u.files.Image = impl.NewMemStorage()
		if backing != nil {
			u.files.Backing = impl.NewMemStorageFrom(backing)
		}
	case "file":
		if u.dir, u.err = os.MkdirTemp(root, "image"); u.err != nil {
			return u
		}
		st, err := impl.CreateFileStorage(filepath.Join(u.dir, "image.qed"))
		if err != nil {
			u.err = err
			return u
		}
		u.files.Image = st
		if backing != nil {
			bp := filepath.Join(u.dir, co.BackingFile)
			if u.err = os.WriteFile(bp, backing, 0o644); u.err != nil {
				return u
			}
			if u.files.Backing, u.err = impl.OpenFileStorage(bp, true); u.err != nil {
				return u
			}
		}
	}
	if u.err = impl.Create(u.files.Image, s.geom.Size, co); u.err == nil {
		u.err = u.open()
	}
	return u
}

// open opens the next generation of the image on u's backend.
func (u *seqSUT) open() error {
	var be impl.Backend
	var clock func() int64
	switch u.backend {
	case "mem":
		be = impl.NewMemBackend(u.files)
	case "sim":
		sim, err := sim.New(u.files, propDevice(), u.seed+int64(u.gen)<<40)
		if err != nil {
			return err
		}
		be, clock = sim, sim.Now
	case "file":
		fb, err := file.New(u.files, filepath.Join(u.dir, "image.qed"), file.Options{})
		if err != nil {
			return err
		}
		be = fb
	}
	im, err := impl.Open(u.files, be, impl.Options{Clock: clock})
	if err != nil {
		be.Close()
		return fmt.Errorf("open generation %d: %w", u.gen, err)
	}
	u.im = im
	u.gen++
	return nil
}

// destroy closes the image and its files and removes the directory.
func (u *seqSUT) destroy() {
	if u.im != nil {
		u.im.Close()
	}
	for _, st := range []impl.Storage{u.files.Image, u.files.Backing} {
		if f, ok := st.(*impl.FileStorage); ok {
			f.Close()
		}
	}
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
}

// seqCmd is one command of the sequential property. Reads and writes
// carry a byte extent; a write also its pattern seed.
type seqCmd struct {
	kind   propOpKind
	off, n uint64
	seed   uint32
}

// seqResult is what running a command returned.
type seqResult struct {
	data  []byte
	check impl.CheckResult
	err   error
}

func (c *seqCmd) String() string {
	switch c.kind {
	case opRead:
		return fmt.Sprintf("read %d+%d", c.off, c.n)
	case opWrite:
		return fmt.Sprintf("write %d+%d pattern=%#x", c.off, c.n, c.seed)
	}
	return c.kind.String()
}

// Run carries the command out on the image.
func (c *seqCmd) Run(sut commands.SystemUnderTest) commands.Result {
	u := sut.(*seqSUT)
	if u.err != nil {
		return seqResult{err: u.err}
	}
	switch c.kind {
	case opRead:
		b := make([]byte, c.n)
		_, err := u.im.ReadAt(b, int64(c.off))
		return seqResult{data: b, err: err}
	case opWrite:
		b := make([]byte, c.n)
		for i := range b {
			b[i] = patternByte(c.seed, c.off+uint64(i))
		}
		_, err := u.im.WriteAt(b, int64(c.off))
		return seqResult{err: err}
	case opFlush:
		return seqResult{err: u.im.Flush()}
	case opReopen:
		if err := u.im.Close(); err != nil {
			u.err = fmt.Errorf("close: %w", err)
			return seqResult{err: u.err}
		}
		u.im = nil
		if u.err = u.open(); u.err != nil {
			return seqResult{err: u.err}
		}
		return seqResult{}
	case opCheck:
		res, err := impl.Check(u.files.Image, false)
		return seqResult{check: res, err: err}
	}
	return seqResult{err: fmt.Errorf("unknown command %v", c.kind)}
}

// NextState records a write in the model.
func (c *seqCmd) NextState(st commands.State) commands.State {
	s := st.(*seqState)
	if c.kind != opWrite {
		return s
	}
	return &seqState{geom: s.geom, writes: append(s.writes[:len(s.writes):len(s.writes)], seqWrite{c.off, c.n, c.seed})}
}

// PreCondition holds when the extent lies inside the image.
func (c *seqCmd) PreCondition(st commands.State) bool {
	s := st.(*seqState)
	return c.kind > opWrite || (c.n > 0 && c.off+c.n <= s.geom.Size)
}

// PostCondition checks the result against the model (state is the state
// after the command).
func (c *seqCmd) PostCondition(st commands.State, res commands.Result) *gopter.PropResult {
	s, r := st.(*seqState), res.(seqResult)
	fail := func(format string, args ...any) *gopter.PropResult {
		return &gopter.PropResult{Status: gopter.PropFalse, Labels: []string{fmt.Sprintf(format, args...)}}
	}
	if r.err != nil {
		return fail("%s: %v", c, r.err)
	}
	switch c.kind {
	case opRead:
		want := s.expect(c.off, c.n)
		if i := firstDiff(r.data, want); i >= 0 {
			return fail("%s: byte %d (guest offset %d) is %#x, the model says %#x", c, i, c.off+uint64(i), r.data[i], want[i])
		}
	case opCheck:
		if r.check.Corruptions > 0 || r.check.CheckErrors > 0 {
			return fail("%s: %d corruptions, %d errors: %v", c, r.check.Corruptions, r.check.CheckErrors, r.check.Problems)
		}
	}
	return &gopter.PropResult{Status: gopter.PropTrue}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// genSeqState draws the initial state: a geometry, from a seed.
func genSeqState(p *gopter.GenParameters) *gopter.GenResult {
	r := rand.New(rand.NewPCG(uint64(p.Rng.Int63()), 0x736571))
	return gopter.NewGenResult(&seqState{geom: genGeom(r, false)}, gopter.NoShrinker)
}

// genSeqCommand returns the generator of the next command for state st:
// extents at any byte offset and length, biased to boundaries, fresh
// clusters and recently touched ones, with shrinkSeqCmd as shrinker.
func genSeqCommand(st commands.State) gopter.Gen {
	s := st.(*seqState)
	return func(p *gopter.GenParameters) *gopter.GenResult {
		r := rand.New(rand.NewPCG(uint64(p.Rng.Int63()), 0x636d64))
		rg := newRangeGen(r, s.geom, 1)
		for _, w := range s.writes[max(0, len(s.writes)-3):] {
			rg.touched = append(rg.touched, w.off/s.geom.Cluster())
		}
		c := &seqCmd{}
		switch x := r.IntN(100); {
		case x < 50:
			c.kind, c.seed = opWrite, 1+r.Uint32N(backingSeed-1)
			c.off, c.n = rg.next()
		case x < 85:
			c.kind = opRead
			c.off, c.n = rg.next()
		case x < 91:
			c.kind = opFlush
		case x < 96:
			c.kind = opReopen
		default:
			c.kind = opCheck
		}
		return gopter.NewGenResult(c, shrinkSeqCmd)
	}
}

// shrinkSeqCmd proposes simpler extents for a read or write: one byte,
// half the length, a sector-aligned start. Every candidate lies inside
// the original extent, so it still satisfies PreCondition.
func shrinkSeqCmd(v any) gopter.Shrink {
	c := v.(*seqCmd)
	var out []any
	if c.kind == opRead || c.kind == opWrite {
		if c.n > 1 {
			out = append(out, &seqCmd{c.kind, c.off, 1, c.seed}, &seqCmd{c.kind, c.off, c.n / 2, c.seed})
		}
		if a := (c.off + propSector - 1) / propSector * propSector; a != c.off && a < c.off+c.n {
			out = append(out, &seqCmd{c.kind, a, c.off + c.n - a, c.seed})
		}
	}
	i := 0
	return func() (any, bool) {
		if i == len(out) {
			return nil, false
		}
		i++
		return out[i-1], true
	}
}

// TestPropSequential runs the sequential property on every backend.
func TestPropSequential(t *testing.T) {
	for _, backend := range []string{"mem", "sim", "file"} {
		t.Run("backend="+backend, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			start := time.Now()
			n := int64(0)
			cmds := &commands.ProtoCommands{
				NewSystemUnderTestFunc: func(st commands.State) commands.SystemUnderTest {
					n++
					return newSeqSUT(backend, root, st.(*seqState), n)
				},
				DestroySystemUnderTestFunc: func(sut commands.SystemUnderTest) { sut.(*seqSUT).destroy() },
				InitialStateGen:            genSeqState,
				GenCommandFunc:             genSeqCommand,
			}
			params := propParams(t, seqCases, seqMaxCommands)
			props := gopter.NewProperties(params)
			props.Property("image reads as the model on "+backend, commands.Prop(cmds))
			var out bytes.Buffer
			if !props.Run(gopter.NewFormatedReporter(true, 160, &out)) {
				t.Fatalf("%s\ngopter seed %d; replay: QED_PROP_SEED=%d go test ./checker -run 'TestPropSequential/backend=%s$' -v",
					out.String(), params.Seed(), params.Seed(), backend)
			}
			t.Logf("%s: %d sequences in %.1fs", backend, params.MinSuccessfulTests, time.Since(start).Seconds())
		})
	}
}
