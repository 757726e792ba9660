package workloads

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxJobLine is the longest line a job file may hold, in bytes (without
// its line ending).
const MaxJobLine = 64 << 10

// maxJobFileErrors is how many problems ParseJobFile reports; it says
// how many more there were.
const maxJobFileErrors = 20

// maxIncludeDepth bounds nested include lines (a file including itself
// is caught by it too).
const maxIncludeDepth = 16

// JobFileOptions says where the files and variables a job file names come
// from. The zero value allows neither: include and read_iolog lines are
// errors, and every ${NAME} is unset.
type JobFileOptions struct {
	// Open opens a file a job file names (include, read_iolog). A relative
	// name is resolved against the directory of the file naming it, and
	// Open gets the resolved path; nil refuses such lines.
	Open func(path string) (io.ReadCloser, error)
	// LookupEnv returns the environment variable a value's ${NAME} names;
	// nil means none is set. An unset variable expands to nothing, as in
	// fio.
	LookupEnv func(name string) (string, bool)
}

// JobFile is a parsed job file: its jobs, and the fio keys it set that
// change nothing runbench measures.
type JobFile struct {
	Jobs []Job
	// Ignored lists the ignored keys, each once, in the order first set.
	Ignored []IgnoredKey
	// Renamed says, one line each, which jobs run under another name
	// than the file gives them: fio lets jobs share a name, runbench's
	// records and -workloads need distinct ones.
	Renamed []string
	// Notes says, one line each, what a job does otherwise than it
	// seems to ask (Plan.Note): with zonemode=zbd, a region fio rounds
	// to whole zones, or a job that issues no I/O.
	Notes []string
}

// IgnoredKey is a fio key a job file set that runbench ignores, or
// honours only in part (ioengine), and why.
type IgnoredKey struct {
	// Key and Value are as the file set them (first time).
	Key, Value string
	// Why says what the key is about and why it changes nothing runbench
	// measures.
	Why string
	// File and Line locate the first setting.
	File string
	Line int
}

// IgnoredLine renders the ignored keys as one line, grouped by why, or
// "" when there are none: "fio keys ignored, as they change nothing
// runbench measures, or honoured in part: filename, directory (fio's
// target ...); write_lat_log (...)".
func (f *JobFile) IgnoredLine() string {
	if len(f.Ignored) == 0 {
		return ""
	}
	var order []string
	keys := map[string][]string{}
	for _, k := range f.Ignored {
		if _, ok := keys[k.Why]; !ok {
			order = append(order, k.Why)
		}
		keys[k.Why] = append(keys[k.Why], printable(k.Key))
	}
	parts := make([]string, len(order))
	for i, why := range order {
		parts[i] = strings.Join(keys[why], ", ") + " (" + why + ")"
	}
	return "fio keys ignored, as they change nothing runbench measures, or honoured in part: " + strings.Join(parts, "; ")
}

// ParseJobFile reads a job file as ParseJobFileWith does, with no files
// to include or replay and no environment variables, and returns its
// jobs.
func ParseJobFile(r io.Reader, name string) ([]Job, error) {
	f, err := ParseJobFileWith(r, name, JobFileOptions{})
	if err != nil {
		return nil, err
	}
	return f.Jobs, nil
}

// ParseJobFileWith reads a job file in fio's syntax: sections "[name]",
// each a job, with "key=value" lines (a bare "key" means key=1; "key="
// with no value is an error for a key runbench honours); sections whose
// name starts with "global" set the defaults of the jobs after them. A
// ";" or "#" starts a comment, at the start of a line or after a value,
// as in fio. "include FILE" reads FILE's lines into the current section
// (FILE holds no sections). "${NAME}" in a value is the environment
// variable NAME (opts.LookupEnv), or nothing when unset; fio's
// machine-dependent $pagesize, $mb_memory and $ncpus are refused. name
// labels errors ("jobs.fio:12: ..."). The file is UTF-8 text, optionally
// starting with a byte order mark, with lines of at most MaxJobLine
// bytes. Every job starts from DefaultJob.
//
// A job's name is its section's, or what its name key says, with each
// space, tab, comma and slash made "_" (runbench's records and flags need
// names without them). Jobs may share a name, as in fio: the first keeps
// it, the others run as NAME-2, NAME-3, ... (the first such name no job
// has), each listed in JobFile.Renamed.
//
// Keys are runbench's (Keys) and fio's. fio keys that change nothing
// runbench measures (ioengine, filename, direct, write_lat_log, ...)
// are accepted and listed in JobFile.Ignored with why; fio keys that
// would change it and that runbench does not implement are refused, each
// error saying why. filesize sets the region (a size given too becomes
// io_size, as in fio); fill_device (fill_fs) without a size makes it
// size=100%; read_iolog loads the iolog (opts.Open) for the job to
// replay.
//
// Each job is validated as Job.Plan and Plan.CheckLimits do. Every
// problem found is reported (up to a count, then how many more), joined
// into one error; each is a *KeyError naming the key and the line that
// set it (or the section's line, for a default at fault). Input that is
// not text (a NUL byte, invalid UTF-8, a control character) or has a
// line that is too long is refused at its first such line with one error
// naming the file and the line.
func ParseJobFileWith(r io.Reader, name string, opts JobFileOptions) (*JobFile, error) {
	ps := &jobParser{opts: opts, global: &section{job: DefaultJob(), lines: map[string]pos{}}, ignoredSeen: map[string]bool{}}
	if err := ps.parse(r, name, 0); err != nil {
		return nil, err
	}
	if len(ps.jobs) == 0 && len(ps.errs) == 0 {
		ps.errs = append(ps.errs, fmt.Errorf("%s: no job sections (a job is a [name] section)", name))
	}
	out := &JobFile{}
	given := map[string]bool{}
	givenNames := make(map[*section]string, len(ps.jobs))
	for _, s := range ps.jobs {
		given[s.job.Name] = true
		givenNames[s] = s.job.Name
	}
	seen := map[string]*section{}
	for _, s := range ps.jobs {
		first, dup := seen[s.job.Name]
		if !dup {
			seen[s.job.Name] = s
			continue
		}
		name := s.job.Name
		for k := 2; ; k++ {
			s.job.Name = fmt.Sprintf("%s-%d", name, k)
			if !given[s.job.Name] && seen[s.job.Name] == nil {
				break
			}
		}
		seen[s.job.Name] = s
		out.Renamed = append(out.Renamed, fmt.Sprintf("%s:%d: the job of the section at line %d is named %q, as is the job of the section at %s:%d: it runs as %q (runbench's records need distinct names; name=NEW names a job)",
			s.namePos.file, s.namePos.line, s.pos.line, name, first.pos.file, first.pos.line, s.job.Name))
	}
	var planned []*section
	for _, s := range ps.jobs {
		ps.finish(s)
		if s.noLat != "" && s.job.LatencyTarget.Target > 0 {
			// fio's account_io_completion takes no latency sample then,
			// so no request misses the target and lat_target_check
			// ramps to the full depth.
			ps.errs = append(ps.errs, &KeyError{File: s.noLatPos.file, Line: s.noLatPos.line, Job: s.job.Name, Key: s.noLat,
				Err: errors.New("not supported with latency_target: fio then takes no latency samples, so its search counts no request over the target")})
			continue
		}
		p, err := s.job.Plan()
		if err == nil {
			err = p.CheckLimits()
		}
		if err == nil {
			err = s.zbdVerify()
		}
		if err != nil {
			var ke *KeyError
			if errors.As(err, &ke) {
				ke.File, ke.Line = s.pos.file, s.pos.line
				if l, ok := s.lines[ke.Key]; ok {
					ke.File, ke.Line = l.file, l.line
				}
			}
			ps.errs = append(ps.errs, err)
			continue
		}
		out.Jobs = append(out.Jobs, s.job)
		if n := p.Note(); n != "" {
			out.Notes = append(out.Notes, fmt.Sprintf("%s:%d: [%s] %s", s.pos.file, s.pos.line, s.job.Name, n))
		}
		planned = append(planned, s)
	}
	if len(ps.errs) == 0 {
		ps.checkGroups(out.Jobs, planned, givenNames)
	}
	out.Ignored = ps.ignored
	errs := ps.errs
	if n := len(errs); n > maxJobFileErrors {
		errs = append(errs[:maxJobFileErrors:maxJobFileErrors], fmt.Errorf("%s: %d more problems", name, n-maxJobFileErrors))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// pos is a place in a job file or a file it includes.
type pos struct {
	file string
	line int
}

// section is a job (or the global defaults) being parsed.
type section struct {
	job     Job
	pos     pos            // the header
	namePos pos            // what named the job: the header or a name line
	lines   map[string]pos // canonical key -> where it was set
	// fio keys the parser resolves at the end (finish).
	fileSize uint64
	fillDev  bool
	name     string // a [global] name= for the jobs after it
	verify   verifyKeys
	// noLat is the ignored key that turned fio's latency samples off
	// (disable_lat=1, gtod_reduce=1, stats=0), and where; "" if none.
	noLat    string
	noLatPos pos
	// prio is the job's prio and prioclass, as set (ignored keys: they
	// change nothing for a job alone, but jobs running together must
	// agree on them).
	prio [2]string
}

// jobParser is the state of ParseJobFileWith.
type jobParser struct {
	opts        JobFileOptions
	errs        []error
	global      *section
	cur         *section
	jobs        []*section
	ignored     []IgnoredKey
	ignoredSeen map[string]bool
}

// parse reads the lines of one file (depth > 0: an included one, which
// holds no sections) into the parser. It returns an error that stops
// the parse (input that is not text); other problems go to ps.errs.
func (ps *jobParser) parse(r io.Reader, name string, depth int) error {
	lr := newLineReader(r, name)
	for {
		text, ok, err := lr.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		at := pos{name, lr.line}
		line := text
		if i := strings.IndexAny(line, ";#"); i >= 0 {
			line = line[:i] // fio cuts a line at its first ";" or "#"
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '[' {
			if depth > 0 {
				ps.errs = append(ps.errs, fmt.Errorf("%s:%d: a section in an included file (fio allows none)", name, at.line))
				continue
			}
			ps.section(line, at)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			if err := ps.include(strings.TrimSpace(rest), at, depth); err != nil {
				return err
			}
			continue
		}
		ps.setting(line, at)
	}
}

// section starts the section whose header is line.
func (ps *jobParser) section(line string, at pos) {
	if !strings.HasSuffix(line, "]") {
		ps.errs = append(ps.errs, fmt.Errorf("%s:%d: section header %q has no closing ]", at.file, at.line, line))
		ps.cur = nil
		return
	}
	sec := strings.TrimSpace(line[1 : len(line)-1])
	if strings.HasPrefix(sec, "global") { // fio: any name starting "global"
		ps.cur = ps.global
		return
	}
	if sec == "" {
		ps.errs = append(ps.errs, fmt.Errorf("%s:%d: section name is empty", at.file, at.line))
		ps.cur = nil
		return
	}
	s := &section{job: ps.global.job, pos: at, namePos: at, lines: map[string]pos{}, fileSize: ps.global.fileSize, fillDev: ps.global.fillDev, verify: ps.global.verify, prio: ps.global.prio,
		noLat: ps.global.noLat, noLatPos: ps.global.noLatPos}
	for k, l := range ps.global.lines {
		s.lines[k] = l
	}
	s.job.Name = jobName(sec)
	if ps.global.name != "" {
		s.job.Name, s.namePos = ps.global.name, ps.global.namePos
	}
	ps.jobs = append(ps.jobs, s)
	ps.cur = s
}

// jobName makes a section name or a name key a job name: each space,
// tab, comma and slash becomes "_".
func jobName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == ',' || r == '/' {
			return '_'
		}
		return r
	}, s)
}

// resolve returns path as named by the file from: as it is if absolute,
// else relative to from's directory.
func resolve(from, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(from), path)
}

// include reads the file an include line names into the current section.
func (ps *jobParser) include(file string, at pos, depth int) error {
	fail := func(format string, args ...any) error {
		ps.errs = append(ps.errs, fmt.Errorf("%s:%d: include %s: %s", at.file, at.line, printable(file), fmt.Sprintf(format, args...)))
		return nil
	}
	switch {
	case ps.cur == nil:
		return fail("outside a section; start one with [name] or [global]")
	case ps.opts.Open == nil:
		return fail("this job file may not include files")
	case depth+1 > maxIncludeDepth:
		return fail("includes nested more than %d deep (does a file include itself?)", maxIncludeDepth)
	}
	path := resolve(at.file, file)
	f, err := ps.opts.Open(path)
	if err != nil {
		return fail("%v", err)
	}
	defer f.Close()
	return ps.parse(f, path, depth+1)
}

// setting applies one "key=value" line to the current section.
func (ps *jobParser) setting(line string, at pos) {
	key, value, hasValue := strings.Cut(line, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	cur := ps.cur
	job := ""
	if cur != nil {
		job = cur.job.Name
	}
	fail := func(key, value string, err error) {
		ps.errs = append(ps.errs, &KeyError{File: at.file, Line: at.line, Job: job, Key: key, Value: value, Err: err})
	}
	if cur == nil {
		fail(key, value, errors.New("setting outside a section; start one with [name] or [global]"))
		return
	}
	if key == "" {
		fail(key, value, errors.New("empty key"))
		return
	}
	expanded, unset, err := ps.expand(value)
	if err != nil {
		fail(key, value, err)
		return
	}
	switch key {
	case "prio":
		cur.prio[0], cur.lines[key] = expanded, at
	case "prioclass":
		cur.prio[1], cur.lines[key] = expanded, at
	}
	if why, ok := fioIgnored[key]; ok {
		cur.verify.set(key, expanded)
		if key == "verify" {
			cur.lines[key] = at
		}
		if key == "disable_lat" || key == "gtod_reduce" || key == "stats" {
			var on bool
			if setBool(&on, expanded) == nil && on != (key == "stats") {
				cur.noLat, cur.noLatPos = key, at
			} else if cur.noLat == key {
				cur.noLat = ""
			}
		}
		ps.ignore(key, expanded, why, at)
		return
	}
	if _, ok := fioRefused[key]; ok {
		if why, ok := neutralFioValue(key, expanded); ok {
			ps.ignore(key, expanded, why, at)
			return
		}
		why, _ := fioRefusal(key)
		fail(key, value, errors.New(why))
		return
	}
	if hasValue && expanded == "" && key != "filename" {
		msg := "empty value (a bare key, without =, means 1)"
		if len(unset) > 0 {
			msg = fmt.Sprintf("empty value: the environment variable %s is not set", strings.Join(unset, ", "))
		}
		fail(key, value, errors.New(msg))
		return
	}
	if err := ps.fioSetting(cur, key, expanded, at); err != errNotFio {
		if err != nil {
			fail(key, value, err)
		}
		return
	}
	if err := cur.job.Set(key, expanded); err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.File, ke.Line, ke.Value = at.file, at.line, value
			ps.errs = append(ps.errs, ke)
		} else {
			fail(key, value, err)
		}
		return
	}
	canon := findKey(key).name
	cur.lines[canon] = at
	if canon == "ioengine" {
		ps.ignore(key+"="+expanded, "", engineNote(expanded), at)
	}
}

// parserKeys are the fio keys fioSetting resolves, which Job.Set does not
// take.
var parserKeys = map[string]bool{"name": true, "filesize": true, "fill_device": true, "fill_fs": true, "read_iolog_file": true}

// errNotFio says a key is not one the parser resolves itself.
var errNotFio = errors.New("not a parser key")

// fioSetting handles the fio keys the parser resolves itself (name,
// filesize, fill_device, read_iolog; group_reporting, listed as ignored
// at the end unless the job detects steady state), returning errNotFio
// for others.
func (ps *jobParser) fioSetting(cur *section, key, value string, at pos) error {
	switch key {
	case "filename":
		if strings.Contains(strings.ReplaceAll(value, `\:`, ""), ":") {
			return errors.New("not supported: several files named (runbench's files are nrfiles equal parts of each instance's region)")
		}
		cur.job.Group.Filename = value
		cur.lines["filename"] = at
	case "name":
		if value == "" {
			return errors.New("empty name")
		}
		n := jobName(value)
		if cur == ps.global {
			cur.name, cur.namePos = n, at
		} else {
			cur.job.Name, cur.namePos = n, at
		}
	case "group_reporting":
		if err := setBool(&cur.job.GroupReporting, value); err != nil {
			return err
		}
		cur.lines["group_reporting"] = at
	case "filesize":
		if strings.ContainsAny(value, "-:") {
			return errors.New("not supported: a range of file sizes (runbench's files are equal parts of each instance's region)")
		}
		n, err := ParseSize(value)
		if err != nil {
			return err
		}
		cur.fileSize = n
		cur.lines["filesize"] = at
	case "fill_device", "fill_fs":
		if err := setBool(&cur.fillDev, value); err != nil {
			return err
		}
		cur.lines["fill_device"] = at
	case "read_iolog", "read_iolog_file":
		if ps.opts.Open == nil {
			return errors.New("this job file may not read iologs")
		}
		if strings.Contains(value, ":") {
			return errors.New("not supported: several iologs (runbench replays one)")
		}
		path := resolve(at.file, value)
		f, err := ps.opts.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		l, err := ReadIOLog(f, path)
		if err != nil {
			return err
		}
		cur.job.IOLog = l
		cur.lines["read_iolog"] = at
	default:
		return errNotFio
	}
	return nil
}

// finish resolves what the parser keeps for the end of a section:
// filesize (the region; a size given too becomes io_size, as in fio),
// fill_device without a size (size=100%), a time_based without runtime
// (fio ignores it).
func (ps *jobParser) finish(s *section) {
	_, sizeSet := s.lines["size"]
	if s.fileSize > 0 {
		if _, ioSet := s.lines["io_size"]; sizeSet && !ioSet && s.job.SizePercent == 0 {
			s.job.IOSize = s.job.Size
			s.lines["io_size"] = s.lines["size"]
		}
		s.job.Size, s.job.SizePercent = satMul(s.fileSize, uint64(max(s.job.NrFiles, 1))), 0 // filesize is each file's
		s.lines["size"] = s.lines["filesize"]
	} else if s.fillDev && !sizeSet {
		s.job.SizePercent = 100
		s.lines["size"] = s.lines["fill_device"]
	}
	_, named := s.lines["filename"]
	if _, set := s.lines["shared_region"]; named && !set && s.job.NumJobs > 1 {
		s.job.SharedRegion = true
		s.lines["shared_region"] = s.lines["filename"]
		ps.ignore("filename with numjobs", "", "fio's clones then share the one file, so runbench's instances share one region: shared_region=1", s.lines["filename"])
	}
	for _, k := range []string{"verify_backlog", "verify_backlog_batch"} {
		l, ok := s.lines[k]
		if why := s.verify.whyNoBacklog(&s.job); ok && why != "" {
			v, _ := s.job.Get(k)
			ps.ignore(k, v, why, l)
		}
	}
	if s.verify.whyNoBacklog(&s.job) != "" {
		s.job.VerifyBacklog, s.job.VerifyBacklogBatch = 0, 0
	}
	if l, ok := s.lines["group_reporting"]; ok && s.job.SteadyState.Duration == 0 {
		ps.ignore("group_reporting", formatBool(s.job.GroupReporting), whyReport, l)
		s.job.GroupReporting = false
	}
	if s.job.TimeBased && s.job.Runtime == 0 {
		ps.ignore("time_based", "1", "without a runtime, which fio ignores too", s.lines["time_based"])
	}
}

// ignore records an ignored key, once.
func (ps *jobParser) ignore(key, value, why string, at pos) {
	if ps.ignoredSeen[key] {
		return
	}
	ps.ignoredSeen[key] = true
	ps.ignored = append(ps.ignored, IgnoredKey{Key: key, Value: value, Why: why, File: at.file, Line: at.line})
}

// machineKeywords are fio's values that depend on the machine.
var machineKeywords = []string{"$pagesize", "$mb_memory", "$ncpus"}

// expand replaces each ${NAME} in v by the environment variable NAME (or
// nothing, as fio, when unset, listing it in unset). fio's
// machine-dependent keywords are an error: a job must mean the same on
// every machine.
func (ps *jobParser) expand(v string) (out string, unset []string, err error) {
	for _, k := range machineKeywords {
		if strings.Contains(v, k) {
			return "", nil, fmt.Errorf("not supported: fio's %s depends on the machine; write a number", k)
		}
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			return b.String(), unset, nil
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			return "", nil, errors.New("${ without a closing }")
		}
		b.WriteString(v[:i])
		name := v[i+2 : i+j]
		if val, ok := ps.lookupEnv(name); ok && name != "" {
			b.WriteString(val)
		} else {
			unset = append(unset, name)
		}
		v = v[i+j+1:]
	}
}

// lookupEnv looks up an environment variable through the options.
func (ps *jobParser) lookupEnv(name string) (string, bool) {
	if ps.opts.LookupEnv == nil {
		return "", false
	}
	return ps.opts.LookupEnv(name)
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

// checkGroups checks what the jobs running together need (group.go):
// each wait_for names a unique job before it (fio's wait_for_ok), and
// each group plans as one workload (PlanGroup). A problem is a *KeyError
// at the line that set the key (or the job's section).
func (ps *jobParser) checkGroups(jobs []Job, secs []*section, given map[*section]string) {
	names := make([]string, len(secs))
	for i, s := range secs {
		names[i] = given[s]
	}
	locate := func(err error) error {
		var ke *KeyError
		if errors.As(err, &ke) {
			for _, s := range secs {
				if s.job.Name == ke.Job {
					ke.File, ke.Line = s.pos.file, s.pos.line
					if l, ok := s.lines[ke.Key]; ok {
						ke.File, ke.Line = l.file, l.line
					}
				}
			}
		}
		return err
	}
	if err := CheckWaitFor(jobs, names); err != nil {
		ps.errs = append(ps.errs, locate(err))
		return
	}
	groups, _ := Groups(jobs)
	at := map[string]*section{}
	for _, s := range secs {
		at[s.job.Name] = s
	}
	for _, g := range groups {
		ps.groupIgnored(g, at)
		if err := groupPrio(g, at); err != nil {
			ps.errs = append(ps.errs, err)
			continue
		}
		p, err := PlanGroup(g)
		if err == nil {
			err = p.CheckLimits()
		}
		if err != nil {
			ps.errs = append(ps.errs, locate(err))
		}
	}
}

// groupIgnored names the group keys of g's jobs that change nothing
// there: startdelay of a job alone (its figures count from its start
// either way), wait_for of a job in an earlier group (finished before
// this group starts), flow of the only instance of its flow_id in the
// group (its share is the whole flow's, so it is never held back).
func (ps *jobParser) groupIgnored(g []Job, at map[string]*section) {
	inFlow := map[int]int{}
	for _, j := range g {
		if j.Group.Flow > 0 {
			inFlow[j.Group.FlowID] += j.NumJobs
		}
	}
	for _, j := range g {
		s := at[j.Name]
		if s == nil {
			continue
		}
		if l, ok := s.lines["startdelay"]; ok && len(g) == 1 && j.Group.StartDelay > 0 {
			ps.ignore("startdelay", j.Group.StartDelay.String(), "the job runs alone (no other job between its stonewalls), and its figures count from its start either way", l)
		}
		if l, ok := s.lines["wait_for"]; ok && !slices.ContainsFunc(g, func(k Job) bool { return k.Name == j.Group.WaitFor }) {
			ps.ignore("wait_for", j.Group.WaitFor, "the job waited for is in an earlier group, which has finished when this one starts", l)
		}
		if l, ok := s.lines["flow"]; ok && j.Group.Flow > 0 && inFlow[j.Group.FlowID] == 1 {
			ps.ignore("flow", strconv.Itoa(j.Group.Flow), "the only instance of its flow_id among the jobs running with it: its share of the flow is all of it, so it is never held back", l)
		}
	}
}

// groupPrio refuses jobs running together with different priorities
// (prio, prioclass): a device's I/O scheduler may serve them apart,
// and runbench's image passes no priority down, so it would serve them
// alike.
func groupPrio(g []Job, at map[string]*section) error {
	first := at[g[0].Name]
	for _, j := range g[1:] {
		s := at[j.Name]
		if s == nil || first == nil {
			continue
		}
		for i, key := range []string{"prio", "prioclass"} {
			if s.prio[i] != first.prio[i] {
				l, ok := s.lines[key]
				if !ok {
					l = s.pos
				}
				return &KeyError{File: l.file, Line: l.line, Job: j.Name, Key: key, Value: s.prio[i],
					Err: fmt.Errorf("not supported: differs from [%s]'s (%q) while they run together: a device's I/O scheduler may serve them apart, runbench's image passes no priority down (stonewall runs this job apart)", first.job.Name, first.prio[i])}
			}
		}
	}
	return nil
}
