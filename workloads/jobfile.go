package workloads

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxJobLine is the longest line a job file may hold, in bytes (without
// its line ending).
const MaxJobLine = 64 << 10

// maxJobFileErrors is how many problems ParseJobFile reports; it says
// how many more there were.
const maxJobFileErrors = 20

// ParseJobFile reads a small fio-like job file: sections "[name]", each a
// job, with "key=value" lines (a bare "key" means key=1; "key=" with no
// value is an error); "[global]" sections set the defaults of the jobs
// after them; lines starting with ";" or "#" are comments. Every job
// starts from DefaultJob. name labels errors ("jobs.fio:12: ..."). The
// file is UTF-8 text, optionally starting with a byte order mark, with
// lines of at most MaxJobLine bytes.
//
// Each job is validated as Job.Plan and Plan.CheckLimits do. Every
// problem found is reported (up to a count, then how many more), joined
// into one error; each is a *KeyError naming the key and the line that
// set it (or the section's line, for a default at fault). Input that is
// not text (a NUL byte, invalid UTF-8, a control character) or has a
// line that is too long is refused at its first such line with one error
// naming the file and the line.
func ParseJobFile(r io.Reader, name string) ([]Job, error) {
	type section struct {
		job   Job
		line  int
		lines map[string]int // canonical key -> line that set it
	}
	var (
		errs    []error
		global  = section{job: DefaultJob(), lines: map[string]int{}}
		cur     *section
		jobs    []*section
		seen    = map[string]int{}
		lr      = newLineReader(r, name)
		lineNum int
	)
	fail := func(line int, job, key, value string, err error) {
		errs = append(errs, &KeyError{File: name, Line: line, Job: job, Key: key, Value: value, Err: err})
	}
	for {
		text, ok, err := lr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		lineNum = lr.line
		line := strings.TrimSpace(text)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				errs = append(errs, fmt.Errorf("%s:%d: section header %q has no closing ]", name, lineNum, line))
				cur = nil
				continue
			}
			sec := strings.TrimSpace(line[1 : len(line)-1])
			switch {
			case sec == "global":
				cur = &global
				continue
			case sec == "" || strings.ContainsAny(sec, "/ \t,"):
				errs = append(errs, fmt.Errorf("%s:%d: section name %q must be non-empty, without spaces, commas or slashes", name, lineNum, sec))
			case seen[sec] > 0:
				errs = append(errs, fmt.Errorf("%s:%d: section [%s] already defined at line %d", name, lineNum, sec, seen[sec]))
			}
			seen[sec] = lineNum
			s := &section{job: global.job, line: lineNum, lines: map[string]int{}}
			for k, l := range global.lines {
				s.lines[k] = l
			}
			s.job.Name = sec
			jobs = append(jobs, s)
			cur = s
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		job := ""
		if cur != nil {
			job = cur.job.Name
		}
		switch {
		case cur == nil:
			fail(lineNum, "", key, value, errors.New("setting outside a section; start one with [name] or [global]"))
			continue
		case key == "":
			fail(lineNum, job, key, value, errors.New("empty key"))
			continue
		case hasValue && value == "":
			fail(lineNum, job, key, value, errors.New("empty value (a bare key, without =, means 1)"))
			continue
		}
		if err := cur.job.Set(key, value); err != nil {
			var ke *KeyError
			if errors.As(err, &ke) {
				ke.File, ke.Line = name, lineNum
				errs = append(errs, ke)
			} else {
				fail(lineNum, cur.job.Name, key, value, err)
			}
			continue
		}
		cur.lines[findKey(key).name] = lineNum
	}
	if len(jobs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no job sections (a job is a [name] section)", name))
	}
	out := make([]Job, 0, len(jobs))
	for _, s := range jobs {
		p, err := s.job.Plan()
		if err == nil {
			err = p.CheckLimits()
		}
		if err != nil {
			var ke *KeyError
			if errors.As(err, &ke) {
				ke.File = name
				ke.Line = s.line
				if l, ok := s.lines[ke.Key]; ok {
					ke.Line = l
				}
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, s.job)
	}
	if n := len(errs); n > maxJobFileErrors {
		errs = append(errs[:maxJobFileErrors:maxJobFileErrors], fmt.Errorf("%s: %d more problems", name, n-maxJobFileErrors))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// lineReader reads a job file's lines, refusing input that is not text.
type lineReader struct {
	br   *bufio.Reader
	name string
	line int // lines read
	done bool
}

func newLineReader(r io.Reader, name string) *lineReader {
	// Room for the longest line and its "\r\n".
	return &lineReader{br: bufio.NewReaderSize(r, MaxJobLine+2), name: name}
}

// utf8BOM is the UTF-8 encoding of U+FEFF, which some editors put at the
// start of a file.
const utf8BOM = "\xef\xbb\xbf"

// next returns the next line without its line ending and false at the
// end of the input. A line that is not text or too long is an error
// naming the file and line; so is a failure to read.
func (lr *lineReader) next() (string, bool, error) {
	if lr.done {
		return "", false, nil
	}
	raw, err := lr.br.ReadSlice('\n')
	switch {
	case err == io.EOF:
		lr.done = true
		if len(raw) == 0 {
			return "", false, nil
		}
	case err == bufio.ErrBufferFull:
		lr.line++
		if problem := notText(raw, lr.line == 1); problem != "" {
			return "", false, fmt.Errorf("%s:%d: not a text file: %s", lr.name, lr.line, problem)
		}
		return "", false, fmt.Errorf("%s:%d: line longer than %d bytes", lr.name, lr.line, MaxJobLine)
	case err != nil:
		return "", false, fmt.Errorf("%s: after line %d: %w", lr.name, lr.line, err)
	}
	lr.line++
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if problem := notText(raw, lr.line == 1); problem != "" {
		return "", false, fmt.Errorf("%s:%d: not a text file: %s", lr.name, lr.line, problem)
	}
	if len(raw) > MaxJobLine {
		return "", false, fmt.Errorf("%s:%d: line longer than %d bytes", lr.name, lr.line, MaxJobLine)
	}
	line := string(raw)
	if lr.line == 1 {
		line = strings.TrimPrefix(line, utf8BOM)
	}
	return line, true, nil
}

// notText says what makes b, a line (the first if first is set), not
// text: a UTF-16 byte order mark, a NUL byte, invalid UTF-8 or a control
// character (C0 other than tab, vertical tab, form feed and carriage
// return; DEL; C1); "" if it is text.
func notText(b []byte, first bool) string {
	if first && (bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff})) {
		return "UTF-16 byte order mark (save it as UTF-8)"
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == 0:
			return fmt.Sprintf("NUL byte at column %d", i+1)
		case r == utf8.RuneError && size == 1:
			if len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:]) && len(b) > MaxJobLine {
				// A character cut by the end of an over-long read.
				return ""
			}
			return fmt.Sprintf("invalid UTF-8 byte %#02x at column %d", b[i], i+1)
		case r < 0x20 && r != '\t' && r != '\v' && r != '\f' && r != '\r', r >= 0x7f && r < 0xa0:
			return fmt.Sprintf("control character %#02x at column %d", r, i+1)
		}
		i += size
	}
	return ""
}
