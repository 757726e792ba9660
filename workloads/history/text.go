package history

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// WriteText writes h in the text form ParseHistory reads: a "disk" line,
// then one event per line:
//
//	disk backing=16
//	call 1 write s8+2 client=0 t=100
//	call 2 read s8+2 client=1 t=120
//	return 1 t=300 req=1
//	return 2 t=310 saw=w1/s8,zero
//	return 3 t=400 err="image is closed"
func (h *History) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "disk backing=%d\n", h.Disk.BackingSectors)
	for i := range h.Events {
		bw.WriteString(h.Events[i].String())
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// String renders the event as one line of the text form.
func (e *Event) String() string {
	var b strings.Builder
	if e.Kind == Call {
		fmt.Fprintf(&b, "call %d %s", e.ID, e.Action)
		if e.Action.Ranged() {
			fmt.Fprintf(&b, " s%d+%d", e.Sector, e.Sectors)
		}
		fmt.Fprintf(&b, " client=%d t=%d", e.Client, e.Time)
		return b.String()
	}
	fmt.Fprintf(&b, "return %d t=%d", e.ID, e.Time)
	if e.Req != 0 {
		fmt.Fprintf(&b, " req=%d", e.Req)
	}
	if e.Seen != nil {
		b.WriteString(" saw=")
		for i, d := range e.Seen {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(d.String())
		}
	}
	if e.Err != "" {
		fmt.Fprintf(&b, " err=%s", strconv.Quote(e.Err))
	}
	return b.String()
}

// ParseHistory reads a history in the text form WriteText writes. Blank
// lines and lines starting with # are ignored; the "disk" line is
// optional (no backing file). Errors name the line. It checks syntax
// only: unmatched calls and returns are for the checker to report.
func ParseHistory(r io.Reader) (History, error) {
	var h History
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := h.parseLine(text); err != nil {
			return History{}, fmt.Errorf("history line %d %q: %w", line, text, err)
		}
	}
	if err := sc.Err(); err != nil {
		return History{}, fmt.Errorf("read history: %w", err)
	}
	return h, nil
}

func (h *History) parseLine(text string) error {
	fields, err := splitFields(text)
	if err != nil {
		return err
	}
	if fields[0] == "disk" {
		for _, f := range fields[1:] {
			v, ok := strings.CutPrefix(f, "backing=")
			if !ok {
				return fmt.Errorf("unknown disk field %q", f)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("backing: %w", err)
			}
			h.Disk.BackingSectors = n
		}
		return nil
	}
	if len(fields) < 2 {
		return errors.New("want call or return and an operation id")
	}
	var ev Event
	switch fields[0] {
	case "call":
		ev.Kind = Call
	case "return":
		ev.Kind = Return
	default:
		return fmt.Errorf("unknown event %q (want disk, call or return)", fields[0])
	}
	id, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil || id == 0 {
		return fmt.Errorf("operation id %q: want a positive integer", fields[1])
	}
	ev.ID = id
	rest := fields[2:]
	if ev.Kind == Call {
		if len(rest) == 0 {
			return errors.New("call without an operation kind")
		}
		found := false
		for k, name := range actionNames {
			if rest[0] == name {
				ev.Action, found = Action(k), true
			}
		}
		if !found {
			return fmt.Errorf("unknown operation %q", rest[0])
		}
		rest = rest[1:]
		if ev.Action.Ranged() {
			if len(rest) == 0 || !strings.HasPrefix(rest[0], "s") {
				return fmt.Errorf("%s without sectors (want sFIRST+COUNT)", ev.Action)
			}
			a, b, ok := strings.Cut(rest[0][1:], "+")
			first, err1 := strconv.ParseUint(a, 10, 64)
			count, err2 := strconv.ParseUint(b, 10, 64)
			if !ok || err1 != nil || err2 != nil || count == 0 {
				return fmt.Errorf("sectors %q: want sFIRST+COUNT with COUNT > 0", rest[0])
			}
			ev.Sector, ev.Sectors = first, count
			rest = rest[1:]
		}
	}
	for _, f := range rest {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("field %q: want key=value", f)
		}
		var err error
		switch {
		case key == "t":
			ev.Time, err = strconv.ParseInt(val, 10, 64)
		case key == "client" && ev.Kind == Call:
			ev.Client, err = strconv.Atoi(val)
		case key == "req" && ev.Kind == Return:
			ev.Req, err = strconv.ParseUint(val, 10, 64)
		case key == "saw" && ev.Kind == Return:
			ev.Seen = []Decoded{}
			for _, s := range strings.Split(val, ",") {
				d, perr := ParseDecoded(s)
				if perr != nil {
					return perr
				}
				ev.Seen = append(ev.Seen, d)
			}
		case key == "err" && ev.Kind == Return:
			ev.Err, err = strconv.Unquote(val)
		default:
			return fmt.Errorf("unknown %s field %q", ev.Kind, key)
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", key, err)
		}
	}
	h.Events = append(h.Events, ev)
	return nil
}

// splitFields splits on spaces, keeping a double-quoted value (err="a b")
// in one field.
func splitFields(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '"' {
			i++
		}
		if i < len(s) && s[i] == '"' {
			q, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return nil, fmt.Errorf("unterminated quoted value in %q", s)
			}
			i += len(q)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if len(out) == 0 {
		return nil, errors.New("empty line")
	}
	return out, nil
}

// ParseDecoded parses a tag as Decoded.String renders it: "zero",
// "backing/s9", "w12/s9", "corrupt" or "torn".
func ParseDecoded(s string) (Decoded, error) {
	switch s {
	case "zero":
		return Decoded{Tag: model.ZeroTag()}, nil
	case "corrupt":
		return Decoded{Fault: FaultCorrupt}, nil
	case "torn":
		return Decoded{Fault: FaultTorn}, nil
	}
	who, sec, ok := strings.Cut(s, "/s")
	n, err := strconv.ParseUint(sec, 10, 64)
	if !ok || err != nil {
		return Decoded{}, fmt.Errorf("tag %q: want zero, backing/sN, wID/sN, corrupt or torn", s)
	}
	if who == "backing" {
		return Decoded{Tag: model.BackingTag(n)}, nil
	}
	w, err := strconv.ParseUint(strings.TrimPrefix(who, "w"), 10, 64)
	if !strings.HasPrefix(who, "w") || err != nil || w == 0 {
		return Decoded{}, fmt.Errorf("tag %q: want zero, backing/sN, wID/sN, corrupt or torn", s)
	}
	return Decoded{Tag: model.WriteTag(w, n)}, nil
}
