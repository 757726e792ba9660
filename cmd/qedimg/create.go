package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/qedharness/qedharness/impl"
)

// maxBackingName is the longest backing file name QEMU 7.2 reads (its
// qed_read_string needs room for a NUL in a PATH_MAX buffer). impl.Create
// accepts longer names that fit the header cluster, and impl's header
// validation accepts up to 4096 bytes; create refuses them all so that
// every image it makes opens on both sides.
const maxBackingName = 4095

// createSpec is what create is asked to make, gathered from the flags,
// -o and the positional arguments.
type createSpec struct {
	path       string
	size       setting[uint64]
	cs         setting[uint64]
	ts         setting[uint32]
	backing    setting[string]
	backingFmt setting[string]
}

// runCreate implements "qedimg create": it lays out an empty image with
// the geometry asked for (QEMU's defaults otherwise: 64 KiB clusters,
// 4-cluster tables) and an optional raw backing file, which must exist.
// It takes qemu-img create's forms beside its own: -f qed, -o with
// cluster_size, table_size, size, backing_file and backing_fmt (raw), -b
// FILE and -F raw, -q; each setting may come from more than one of them if
// they agree. SIZE may be left out with a backing file: the image is then
// the backing file's size, rounded up to a sector, as qemu-img does.
// Bad sizes and geometries are argument errors (exit 1, with a usage
// line) and leave no file behind, and so is a geometry QEMU 7.2 cannot
// open (impl.QEMUGeometryProblem) unless -force. An existing regular file
// is replaced, as qemu-img create does, once it is locked as qemu-img
// locks it (so a file another process is using is refused unchanged);
// anything else (a device, a directory, a FIFO) is refused untouched. A
// new file is removed again if the create fails.
func runCreate(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("create")
	cs := bytesFlag{v: impl.DefaultClusterSize}
	ts := countFlag{v: impl.DefaultTableSize}
	var opts listFlag
	fs.Var(&cs, "cluster-size", "cluster size in `BYTES`, a power of two from 4k to 64M (also -o cluster_size=BYTES)")
	fs.Var(&ts, "table-size", "L1 and L2 table size: `N` clusters, a power of two from 1 to 16 (also -o table_size=N)")
	backing := fs.String("backing", "", "raw backing `FILE`, stored as given (relative names are relative to the image's directory); also -b FILE")
	b := fs.String("b", "", "raw backing `FILE` (qemu-img's -b; the same as -backing)")
	bf := fs.String("F", "", "backing file `FORMAT`: raw, the only one (qemu-img's -F)")
	fs.Var(&opts, "o", "qemu-img's creation `OPTIONS`: key=value,... of "+optionKeys()+"; -o help lists them")
	imageFormatFlag(fs)
	quiet := quietFlag(fs)
	force := fs.Bool("force", false, "create a geometry QEMU 7.2 cannot open (table size 1; clusters of 16M or more, 8M with tables of 2 or more, 4M with 4 or more, 2M with 16)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	list, help, err := splitOptions(opts)
	if err != nil {
		return exitUsage, err
	}
	if help {
		return exitOK, writeOptionsHelp(stdout)
	}
	spec, err := gatherCreate(fs, pos, list, cs.v, ts.v, *backing, *b, *bf)
	if err != nil {
		return exitUsage, err
	}
	path := spec.path
	size, problem, code, err := checkCreate(spec, *force)
	if err != nil {
		return code, err
	}
	opt := impl.CreateOptions{ClusterSize: uint32(spec.cs.v), TableSize: spec.ts.v, BackingFile: spec.backing.v}
	if err := createImage(path, size, opt); err != nil {
		return exitFail, err
	}
	if *quiet {
		return exitOK, nil
	}
	fmt.Fprintf(stdout, "Formatting '%s', fmt=qed size=%d cluster_size=%d table_size=%d", path, size, spec.cs.v, spec.ts.v)
	if spec.backing.v != "" {
		fmt.Fprintf(stdout, " backing_file=%s backing_fmt=raw", spec.backing.v)
	}
	fmt.Fprintln(stdout)
	if problem != "" {
		fmt.Fprintf(stdout, "note: %s\n", problem)
	}
	return exitOK, nil
}

// gatherCreate collects create's settings from its flags (fs, with the
// values of -cluster-size, -table-size, -backing, -b and -F), the -o items
// and the positional arguments IMAGE [SIZE], checking the syntax of each.
// A setting no flag gave keeps its default (cs and ts hold the defaults).
func gatherCreate(fs *flag.FlagSet, pos []string, opts []createOption, cs uint64, ts uint32, backing, b, bf string) (createSpec, error) {
	switch {
	case len(pos) == 0:
		return createSpec{}, usagef("missing IMAGE SIZE")
	case len(pos) > 2:
		return createSpec{}, usagef("unexpected argument %q after SIZE", pos[2])
	case pos[0] == "":
		return createSpec{}, usagef("IMAGE is empty")
	}
	spec := createSpec{path: pos[0]}
	spec.cs.v, spec.ts.v = cs, ts
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if len(pos) == 2 {
		add(giveParsed(&spec.size, "SIZE", pos[1], parseSize))
	}
	if set["cluster-size"] {
		add(spec.cs.give("-cluster-size", cs))
	}
	if set["table-size"] {
		add(spec.ts.give("-table-size", ts))
	}
	for _, f := range []struct{ name, v string }{{"backing", backing}, {"b", b}} {
		if set[f.name] {
			add(giveParsed(&spec.backing, "-"+f.name, f.v, parseBackingName))
		}
	}
	if set["F"] {
		add(giveParsed(&spec.backingFmt, "-F", bf, parseBackingFormat))
	}
	for _, o := range opts {
		from := "-o " + o.key
		switch o.key {
		case "size":
			add(giveParsed(&spec.size, from, o.value, parseSize))
		case "cluster_size":
			add(giveParsed(&spec.cs, from, o.value, parseBytes))
		case "table_size":
			add(giveParsed(&spec.ts, from, o.value, parseCount))
		case "backing_file":
			add(giveParsed(&spec.backing, from, o.value, parseBackingName))
		case "backing_fmt":
			add(giveParsed(&spec.backingFmt, from, o.value, parseBackingFormat))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return createSpec{}, usagef("%v", err)
	}
	if spec.backingFmt.from != "" && spec.backing.from == "" {
		return createSpec{}, usagef("%s without a backing file (-b FILE)", spec.backingFmt.from)
	}
	if spec.size.from == "" && spec.backing.from == "" {
		return createSpec{}, usagef("missing SIZE")
	}
	return spec, nil
}

// giveParsed parses s with parse and gives the value to st from the flag
// named from; a parse error names the flag.
func giveParsed[T comparable](st *setting[T], from, s string, parse func(string) (T, error)) error {
	v, err := parse(s)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	return st.give(from, v)
}

// parseSize parses an image size: a byte count, not zero.
func parseSize(s string) (uint64, error) {
	n, err := parseBytes(s)
	if err == nil && n == 0 {
		err = errors.New("size is zero")
	}
	return n, err
}

// parseBackingName accepts a backing file name that is not empty and that
// QEMU can read back.
func parseBackingName(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("the backing file name is empty")
	case len(s) > maxBackingName:
		return "", fmt.Errorf("backing file name is %d bytes; QEMU reads at most %d", len(s), maxBackingName)
	}
	return s, nil
}

// parseBackingFormat accepts raw, the only backing format.
func parseBackingFormat(s string) (string, error) {
	return s, checkFormat(s, "raw", "qedimg's backing files are raw only")
}

// checkCreate checks what spec asks for, before anything is written: the
// size and geometry (a geometry QEMU 7.2 cannot open is refused unless
// force, and returned as problem to note), and the backing file, which
// must exist, be no directory and not be the image, and which gives the
// size when spec has none (then it must be a regular file). It returns the image size, or the exit status and the error.
func checkCreate(spec createSpec, force bool) (size uint64, problem string, code int, err error) {
	path, backing := spec.path, spec.backing.v
	if spec.size.from != "" {
		if problem, err = checkGeometry(spec.size.v, spec.cs.v, spec.ts.v, force); err != nil {
			return 0, "", exitUsage, err
		}
	}
	if backing != "" {
		bi, err1 := os.Stat(impl.ResolveBacking(path, backing))
		ii, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(bi, ii) {
			return 0, "", exitUsage, usagef("%s cannot be its own backing file", path)
		}
		if err1 != nil {
			return 0, "", exitFail, fmt.Errorf("create %s: backing file: %w", path, err1)
		}
		if bi.IsDir() {
			return 0, "", exitFail, fmt.Errorf("create %s: backing file %s: is a directory", path, backing)
		}
		if spec.size.from == "" && !bi.Mode().IsRegular() {
			return 0, "", exitUsage, usagef("backing file %s is not a regular file, so its size is unknown: give SIZE", backing)
		}
		if spec.size.from == "" {
			spec.size.v = (uint64(bi.Size()) + impl.SectorSize - 1) / impl.SectorSize * impl.SectorSize
			if spec.size.v == 0 {
				return 0, "", exitUsage, usagef("backing file %s is empty: give SIZE", backing)
			}
			if problem, err = checkGeometry(spec.size.v, spec.cs.v, spec.ts.v, force); err != nil {
				return 0, "", exitUsage, err
			}
		}
	}
	return spec.size.v, problem, exitOK, nil
}

// checkGeometry refuses (with a *usageError) an image size that is not
// a whole number of sectors or that the geometry cannot map, and a
// geometry QEMU 7.2 cannot open unless force; then it returns the
// problem to note.
func checkGeometry(size, cs uint64, ts uint32, force bool) (problem string, err error) {
	if size%impl.SectorSize != 0 {
		return "", usagef("size %d is not a multiple of %d bytes", size, impl.SectorSize)
	}
	if cs > math.MaxUint32 {
		return "", usagef("cluster size %d is too large (at most %d)", cs, impl.MaxClusterSize)
	}
	if err := impl.ValidateGeometry(uint32(cs), ts, size); err != nil {
		return "", usagef("%v", err)
	}
	problem = impl.QEMUGeometryProblem(uint32(cs), ts)
	if problem != "" && !force {
		return "", usagef("%s; -force creates it anyway", problem)
	}
	return problem, nil
}

// createImage writes a new image at path: it opens the file without
// truncating it (refusing anything but a regular file), takes qemu-img
// create's locks, and only then lays the image out (impl.Create truncates
// first). If it created the file and fails, it removes it again.
func createImage(path string, size uint64, opts impl.CreateOptions) (err error) {
	st, created, err := impl.OpenCreateFileStorage(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("create %s: %w", path, cerr)
		}
		if err != nil && created {
			os.Remove(path)
		}
	}()
	if err := st.Lock(impl.LocksCreate); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := impl.Create(st, size, opts); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
