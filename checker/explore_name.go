package checker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// Name returns the configuration's short name, as every verdict prints
// it and ParseExploreName reads it back:
//
//	REQUESTS-L1xCLUSTERSxSECTORS[-table|-prealloc][-backing][-noreopen][-snapshot][-leaks][-nosym]
//
// REQUESTS is "n3" for three requests that may each read or write, or a
// request mix in submission order, run-length coded: "w3r1" is three
// writers then a reader (Ops "wwwr"), "w2f1w1" two writers, a flush and
// a writer, "w1z1r1" a writer, a write-zeroes and a reader. The standard configuration is
// "n3-2x2x2". The mode is not part of the name.
func (c ExploreConfig) Name() string {
	var b strings.Builder
	if c.Ops == "" {
		fmt.Fprintf(&b, "n%d", c.Requests)
	} else {
		for i := 0; i < len(c.Ops); {
			j := i
			for j < len(c.Ops) && c.Ops[j] == c.Ops[i] {
				j++
			}
			fmt.Fprintf(&b, "%c%d", c.Ops[i], j-i)
			i = j
		}
	}
	fmt.Fprintf(&b, "-%dx%dx%d", c.L1Entries, c.Clusters, c.Sectors)
	for _, f := range []struct {
		on   bool
		name string
	}{{c.Start == model.StartTable, "table"}, {c.Start == model.StartPrealloc, "prealloc"}, {c.Backing, "backing"}, {!c.Reopen, "noreopen"}, {c.UnorderedMeta, "snapshot"}, {c.LeaksViolation, "leaks"}, {c.NoSymmetry, "nosym"}} {
		if f.on {
			b.WriteString("-" + f.name)
		}
	}
	return b.String()
}

// ParseExploreName sets in cfg every field a name (Name's form) gives and
// returns it; the other fields (mode, bounds) stay as cfg has them. The
// error says which part of the name is wrong.
func ParseExploreName(name string, cfg ExploreConfig) (ExploreConfig, error) {
	parts := strings.Split(name, "-")
	if len(parts) < 2 {
		return cfg, fmt.Errorf("config %q: want REQUESTS-L1xCLUSTERSxSECTORS[-table|-prealloc][-backing][-noreopen][-snapshot][-leaks][-nosym], as n3-2x2x2", name)
	}
	reqs, ops, err := parseRequests(parts[0])
	if err != nil {
		return cfg, fmt.Errorf("config %q: %w", name, err)
	}
	dims := strings.Split(parts[1], "x")
	if len(dims) != 3 {
		return cfg, fmt.Errorf("config %q: geometry %q: want L1xCLUSTERSxSECTORS, as 2x2x2", name, parts[1])
	}
	var geo [3]int
	for i, d := range dims {
		if geo[i], err = strconv.Atoi(d); err != nil {
			return cfg, fmt.Errorf("config %q: geometry %q: %q is not a number", name, parts[1], d)
		}
	}
	cfg.Requests, cfg.Ops = reqs, ops
	cfg.L1Entries, cfg.Clusters, cfg.Sectors = geo[0], geo[1], geo[2]
	cfg.Backing, cfg.Reopen, cfg.UnorderedMeta, cfg.LeaksViolation, cfg.NoSymmetry = false, true, false, false, false
	cfg.Start = model.StartEmpty
	for _, f := range parts[2:] {
		switch f {
		case "table":
			cfg.Start = model.StartTable
		case "prealloc":
			cfg.Start = model.StartPrealloc
		case "backing":
			cfg.Backing = true
		case "noreopen":
			cfg.Reopen = false
		case "snapshot":
			cfg.UnorderedMeta = true
		case "leaks":
			cfg.LeaksViolation = true
		case "nosym":
			cfg.NoSymmetry = true
		default:
			return cfg, fmt.Errorf("config %q: unknown part %q (want table, prealloc, backing, noreopen, snapshot, leaks or nosym)", name, f)
		}
	}
	return cfg, nil
}

// parseRequests reads "n3" (3 requests, each reading or writing) or a
// run-length coded mix ("w3r1").
func parseRequests(s string) (int, string, error) {
	if rest, ok := strings.CutPrefix(s, "n"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			return 0, "", fmt.Errorf("requests %q: want nN or a mix such as w3r1", s)
		}
		return n, "", nil
	}
	var ops strings.Builder
	for len(s) > 0 {
		op := s[0]
		if op != 'w' && op != 'r' && op != 'z' && op != 'f' {
			return 0, "", fmt.Errorf("requests %q: want nN or a mix of wN, rN, zN and fN (writers, readers, write-zeroes, flushes), as w3r1 or w2f1w1", s)
		}
		j := 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(s[1:j])
		if err != nil || n < 1 {
			return 0, "", fmt.Errorf("requests %q: %c needs a count, as %c2", s, op, op)
		}
		ops.WriteString(strings.Repeat(string(op), n))
		s = s[j:]
	}
	return ops.Len(), ops.String(), nil
}
