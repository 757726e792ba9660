package workloads

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseJobFile reads a small fio-like job file: sections "[name]", each a
// job, with "key=value" lines (a bare "key" means key=1); "[global]"
// sections set the defaults of the jobs after them; lines starting with
// ";" or "#" are comments. Every job starts from DefaultJob. name labels
// errors ("jobs.fio:12: ...").
//
// Each job is validated as Job.Plan does. Every problem found is
// reported, joined into one error; each is a *KeyError naming the key and
// the line that set it (or the section's line, for a default at fault).
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
		sc      = bufio.NewScanner(r)
		lineNum int
	)
	fail := func(line int, job, key, value string, err error) {
		errs = append(errs, &KeyError{File: name, Line: line, Job: job, Key: key, Value: value, Err: err})
	}
	for sc.Scan() {
		lineNum++
		line := strings.TrimSpace(sc.Text())
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
		key, value, _ := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if cur == nil {
			fail(lineNum, "", key, value, errors.New("setting outside a section; start one with [name] or [global]"))
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
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(jobs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no job sections (a job is a [name] section)", name))
	}
	out := make([]Job, 0, len(jobs))
	for _, s := range jobs {
		if _, err := s.job.Plan(); err != nil {
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
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
