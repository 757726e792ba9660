package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// newFlags returns a flag set for a command that reports errors to its
// caller instead of printing them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs and returns exactly len(names) positional
// arguments, named by names in errors. -h and -help yield a *helpRequest.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return nil, &helpRequest{flags: b.String()}
		}
		return nil, usagef("%v", err)
	}
	pos := fs.Args()
	if len(pos) < len(names) {
		return nil, usagef("missing %s", strings.Join(names[len(pos):], " "))
	}
	if len(pos) > len(names) {
		return nil, usagef("unexpected argument %q after %s", pos[len(names)], names[len(names)-1])
	}
	for i, p := range pos {
		if p == "" {
			return nil, usagef("%s is empty", names[i])
		}
	}
	return pos, nil
}

// parseBytes parses a byte count: decimal digits with an optional suffix
// k, M, G or T in either case, each a power of 1024. It rejects signs,
// spaces, fractions, other suffixes and values above the largest int64,
// so every result is also a valid file offset.
func parseBytes(s string) (uint64, error) {
	num, mult := s, uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			num = s[:len(s)-1]
		}
	}
	if strings.HasPrefix(num, "-") && num != "-" && isDigits(num[1:]) {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if !isDigits(num) {
		return 0, fmt.Errorf("%q is not a byte count (digits with an optional k, M, G or T suffix)", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	hi, lo := bits.Mul64(n, mult)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large (the limit is %d bytes)", s, int64(math.MaxInt64))
	}
	return lo, nil
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsePositive parses a byte count that must not be zero; what names it
// in errors.
func parsePositive(what, s string) (uint64, error) {
	n, err := parseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s is zero", what)
	}
	return n, nil
}

// parsePattern parses a pattern byte: decimal, or hexadecimal with a 0x
// prefix, from 0 to 255.
func parsePattern(s string) (byte, error) {
	digits, base := s, 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		digits, base = s[2:], 16
	}
	ok := digits != ""
	for i := 0; ok && i < len(digits); i++ {
		c := digits[i]
		ok = c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
	}
	if !ok {
		return 0, fmt.Errorf("%q is not a byte (decimal, or hexadecimal with 0x, 0 to 255)", s)
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil || v > 255 {
		return 0, fmt.Errorf("%q is out of range (0 to 255)", s)
	}
	return byte(v), nil
}

// patternFlag is the -P flag of read and write.
type patternFlag struct {
	v   byte
	set bool
}

func (p *patternFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return fmt.Sprintf("0x%02x", p.v)
}

func (p *patternFlag) Set(s string) error {
	v, err := parsePattern(s)
	if err != nil {
		return err
	}
	p.v, p.set = v, true
	return nil
}

// bytesFlag is a flag holding a byte count with optional suffix.
type bytesFlag struct{ v uint64 }

func (b *bytesFlag) String() string {
	if b == nil {
		return "0"
	}
	return strconv.FormatUint(b.v, 10)
}

func (b *bytesFlag) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	b.v = v
	return nil
}

// countFlag is a flag holding a small decimal count.
type countFlag struct{ v uint32 }

func (c *countFlag) String() string {
	if c == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(c.v), 10)
}

func (c *countFlag) Set(s string) error {
	if !isDigits(s) {
		return fmt.Errorf("%q is not a decimal count", s)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%q is too large", s)
	}
	c.v = uint32(v)
	return nil
}

// outputFlag is the -output flag of info and check: human or json.
type outputFlag struct{ json bool }

func (o *outputFlag) String() string {
	if o != nil && o.json {
		return "json"
	}
	return "human"
}

func (o *outputFlag) Set(s string) error {
	switch s {
	case "human":
		o.json = false
	case "json":
		o.json = true
	default:
		return fmt.Errorf("%q is not an output format (human or json)", s)
	}
	return nil
}
