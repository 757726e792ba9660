package workloads

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// MaxIOLogEntries bounds the entries an iolog may hold: a replay keeps
// them all in memory (32 bytes each).
const MaxIOLogEntries = 1 << 22

// IOLogKind is the kind of an iolog entry runbench replays.
type IOLogKind uint8

// The iolog entries runbench replays; file actions (add, open, close)
// and version 2's wait are read into the entries' times.
const (
	IOLogRead IOLogKind = iota
	IOLogWrite
	IOLogSync // sync or datasync: a flush
	IOLogTrim // replayed as the image's write-zeroes request
)

// IOLogEntry is one read, write, sync or trim of an iolog.
type IOLogEntry struct {
	Kind     IOLogKind
	Off, Len uint64
	// At is when the entry is due, in nanoseconds after the first entry:
	// version 3's timestamps, or version 2's waits added up.
	At int64
	// Line is the entry's line in the log, for errors.
	Line int
}

// IOLog is a parsed fio iolog ("Trace file format" in fio's HOWTO),
// version 2 or 3, with I/O to one file: a blktrace turned into an iolog
// by fio replays as any other. It is immutable once read.
type IOLog struct {
	// Path names the log, as the job file gave it (resolved against the
	// job file's directory).
	Path string
	// Version is 2 or 3.
	Version int
	// File is the file the log's I/O goes to.
	File string
	// Entries are the reads, writes, syncs and trims, in order.
	Entries []IOLogEntry
	// timed is set when the log gives times (version 3, or waits).
	timed bool
}

// iologHeaders are the first lines of the versions runbench reads.
var iologHeaders = map[string]int{"fio version 2 iolog": 2, "fio version 3 iolog": 3}

// ReadIOLog parses a fio iolog, versions 2 and 3; name labels errors
// ("trace.log:12: ..."). Entries are "FILE ACTION [OFFSET LENGTH]",
// version 3 with a timestamp in microseconds first; actions add, open,
// close, read, write, sync, datasync, trim and (version 2) wait, whose
// OFFSET is microseconds to wait after the previous wait (waits under
// 100 are dropped, as fio's HOWTO says). A binary blktrace, an iolog of
// version 1, I/O to more than one file, a bad line and more than
// MaxIOLogEntries entries are errors naming the file and line.
func ReadIOLog(r io.Reader, name string) (*IOLog, error) {
	br := bufio.NewReaderSize(r, MaxJobLine+2)
	if head, _ := br.Peek(4); isBlktrace(head) {
		return nil, fmt.Errorf("%s: a binary blktrace: runbench replays fio's text iologs (versions 2 and 3); have fio write one while replaying the trace (fio --read_iolog=TRACE --write_iolog=LOG ...)", name)
	}
	lr := newLineReader(br, name)
	first, ok, err := lr.next()
	if err != nil {
		return nil, err
	}
	version := iologHeaders[strings.TrimSpace(first)]
	if !ok || version == 0 {
		return nil, fmt.Errorf("%s:1: not a fio iolog: the first line must be %q or %q (version 1 is not supported)", name, "fio version 2 iolog", "fio version 3 iolog")
	}
	l := &IOLog{Path: name, Version: version}
	var wait, last3, at3 int64 // v2: waits so far, µs; v3: the previous timestamp, µs, and the schedule, ns
	for {
		text, ok, err := lr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, lr.line, fmt.Sprintf(format, args...))
		}
		var at int64
		if version == 3 {
			ts, err := strconv.ParseUint(fields[0], 10, 63)
			if err != nil {
				return nil, bad("timestamp %q is not a whole number of microseconds", fields[0])
			}
			// As fio (delay_since_ttime): an entry is due its timestamp's
			// distance after the previous line's, file actions included;
			// none after a zero timestamp or before an earlier one.
			if last3 != 0 && int64(ts) > last3 {
				at3 += (int64(ts) - last3) * 1000
				l.timed = true
			}
			last3 = int64(ts)
			at = at3
			fields = fields[1:]
		}
		switch len(fields) {
		case 2:
			switch fields[1] {
			case "add", "open", "close":
				continue
			}
			return nil, bad("unknown file action %q (want add, open or close)", fields[1])
		case 4:
		default:
			return nil, bad("want FILE ACTION [OFFSET LENGTH]%s", map[bool]string{true: " after a timestamp", false: ""}[version == 3])
		}
		off, err1 := strconv.ParseUint(fields[2], 10, 64)
		n, err2 := strconv.ParseUint(fields[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, bad("offset %q and length %q must be whole numbers", fields[2], fields[3])
		}
		if version == 2 {
			at = wait * 1000
		}
		e := IOLogEntry{Off: off, Len: n, At: at, Line: lr.line}
		switch fields[1] {
		case "wait":
			if version == 3 {
				return nil, bad("wait is not allowed in a version 3 iolog (its timestamps time it)")
			}
			if off >= 100 {
				wait += int64(off)
				l.timed = true
			}
			continue
		case "read":
			e.Kind = IOLogRead
		case "write":
			e.Kind = IOLogWrite
		case "sync", "datasync":
			e.Kind, e.Off, e.Len = IOLogSync, 0, 0
		case "trim":
			e.Kind = IOLogTrim
		default:
			return nil, bad("unknown action %q (want read, write, sync, datasync, trim or wait)", fields[1])
		}
		if l.File == "" {
			l.File = fields[0]
		} else if fields[0] != l.File {
			return nil, bad("I/O to a second file, %s (the first was %s): runbench replays a log of one file", fields[0], l.File)
		}
		if len(l.Entries) == MaxIOLogEntries {
			return nil, bad("more than %d entries", MaxIOLogEntries)
		}
		l.Entries = append(l.Entries, e)
	}
	if len(l.Entries) == 0 {
		return nil, fmt.Errorf("%s: no reads, writes, syncs or trims to replay", name)
	}
	return l, nil
}

// isBlktrace reports whether head, a file's first bytes, starts a binary
// blktrace (BLK_IO_TRACE_MAGIC, either byte order).
func isBlktrace(head []byte) bool {
	return len(head) == 4 && (bytes.Equal(head[1:4], []byte{0x74, 0x61, 0x65}) || bytes.Equal(head[0:3], []byte{0x65, 0x61, 0x74}))
}

// iologOp is an iolog entry as a plan replays it.
type iologOp struct {
	op Op
	at int64
}

// planIOLog resolves a read_iolog job: the entries replay_skip keeps, as
// operations; the region (0 up to the log's last byte) and the largest
// request. A problem is a *KeyError for the key to change, naming the
// log's line.
func (p *Plan) planIOLog() error {
	j := &p.job
	l := j.IOLog
	switch {
	case j.NumJobs > 1:
		return j.keyError("numjobs", errors.New("read_iolog replays one log: numjobs must be 1"))
	case j.Pattern != Plain:
		return j.keyError("pattern", fmt.Errorf("read_iolog replays its log's own offsets, not pattern=%s", j.Pattern))
	case j.Prefill:
		return j.keyError("prefill", errors.New("read_iolog replays its log on an empty image"))
	}
	var end, maxLen uint64
	for _, e := range l.Entries {
		skip := map[IOLogKind]ReplaySkip{IOLogRead: SkipRead, IOLogWrite: SkipWrite, IOLogTrim: SkipTrim, IOLogSync: SkipSync}[e.Kind]
		if j.ReplaySkip&skip != 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return j.keyError("read_iolog", fmt.Errorf("%s:%d: %s", l.Path, e.Line, fmt.Sprintf(format, args...)))
		}
		op := Op{Off: e.Off, Len: e.Len}
		switch e.Kind {
		case IOLogSync:
			op.Kind = OpFlush
		case IOLogRead, IOLogWrite, IOLogTrim:
			op.Kind = OpRead
			switch e.Kind {
			case IOLogWrite:
				op.Kind = OpWrite
			case IOLogTrim:
				op.Kind = OpTrim // the image's write-zeroes
			}
			if e.Len == 0 || e.Off%impl.SectorSize != 0 || e.Len%impl.SectorSize != 0 {
				return bad("%s at %d+%d: offset and length must be multiples of %d bytes, the length not 0", op.Kind, e.Off, e.Len, impl.SectorSize)
			}
			if e.Off > ^uint64(0)-e.Len {
				return bad("%s at %d+%d overflows", op.Kind, e.Off, e.Len)
			}
			end, maxLen = max(end, e.Off+e.Len), max(maxLen, e.Len)
		}
		p.iolog = append(p.iolog, iologOp{op: op, at: e.At})
	}
	if len(p.iolog) == 0 {
		return j.keyError("replay_skip", fmt.Errorf("leaves nothing of %s to replay", l.Path))
	}
	if end == 0 {
		end, maxLen = impl.SectorSize, impl.SectorSize // syncs alone
	}
	j.Offset, j.OffsetPercent, j.Size, j.SizePercent = 0, 0, end, 0
	p.maxBS, p.unit = maxLen, maxLen
	return nil
}

// iologPattern replays a plan's iolog; it is not a pattern a job names.
type iologPattern struct{}

// Name returns "read_iolog".
func (iologPattern) Name() PatternName { return "read_iolog" }

// Summary says what iologPattern does.
func (iologPattern) Summary() string { return "an iolog's own requests" }

// layout has one unit per request of the log.
func (iologPattern) layout(j *Job) (layout, error) {
	return layout{units: 1, unitBytes: 1}, nil
}

// newGen starts a replay of the log.
func (iologPattern) newGen(s *Stream) opGen { return iologGen{} }

// iologGen replays a plan's iolog, again from the start for loops.
type iologGen struct{}

func (iologGen) next(s *Stream) Op {
	ops := s.p.iolog
	n := uint64(len(ops))
	e := ops[s.seq%n]
	s.at = e.at
	if round := s.seq / n; round > 0 {
		s.at += int64(round) * (ops[n-1].at + 1)
	}
	op := e.op
	if op.Kind != OpFlush {
		op.Off += s.p.fileBase // the job's file in a group's image
	}
	return op
}
