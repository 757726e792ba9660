package main

import (
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

// parseArgs parses args with fs (parseFlags) and returns exactly
// len(names) positional arguments, named by names in errors.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	return pos, checkPositional(pos, names...)
}

// checkPositional refuses pos unless it holds exactly len(names)
// arguments, none of them empty; names name them in errors.
func checkPositional(pos []string, names ...string) error {
	if len(pos) < len(names) {
		return usagef("missing %s", strings.Join(names[len(pos):], " "))
	}
	if len(pos) > len(names) {
		return usagef("unexpected argument %q after %s", pos[len(names)], names[len(names)-1])
	}
	for i, p := range pos {
		if p == "" {
			return usagef("%s is empty", names[i])
		}
	}
	return nil
}

// boolFlag is a flag.Value that needs no value word (the flag package's
// own test, which it does not export).
type boolFlag interface{ IsBoolFlag() bool }

// closedFlag is a one-letter flag with a closed set of values (-f, -O,
// -r), which parseFlags therefore also takes attached ("-fqed"): an
// attached word is taken only when it is one of them, so a mistyped long
// flag ("-forc") is reported as such, not read as "-f orc". A
// boolean-like closedFlag (check's -r, which qemu-img spells "-r leaks"
// or "-r all" and older qedimg spelled bare "-r") also takes the next
// word when it is one of its values.
type closedFlag interface{ accepts(word string) bool }

// parseFlags parses args as qemu-img does (getopt_long with permutation):
// flags and positional arguments in any order, so flags may follow the
// image name, and "--" ends the flags. A flag is -name or --name, its
// value after "=" in the same word or else the next word, whatever that
// word is; a boolean flag takes a value only after "=". A one-letter
// flag with a closed set of values may have one attached ("-fqed",
// "-Oraw", "-rleaks"; closedFlag). "-" alone, and a word of "-" and a digit (a negative number, which the
// argument's parser then refuses by name), are positional. -h, -help and
// --help yield a *helpRequest; any other bad flag a *usageError naming
// it. It returns the positional arguments in order.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' || arg[1] >= '0' && arg[1] <= '9' {
			pos = append(pos, arg)
			continue
		}
		body := strings.TrimPrefix(arg[1:], "-")
		if body == "" || body[0] == '-' || body[0] == '=' {
			return nil, usagef("bad flag syntax: %s", arg)
		}
		name, value, inline := strings.Cut(body, "=")
		if name == "h" || name == "help" {
			return nil, helpFor(fs)
		}
		f := fs.Lookup(name)
		if f == nil && len(body) > 1 {
			// An attached value: "-fqed" is "-f qed".
			if g := fs.Lookup(body[:1]); g != nil && accepts(g, body[1:]) {
				f, name, value, inline = g, body[:1], body[1:], true
			}
		}
		if f == nil {
			return nil, usagef("flag provided but not defined: -%s", name)
		}
		switch {
		case inline:
		case isBool(f):
			value = "true"
			if i+1 < len(args) && accepts(f, args[i+1]) {
				i++
				value = args[i]
			}
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, usagef("flag needs an argument: -%s", name)
		}
		if err := fs.Set(name, value); err != nil {
			return nil, usagef("invalid value %q for flag -%s: %v", value, name, err)
		}
	}
	return pos, nil
}

// accepts reports whether f is a closedFlag and word one of its values.
func accepts(f *flag.Flag, word string) bool {
	c, ok := f.Value.(closedFlag)
	return ok && c.accepts(word)
}

// isBool reports whether f needs no value word.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(boolFlag)
	return ok && b.IsBoolFlag()
}

// helpFor returns the *helpRequest describing fs's flags.
func helpFor(fs *flag.FlagSet) error {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return &helpRequest{flags: b.String()}
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
	v, err := parseCount(s)
	c.v = v
	return err
}

// parseCount parses a small decimal count, without sign or suffix.
func parseCount(s string) (uint32, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%q is not a decimal count", s)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return uint32(v), nil
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

// formatFlag is a format flag as qemu-img spells it (-f for the image,
// -O for convert's output, -F for a backing file): it accepts only the
// one format qedimg handles there, and its error says why.
type formatFlag struct {
	only string // the format accepted
	why  string // why no other is, for errors
	v    string
}

func (f *formatFlag) String() string {
	if f == nil {
		return ""
	}
	return f.v
}

func (f *formatFlag) Set(s string) error {
	if err := checkFormat(s, f.only, f.why); err != nil {
		return err
	}
	f.v = s
	return nil
}

func (f *formatFlag) accepts(s string) bool { return s == f.only }

// checkFormat refuses a format name other than only; why says why.
func checkFormat(s, only, why string) error {
	if s != only {
		return fmt.Errorf("format %q is not supported: %s", s, why)
	}
	return nil
}

// imageFormatFlag registers -f, the image's format, which must be qed:
// qemu-img probes an image without -f, and qedimg reads QED only.
func imageFormatFlag(fs *flag.FlagSet) {
	fs.Var(&formatFlag{only: "qed", why: "qedimg reads and writes qed images only"}, "f", "image `FORMAT`: qed, the only one (qemu-img's -f)")
}

// quietFlag registers -q: nothing on stdout on success, as qemu-img's -q.
func quietFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("q", false, "quiet: print nothing but errors (qemu-img's -q)")
}

// listFlag is a repeatable flag whose values are kept in order (create's
// -o, which qemu-img joins with commas when given more than once).
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// Repair modes of check -r, as qemu-img names them.
const (
	repairNone  = ""
	repairLeaks = "leaks"
	repairAll   = "all"
)

// repairFlag is check's -r: "-r leaks" or "-r all", as qemu-img takes it,
// or bare -r (qedimg's older form), which is "all". It takes the next
// word as its mode only when that word is a mode, so "-r IMAGE" still
// repairs everything; "-r=MODE" also takes true (all) and false (none).
type repairFlag struct {
	mode string
	bare bool // the mode came from a bare -r (or -r=true)
}

func (r *repairFlag) String() string {
	if r == nil {
		return ""
	}
	return r.mode
}

func (r *repairFlag) Set(s string) error {
	switch s {
	case repairLeaks, repairAll:
		r.mode = s
	case "true":
		r.mode, r.bare = repairAll, true
	case "false":
		r.mode = repairNone
	default:
		return fmt.Errorf("%q is not a repair mode (leaks or all)", s)
	}
	return nil
}

// IsBoolFlag lets -r stand alone.
func (*repairFlag) IsBoolFlag() bool { return true }

func (*repairFlag) accepts(w string) bool { return w == repairLeaks || w == repairAll }
