package main

import (
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

// runCreate implements "qedimg create": it lays out an empty image with
// the geometry asked for (QEMU's defaults otherwise: 64 KiB clusters,
// 4-cluster tables) and an optional raw backing file, which must exist.
// Bad sizes and geometries are argument errors (exit 2) and leave no file
// behind, and so is a geometry QEMU 7.2 cannot open
// (impl.QEMUGeometryProblem) unless -force. An existing regular file is
// replaced, as qemu-img create does, once it is locked as qemu-img locks
// it (so a file another process is using is refused unchanged); anything
// else (a device, a directory, a FIFO) is refused untouched. A new file
// is removed again if the create fails.
func runCreate(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("create")
	cs := bytesFlag{v: impl.DefaultClusterSize}
	ts := countFlag{v: impl.DefaultTableSize}
	fs.Var(&cs, "cluster-size", "cluster size in `BYTES`, a power of two from 4k to 64M")
	fs.Var(&ts, "table-size", "L1 and L2 table size: `N` clusters, a power of two from 1 to 16")
	backing := fs.String("backing", "", "raw backing `FILE`, stored as given (relative names are relative to the image's directory)")
	force := fs.Bool("force", false, "create a geometry QEMU 7.2 cannot open (table size 1; clusters of 16M or more, 8M with tables of 2 or more, 4M with 4 or more, 2M with 16)")
	pos, err := parseArgs(fs, args, "IMAGE", "SIZE")
	if err != nil {
		return exitUsage, err
	}
	path := pos[0]
	size, err := parsePositive("size", pos[1])
	if err != nil {
		return exitUsage, usagef("%v", err)
	}
	if size%impl.SectorSize != 0 {
		return exitUsage, usagef("size %d is not a multiple of %d bytes", size, impl.SectorSize)
	}
	if cs.v > math.MaxUint32 {
		return exitUsage, usagef("cluster size %d is too large (at most %d)", cs.v, impl.MaxClusterSize)
	}
	if err := impl.ValidateGeometry(uint32(cs.v), ts.v, size); err != nil {
		return exitUsage, usagef("%v", err)
	}
	problem := impl.QEMUGeometryProblem(uint32(cs.v), ts.v)
	if problem != "" && !*force {
		return exitUsage, usagef("%s; -force creates it anyway", problem)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["backing"] && *backing == "" {
		return exitUsage, usagef("-backing is empty")
	}
	if len(*backing) > maxBackingName {
		return exitUsage, usagef("backing file name is %d bytes; QEMU reads at most %d", len(*backing), maxBackingName)
	}
	if *backing != "" {
		bi, err1 := os.Stat(impl.ResolveBacking(path, *backing))
		ii, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(bi, ii) {
			return exitUsage, usagef("%s cannot be its own backing file", path)
		}
		if err1 != nil {
			return exitFail, fmt.Errorf("create %s: backing file: %w", path, err1)
		}
	}
	opts := impl.CreateOptions{ClusterSize: uint32(cs.v), TableSize: ts.v, BackingFile: *backing}
	if err := createImage(path, size, opts); err != nil {
		return exitFail, err
	}
	fmt.Fprintf(stdout, "Formatting '%s', fmt=qed size=%d cluster_size=%d table_size=%d", path, size, cs.v, ts.v)
	if *backing != "" {
		fmt.Fprintf(stdout, " backing_file=%s backing_fmt=raw", *backing)
	}
	fmt.Fprintln(stdout)
	if problem != "" {
		fmt.Fprintf(stdout, "note: %s\n", problem)
	}
	return exitOK, nil
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
