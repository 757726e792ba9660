package impl

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/qedharness/qedharness/model"
)

// TestEngineDataDriven runs the scripts in testdata/engine, in the manner
// of etcd-io/raft's interaction tests: each script is a story told to the
// engine one input at a time (a request arrives, an I/O completes), and
// below each input, after "----", what the engine did in response. Lines
// starting with # are comments for the reader. After a deliberate change
// of behaviour, regenerate the expectations with
//
//	go test ./impl -run TestEngineDataDriven -rewrite
//
// and read the diff: it is the change, as a reader of the scripts sees it.
//
// The driver (engineDriver) drives the engine directly, with no backend:
// an I/O the engine issues stays pending until the script completes it,
// and only then is it carried out against the in-memory storage (Perform),
// so the script chooses every completion order and every failure.
//
// Commands:
//
//	open [cluster=64k] [table=4] [size=64m] [policy=overlap] [backing=SIZE]
//	     [fill=elide|merged|separate] [grow=ahead|off] [meta=writeback|writethrough]
//	  Creates a fresh image in memory (Create) and opens the engine over it;
//	  prints its geometry and options. backing= adds a raw backing file of
//	  that size, holding the pattern labelled "backing"; policy= takes a
//	  registered name (serial, freeze-any, freeze-l2, per-table, overlap).
//	  Sizes take a k, m or g suffix, or 0x for hex.
//
//	submit NAME [off=N len=N]
//	  Submits a request named by the script: a name starting with w is a
//	  write, r a read, z a write-zeroes, f a flush (no off or len). A write's data is the
//	  pattern labelled with its name, so read can tell who wrote what.
//
//	complete ioN [ioM ...] [err=EIO]
//	complete all [err=EIO]
//	  Completes the named pending I/Os in the order given (all: every I/O
//	  pending now, in issue order; I/Os issued meanwhile stay pending). An
//	  I/O is carried out against the storage as it completes; with err= it
//	  is not carried out and fails with that error instead.
//
//	run
//	  Completes the oldest pending I/O until none is pending.
//
//	pending
//	  Lists the I/Os in flight, in issue order.
//
//	read off=N len=N
//	  Reads guest bytes through the engine and prints which writer's
//	  pattern each run of 512-byte sectors carries: a write's name,
//	  "backing", "zero", or "mixed" for a sector of several. No I/O may be
//	  pending; the read's own I/Os are completed at once and not printed,
//	  but take request and I/O numbers.
//
//	check
//	  Runs Check (without repair) on the image file as it is on storage,
//	  which lags the engine's cache under write-back.
//
//	stats
//	  Prints the engine's Stats: host I/Os and bytes by purpose.
//
// Output of submit, complete and run: for each completed I/O a line
// "> io 3 ..." (with its error, if failed), then what the engine did in
// response, grouped: requests that completed ("done w1", or "done w1
// err=..."; a read's content below it, as read prints it), requests the
// policy woke ("woken w2": Ready.Woken, a frozen request looked up again;
// "woken w2, frozen again" if the lookup froze it again) and froze
// ("frozen w2"), then the I/Os it issued, in the IO.String format with the
// script's request names ("io 7 write image 0x30000+4096 (data, req w1)";
// the engine's own I/Os name no request).
func TestEngineDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/engine", func(t *testing.T, path string) {
		d := &engineDriver{}
		datadriven.RunTest(t, path, d.run)
	})
}

// engineDriver interprets one script: it owns an image in memory and the
// engine over it, the I/Os the engine issued and the script has not yet
// completed, and the names the script gave its requests. It uses only
// the engine's public contract: Submit, Complete and Ready.
type engineDriver struct {
	files Files
	eng   *Engine
	ticks int64 // the engine's clock: one tick per reading

	pending []*IO                 // issued, not completed, in issue order
	reqs    []*scriptReq          // in submission order
	byName  map[string]*scriptReq // by script name
	byID    map[uint64]*scriptReq // by engine request ID
	sources []string              // pattern labels: 0 is "backing", then writes
	nextIO  uint64                // the ID the engine's next I/O will have
}

// scriptReq is a request the script submitted, and what the driver last
// saw of it: the engine counts freezes in Request.Freezes and adds the
// time of a freeze to Request.FrozenNanos when it ends, so step compares
// them. The engine's clock ticks at every reading, so a request admitted
// after a freeze always has its FrozenNanos grow.
type scriptReq struct {
	name        string
	r           *Request
	freezes     int
	frozenNanos int64
}

// submit hands r to the engine.
func (d *engineDriver) submit(r *Request) { d.eng.Submit(r) }

// complete hands a finished I/O (Err set) back to the engine, which owns
// it again: the driver must not touch it afterwards.
func (d *engineDriver) complete(io *IO) { d.eng.Complete(io) }

// drain takes the I/Os the engine issued and the requests it completed
// since the last drain, each in the order the engine emitted them.
func (d *engineDriver) drain() (ios []*IO, dones, woken []*Request) {
	rd := d.eng.Ready()
	return append(ios, rd.IOs...), append(dones, rd.Done...), append(woken, rd.Woken...)
}

// issued records I/Os the engine issued as pending.
func (d *engineDriver) issued(ios []*IO) {
	for _, io := range ios {
		d.nextIO = max(d.nextIO, io.ID+1)
	}
	d.pending = append(d.pending, ios...)
}

// run executes one command of a script and returns its output.
func (d *engineDriver) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "open" && d.eng == nil {
		td.Fatalf(t, "%s before open", td.Cmd)
	}
	switch td.Cmd {
	case "open":
		return d.open(t, td)
	case "submit":
		return d.submitCmd(t, td)
	case "complete":
		return d.completeCmd(t, td)
	case "run":
		var b strings.Builder
		for n := 0; len(d.pending) > 0; n++ {
			if n == 10000 {
				td.Fatalf(t, "run: still I/O pending after %d completions", n)
			}
			io := d.pending[0]
			d.pending = d.pending[1:]
			d.completeOne(&b, io, nil)
		}
		return orNothing(b.String())
	case "pending":
		var b strings.Builder
		for _, io := range d.pending {
			fmt.Fprintln(&b, d.ioString(io))
		}
		if b.Len() == 0 {
			return "(none)"
		}
		return b.String()
	case "read":
		off, n := d.scanRange(t, td)
		first := d.nextIO
		r, err := d.read(off, n)
		if err != nil {
			return err.Error()
		}
		out := d.content(r.Buf, r.Off)
		switch last := d.nextIO - 1; {
		case last == first:
			out += fmt.Sprintf("(read by io %d)\n", first)
		case last > first:
			out += fmt.Sprintf("(read by io %d-%d)\n", first, last)
		}
		return out
	case "check":
		return d.check()
	case "stats":
		return d.stats()
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

// open creates a fresh image and opens an engine over it.
func (d *engineDriver) open(t *testing.T, td *datadriven.TestData) string {
	*d = engineDriver{byName: map[string]*scriptReq{}, byID: map[uint64]*scriptReq{}, sources: []string{"backing"}, nextIO: 1}
	cluster, table, size, backing := uint64(64<<10), uint64(4), uint64(64<<20), uint64(0)
	opts := Options{Policy: model.Overlap{}, Clock: func() int64 { d.ticks++; return d.ticks }}
	for _, a := range td.CmdArgs {
		v := a.SingleVal(t)
		var err error
		switch a.Key {
		case "cluster":
			cluster, err = parseSize(v)
		case "table":
			table, err = parseSize(v)
		case "size":
			size, err = parseSize(v)
		case "backing":
			backing, err = parseSize(v)
		case "policy":
			var reg model.Registration
			reg, err = model.Lookup(v)
			opts.Policy = reg.Policy
		case "fill":
			opts.Fill, err = ParseFillMode(v)
		case "meta":
			opts.Metadata, err = ParseMetaMode(v)
		case "grow":
			switch v {
			case "ahead":
				opts.Grow = GrowAhead
			case "off":
				opts.Grow = GrowOff
			default:
				err = fmt.Errorf("unknown grow mode %q (want ahead or off)", v)
			}
		default:
			err = fmt.Errorf("unknown argument %q", a.Key)
		}
		if err != nil {
			td.Fatalf(t, "open: %v", err)
		}
	}
	d.files.Image = NewMemStorage()
	co := CreateOptions{ClusterSize: uint32(cluster), TableSize: uint32(table)}
	if backing > 0 {
		b := make([]byte, backing)
		fillPattern(b, 0, 0)
		d.files.Backing = NewMemStorageFrom(b)
		co.BackingFile = "backing.raw"
	}
	if err := Create(d.files.Image, size, co); err != nil {
		return err.Error()
	}
	// No backend: the driver carries out the engine's I/O itself.
	eng, err := NewEngine(d.files, opts)
	if err != nil {
		return err.Error()
	}
	d.eng = eng
	g, h := eng.Geometry(), eng.Header()
	fileSize, _ := d.files.Image.Size()
	var b strings.Builder
	fmt.Fprintf(&b, "image %s: cluster %s, table %d (%d entries, %s per L2 table), L1 at %#x, file %#x",
		human(g.ImageSize), human(g.ClusterSize), g.TableSize, g.TableEntries, human(g.TableEntries*g.ClusterSize), h.L1TableOffset, fileSize)
	if backing > 0 {
		fmt.Fprintf(&b, ", backing %s", human(backing))
	}
	fmt.Fprintf(&b, "\npolicy %s, fill %s, grow %s, meta %s\n", opts.Policy.Name(), opts.Fill, opts.Grow, opts.Metadata)
	return b.String()
}

// submitCmd submits one named request and prints the engine's response.
func (d *engineDriver) submitCmd(t *testing.T, td *datadriven.TestData) string {
	if len(td.CmdArgs) == 0 || len(td.CmdArgs[0].Vals) != 0 {
		td.Fatalf(t, "submit: want a request name first (w1, r2, z3, f4)")
	}
	name := td.CmdArgs[0].Key
	if d.byName[name] != nil {
		td.Fatalf(t, "submit: request %s submitted before", name)
	}
	r := &Request{}
	switch name[0] {
	case 'w':
		r.Op = ReqWrite
	case 'r':
		r.Op = ReqRead
	case 'f':
		r.Op = ReqFlush
	case 'z':
		r.Op = ReqWriteZeroes
	default:
		td.Fatalf(t, "submit: request name %q starts with none of w, r, z and f", name)
	}
	if r.Op == ReqWriteZeroes {
		r.Off, r.Len = d.scanRange(t, td)
	} else if r.Op != ReqFlush {
		off, n := d.scanRange(t, td)
		r.Off, r.Buf = off, make([]byte, n)
		if r.Op == ReqWrite {
			if len(d.sources) == 256 {
				td.Fatalf(t, "submit: more than 255 writes")
			}
			fillPattern(r.Buf, len(d.sources), off)
			d.sources = append(d.sources, name)
		}
	}
	sr := &scriptReq{name: name, r: r}
	d.reqs = append(d.reqs, sr)
	d.byName[name] = sr
	var b strings.Builder
	d.step(&b, func() {
		d.submit(r)
		d.byID[r.ID] = sr // before the step's output names it
	})
	return orNothing(b.String())
}

// completeCmd completes the I/Os the arguments name.
func (d *engineDriver) completeCmd(t *testing.T, td *datadriven.TestData) string {
	var fail error
	var ids []uint64
	all := false
	for _, a := range td.CmdArgs {
		switch {
		case a.Key == "err":
			fail = errors.New(a.SingleVal(t))
		case a.Key == "all":
			all = true
		case strings.HasPrefix(a.Key, "io"):
			id, err := strconv.ParseUint(a.Key[2:], 10, 64)
			if err != nil {
				td.Fatalf(t, "complete: bad I/O %q", a.Key)
			}
			ids = append(ids, id)
		default:
			td.Fatalf(t, "complete: unknown argument %q", a.Key)
		}
	}
	if all {
		for _, io := range d.pending {
			ids = append(ids, io.ID)
		}
	}
	if len(ids) == 0 {
		td.Fatalf(t, "complete: no I/O named (io3), or none pending for all")
	}
	var b strings.Builder
	for _, id := range ids {
		i := 0
		for i < len(d.pending) && d.pending[i].ID != id {
			i++
		}
		if i == len(d.pending) {
			td.Fatalf(t, "complete: io%d is not pending", id)
		}
		io := d.pending[i]
		d.pending = append(d.pending[:i], d.pending[i+1:]...)
		d.completeOne(&b, io, fail)
	}
	return b.String()
}

// completeOne carries io out against the storage, or fails it with fail,
// hands it to the engine and writes the engine's response to b.
func (d *engineDriver) completeOne(b *strings.Builder, io *IO, fail error) {
	line := "> " + d.ioString(io)
	if fail != nil {
		io.Err = fail
		line += " err=" + fail.Error()
	} else {
		io.Err = Perform(d.files, io)
		if io.Err != nil {
			line += " err=" + io.Err.Error()
		}
	}
	fmt.Fprintln(b, line)
	d.step(b, func() { d.complete(io) })
}

// step runs f, one input to the engine, and writes what the engine did in
// response to b: requests completed, frozen and woken, then I/Os issued.
func (d *engineDriver) step(b *strings.Builder, f func()) {
	f()
	ios, dones, woken := d.drain()
	for _, r := range dones {
		sr := d.byID[r.ID]
		if sr == nil {
			fmt.Fprintf(b, "done request %d, which the script did not submit\n", r.ID)
			continue
		}
		if r.Err != nil {
			fmt.Fprintf(b, "done %s err=%v\n", sr.name, r.Err)
			continue
		}
		fmt.Fprintf(b, "done %s\n", sr.name)
		if r.Op == ReqRead {
			for _, l := range strings.SplitAfter(strings.TrimSuffix(d.content(r.Buf, r.Off), "\n"), "\n") {
				fmt.Fprintf(b, "  %s", l)
			}
			b.WriteString("\n")
		}
	}
	for i, r := range woken {
		if slices.Contains(woken[:i], r) {
			continue // woken twice in one step
		}
		sr := d.byID[r.ID]
		if sr == nil {
			fmt.Fprintf(b, "woken request %d, which the script did not submit\n", r.ID)
			continue
		}
		if r.FrozenNanos == sr.frozenNanos && r.Freezes == sr.freezes {
			// Looked up again and frozen again, in the same episode.
			fmt.Fprintf(b, "woken %s, frozen again\n", sr.name)
			continue
		}
		fmt.Fprintf(b, "woken %s\n", sr.name)
	}
	for _, sr := range d.reqs {
		if sr.r.Freezes > sr.freezes {
			fmt.Fprintf(b, "frozen %s\n", sr.name)
		}
		sr.freezes, sr.frozenNanos = sr.r.Freezes, sr.r.FrozenNanos
	}
	for _, io := range ios {
		fmt.Fprintln(b, d.ioString(io))
	}
	d.issued(ios)
}

// read reads n guest bytes at off through the engine, completing its I/O
// at once; nothing may be pending.
func (d *engineDriver) read(off, n uint64) (*Request, error) {
	if len(d.pending) > 0 {
		return nil, fmt.Errorf("read: %d I/Os pending; complete them first", len(d.pending))
	}
	r := &Request{Op: ReqRead, Off: off, Buf: make([]byte, n)}
	d.submit(r)
	for {
		ios, dones, _ := d.drain()
		d.issued(ios)
		for _, x := range dones {
			if x != r {
				return nil, fmt.Errorf("read: request %d completed meanwhile", x.ID)
			}
			if len(d.pending) > 0 {
				return nil, fmt.Errorf("read: done with %d I/Os pending", len(d.pending))
			}
			return r, r.Err
		}
		if len(d.pending) == 0 {
			return nil, errors.New("read: stalled with no I/O pending")
		}
		io := d.pending[0]
		d.pending = d.pending[1:]
		io.Err = Perform(d.files, io)
		d.complete(io)
	}
}

// check runs Check on the image file without repair.
func (d *engineDriver) check() string {
	var b strings.Builder
	size, _ := d.files.Image.Size()
	hdr := make([]byte, HeaderLen)
	d.files.Image.ReadAt(hdr, 0)
	needCheck := "clear"
	if h, err := DecodeHeader(hdr); err == nil && h.Features&FeatureNeedCheck != 0 {
		needCheck = "set"
	}
	fmt.Fprintf(&b, "file %#x, need-check %s\n", size, needCheck)
	res, err := Check(d.files.Image, false)
	if err != nil {
		fmt.Fprintln(&b, err)
		return b.String()
	}
	fmt.Fprintf(&b, "%d of %d clusters allocated, end %#x: ", res.AllocatedClusters, res.TotalClusters, res.ImageEndOffset)
	if res.Clean() {
		b.WriteString("clean\n")
	} else {
		fmt.Fprintf(&b, "%d corruptions, %d leaks, %d check errors\n", res.Corruptions, res.Leaks, res.CheckErrors)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// stats prints the engine's Stats, omitting purposes never used.
func (d *engineDriver) stats() string {
	st := d.eng.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d, allocating %d, freezes %d, restarts %d, max allocating in flight %d\n",
		st.Requests, st.AllocatingWrites, st.Freezes, st.Restarts, st.MaxAllocInFlight)
	for p := range st.IOs {
		if st.IOs[p] == 0 {
			continue
		}
		ios := "I/Os"
		if st.IOs[p] == 1 {
			ios = "I/O"
		}
		fmt.Fprintf(&b, "%s: %d %s, %d bytes", Purpose(p), st.IOs[p], ios, st.Bytes[p])
		if w := st.Written[p]; w > 0 && w != st.Bytes[p] {
			fmt.Fprintf(&b, " (%d written)", w)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ioString renders io as IO.String does, with the script's name for its
// request; the engine's own I/Os name none.
func (d *engineDriver) ioString(io *IO) string {
	var s string
	switch io.Op {
	case OpFlush:
		s = fmt.Sprintf("io %d flush %s", io.ID, io.File)
	case OpGrow:
		s = fmt.Sprintf("io %d grow %s to %#x", io.ID, io.File, io.Off)
	case OpWriteZeroes:
		s = fmt.Sprintf("io %d write-zeroes %s %#x+%d", io.ID, io.File, io.Off, io.Len)
	default:
		s = fmt.Sprintf("io %d %s %s %#x+%d", io.ID, io.Op, io.File, io.Off, len(io.Buf))
	}
	if io.Req == 0 {
		return fmt.Sprintf("%s (%s)", s, io.Purpose)
	}
	name := "read" // the read command's own request
	if sr := d.byID[io.Req]; sr != nil {
		name = sr.name
	}
	return fmt.Sprintf("%s (%s, req %s)", s, io.Purpose, name)
}

// content describes buf, guest bytes from off, as runs of sectors with
// the same label, one run a line: "0x0+4096 w1".
func (d *engineDriver) content(buf []byte, off uint64) string {
	var b strings.Builder
	runOff, runLen, runLabel := off, uint64(0), ""
	for pos := uint64(0); pos < uint64(len(buf)); {
		n := min(SectorSize-(off+pos)%SectorSize, uint64(len(buf))-pos)
		label := d.label(buf[pos:pos+n], off+pos)
		if label != runLabel && runLen > 0 {
			fmt.Fprintf(&b, "%#x+%d %s\n", runOff, runLen, runLabel)
			runOff, runLen = off+pos, 0
		}
		runLabel = label
		runLen += n
		pos += n
	}
	if runLen > 0 {
		fmt.Fprintf(&b, "%#x+%d %s\n", runOff, runLen, runLabel)
	}
	return b.String()
}

// label names the source whose pattern p, guest bytes from off, carries:
// "zero", a write's name or "backing", or "mixed".
func (d *engineDriver) label(p []byte, off uint64) string {
	zero := true
	for _, c := range p {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return "zero"
	}
	for src, name := range d.sources {
		same := true
		for i, c := range p {
			if c != patternByte(src, off+uint64(i)) {
				same = false
				break
			}
		}
		if same {
			return name
		}
	}
	return "mixed"
}

// patternByte returns byte off of source src's pattern: a hash of the
// source and the 8-byte word, so that no two sources (nor two places of
// one) share a sector's content.
func patternByte(src int, off uint64) byte {
	x := off/8*0x9e3779b97f4a7c15 ^ uint64(src+1)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	x ^= x >> 29
	return byte(x >> (8 * (off % 8)))
}

// fillPattern fills p with source src's pattern for the bytes from off.
func fillPattern(p []byte, src int, off uint64) {
	for i := range p {
		p[i] = patternByte(src, off+uint64(i))
	}
}

// scanRange reads the off= and len= arguments.
func (d *engineDriver) scanRange(t *testing.T, td *datadriven.TestData) (off, n uint64) {
	var offS, lenS string
	td.ScanArgs(t, "off", &offS)
	td.ScanArgs(t, "len", &lenS)
	off, err := parseSize(offS)
	if err == nil {
		n, err = parseSize(lenS)
	}
	if err != nil {
		td.Fatalf(t, "%s: %v", td.Cmd, err)
	}
	return off, n
}

// parseSize parses "4096", "0x1000", "4k", "64m" or "1g".
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	num := strings.ToLower(s)
	switch {
	case strings.HasSuffix(num, "k"):
		mult, num = 1<<10, num[:len(num)-1]
	case strings.HasSuffix(num, "m"):
		mult, num = 1<<20, num[:len(num)-1]
	case strings.HasSuffix(num, "g"):
		mult, num = 1<<30, num[:len(num)-1]
	}
	v, err := strconv.ParseUint(num, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

// human renders n as parseSize reads it, with the largest exact suffix.
func human(n uint64) string {
	switch {
	case n == 0:
		return "0"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dg", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return strconv.FormatUint(n, 10)
}

func orNothing(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}
