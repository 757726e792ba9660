package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
)

// qedimgResult is what one in-process run of the tool produced.
type qedimgResult struct {
	code           int
	stdout, stderr string
}

// qedimg runs the tool in process with args.
func qedimg(args ...string) qedimgResult {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return qedimgResult{code, out.String(), errb.String()}
}

// mustQedimg runs the tool and fails the test unless it exits 0.
func mustQedimg(t *testing.T, args ...string) qedimgResult {
	t.Helper()
	r := qedimg(args...)
	if r.code != 0 {
		t.Fatalf("qedimg %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// checkStderrForm enforces the error contract: no panic or stack trace;
// stderr empty or one line "qedimg: <cmd>: ..." (just "qedimg: ..." for
// errors before a command is known), followed by one usage line exactly
// for bad arguments (usage set; they exit 1, as other failures do).
func checkStderrForm(t *testing.T, args []string, r qedimgResult, usage bool) {
	t.Helper()
	for _, bad := range []string{"panic", "goroutine ", "internal error", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Fatalf("stderr contains %q:\n%s", bad, r.stderr)
		}
	}
	if r.stderr == "" {
		if usage {
			t.Fatalf("want an error and a usage line on stderr, got nothing")
		}
		return
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	prefix := "qedimg: "
	if len(args) > 0 && isCommand(args[0]) {
		prefix = "qedimg: " + args[0] + ": "
	}
	if !strings.HasPrefix(lines[0], prefix) {
		t.Errorf("stderr first line %q does not start with %q", lines[0], prefix)
	}
	switch {
	case usage && (len(lines) < 2 || !strings.HasPrefix(lines[1], "usage: qedimg")):
		t.Errorf("want a usage line after the error, got stderr:\n%s", r.stderr)
	case usage && len(args) > 0 && isCommand(args[0]) && len(lines) != 2:
		t.Errorf("want exactly an error line and a usage line, got stderr:\n%s", r.stderr)
	case !usage && len(lines) != 1:
		t.Errorf("want one error line, got stderr:\n%s", r.stderr)
	}
}

func isCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// patch overwrites the file at path with b at off.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// Fixture geometry: 4 KiB clusters, 2-cluster tables (1024 entries, so
// one L2 table maps 4 MiB), 8 MiB guest.
const (
	fxCS   = 4096
	fxSize = 8 << 20
)

// fixture builds an image in dir and returns its path.
type fixture func(t *testing.T, dir string) string

// fxImage is a fresh image with 0xab at [4000, 13000) and 0xcd across the
// L2 boundary at [4M-100, 4M+100).
func fxImage(t *testing.T, dir string) string {
	p := filepath.Join(dir, "img.qed")
	mustQedimg(t, "create", "-cluster-size", "4k", "-table-size", "2", p, "8M")
	mustQedimg(t, "write", "-P", "0xab", p, "4000", "9000")
	mustQedimg(t, "write", "-P", "0xcd", p, fmt.Sprint(4<<20-100), "200")
	return p
}

// fxTableSize1 is an image of table_size 1 (valid, but QEMU 7.2 cannot
// open it), made with -force.
func fxTableSize1(t *testing.T, dir string) string {
	p := filepath.Join(dir, "img.qed")
	mustQedimg(t, "create", "-force", "-cluster-size", "4k", "-table-size", "1", p, "8M")
	mustQedimg(t, "write", "-P", "0xab", p, "4000", "9000")
	return p
}

// fxBacked is an image over a 1 MiB raw backing file of 0x5a bytes, with
// 0x11 at [1M-10, 1M+10).
func fxBacked(t *testing.T, dir string) string {
	base := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(base, bytes.Repeat([]byte{0x5a}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "img.qed")
	mustQedimg(t, "create", "-cluster-size", "4k", "-table-size", "2", "-backing", "base.raw", p, "8M")
	mustQedimg(t, "write", "-P", "0x11", p, fmt.Sprint(1<<20-10), "20")
	return p
}

// withPatch returns fx with b written at off afterwards.
func withPatch(fx fixture, off int64, b []byte) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		patch(t, p, off, b)
		return p
	}
}

// withTruncate returns fx with the file cut (or grown) to size.
func withTruncate(fx fixture, size int64) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// withLeak returns fx with n zero clusters appended that nothing uses.
func withLeak(fx fixture, n int64) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()+n*fxCS); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// withRemoved returns fx with the file name in dir removed.
func withRemoved(fx fixture, name string) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func fxNone(t *testing.T, dir string) string { return filepath.Join(dir, "img.qed") }

// fxDir is a directory where an image is expected.
func fxDir(t *testing.T, dir string) string {
	p := filepath.Join(dir, "img.qed")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fxCutL2 is an image whose second L2 table (guest 4M-8M) is cut short
// by the end of the file: it opens, and reading guest data fails only
// past 4 MiB, so convert fails after writing its first pieces (issue 12's
// reproduction, made by qemu-img and qemu-io there).
func fxCutL2(t *testing.T, dir string) string {
	p := filepath.Join(dir, "img.qed")
	mustQedimg(t, "create", "-cluster-size", "4k", "-table-size", "2", p, "8M")
	mustQedimg(t, "write", "-P", "0x11", p, "0", "4k")
	mustQedimg(t, "write", "-P", "0x22", p, "6M", "4k")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()-4096); err != nil {
		t.Fatal(err)
	}
	return p
}

// fxBackedAbs is fxBacked with the backing file named by its absolute path.
func fxBackedAbs(t *testing.T, dir string) string {
	fxBacked(t, dir)
	p := filepath.Join(dir, "img.qed")
	mustQedimg(t, "create", "-cluster-size", "4k", "-table-size", "2", "-backing", filepath.Join(dir, "base.raw"), p, "8M")
	return p
}

// withFile returns fx with a file name holding content beside the image.
func withFile(fx fixture, name, content string) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// withLink returns fx with a hard link to dir's old named new.
func withLink(fx fixture, old, new string) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		if err := os.Link(filepath.Join(dir, old), filepath.Join(dir, new)); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
		return p
	}
}

// withSymlink returns fx with a symbolic link new pointing at old (a
// relative name, which need not exist).
func withSymlink(fx fixture, old, new string) fixture {
	return func(t *testing.T, dir string) string {
		p := fx(t, dir)
		if err := os.Symlink(old, filepath.Join(dir, new)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
		return p
	}
}

func fxEmptyFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "img.qed")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Header field offsets, for corrupting fixtures.
const (
	hdrClusterSize = 4
	hdrTableSize   = 8
	hdrFeatures    = 16
	hdrL1Offset    = 40
	hdrImageSize   = 48
)

var (
	fxTruncated     = withTruncate(fxImage, 30)
	fxWrongMagic    = withPatch(fxImage, 0, []byte("QEF\x00"))
	fxBadCluster    = withPatch(fxImage, hdrClusterSize, le32(5000))
	fxBadTable      = withPatch(fxImage, hdrTableSize, le32(3))
	fxL1PastEOF     = withPatch(fxImage, hdrL1Offset, le64(1<<30))
	fxL1Cut         = withTruncate(fxImage, fxCS+fxCS) // half the L1 table
	fxUnknownFeat   = withPatch(fxImage, hdrFeatures, le64(0x100))
	fxNeedCheck     = withPatch(fxImage, hdrFeatures, le64(impl.FeatureNeedCheck))
	fxL1EntryPast   = withPatch(fxImage, fxCS, le64(1<<30))    // L1 entry 0 past end of file
	fxL1EntryOdd    = withPatch(fxImage, fxCS, le64(3*fxCS+8)) // L1 entry 0 misaligned
	fxLeaky         = withLeak(fxImage, 3)
	fxMissingBack   = withRemoved(fxBacked, "base.raw")
	fxCorruptLeaky  = withLeak(fxL1EntryPast, 2)
	fxNotMultiple   = withPatch(fxImage, hdrImageSize, le64(fxSize+100))
	fxNeedCheckLeak = withPatch(fxLeaky, hdrFeatures, le64(impl.FeatureNeedCheck))
)

// qedimgCase is one run of the tool on a fresh fixture. In args, "IMG"
// stands for the fixture's path and "DIR/" for the test's directory.
type qedimgCase struct {
	name string
	fx   fixture // nil: no image
	args []string
	code int
	out  []string // substrings stdout must hold
	// absent are substrings stdout must not hold (a key qemu-img leaves
	// out, the report -q suppresses).
	absent []string
	err    []string // substrings stderr must hold
	usage  bool     // stderr ends with a usage line
	// same requires the image file to be byte-identical afterwards.
	same bool
	// then, if set, runs more checks on the image afterwards.
	then func(t *testing.T, img string)
}

func a(s ...string) []string { return s }

var qedimgCases = []qedimgCase{
	// Help and top-level usage.
	{name: "help -h", args: a("-h"), out: a("usage: qedimg", "qedimg create", "qedimg convert")},
	{name: "help -help", args: a("-help"), out: a("usage: qedimg")},
	{name: "help word", args: a("help"), out: a("usage: qedimg")},
	{name: "create -h", args: a("create", "-h"), out: a("usage: qedimg create [-f qed] [-o OPTIONS]", "-table-size N", "(default 65536)", "-o OPTIONS")},
	{name: "check -help", args: a("check", "-help"), out: a("usage: qedimg check [-f qed] [-r leaks|all | -U]", "-force-share", "-r MODE")},
	{name: "no command", args: a(), code: 1, err: a("missing command"), usage: true},
	{name: "unknown command", args: a("frobnicate", "x"), code: 1, err: a(`unknown command "frobnicate"`), usage: true},
	{name: "--version", args: a("--version"), out: a("qedimg version ", "\nmodule ", "\ngo go1.")},
	{name: "-V", args: a("-V"), out: a("qedimg version ")},

	// create.
	{name: "create default", fx: fxNone, args: a("create", "IMG", "1G"), out: a("fmt=qed size=1073741824 cluster_size=65536 table_size=4"),
		then: wantInfo(func(r infoJSON) bool {
			return r.ClusterSize == 64<<10 && r.FormatSpecific.Data.TableSize == 4 && r.VirtualSize == 1<<30
		})},
	{name: "create lower k", fx: fxNone, args: a("create", "-cluster-size", "4k", "-table-size", "16", "IMG", "512k"),
		then: wantInfo(func(r infoJSON) bool {
			return r.ClusterSize == 4096 && r.FormatSpecific.Data.TableSize == 16 && r.VirtualSize == 512<<10
		})},
	{name: "create upper K m g T", fx: fxNone, args: a("create", "-cluster-size", "1m", "IMG", "1T"),
		then: wantInfo(func(r infoJSON) bool { return r.ClusterSize == 1<<20 && r.VirtualSize == 1<<40 })},
	{name: "create bytes", fx: fxNone, args: a("create", "-cluster-size", "65536", "IMG", "1048576"),
		then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1<<20 })},
	{name: "create g", fx: fxNone, args: a("create", "IMG", "2g"), then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 2<<30 })},
	{name: "create table size 1 forced", fx: fxNone, args: a("create", "-force", "-table-size", "1", "IMG", "1M"),
		out:  a("table_size=1", "note: QEMU 7.2 cannot open images with table_size 1 (\"QED table offset is invalid\""),
		then: wantInfo(func(r infoJSON) bool { return r.FormatSpecific.Data.TableSize == 1 })},
	{name: "create table size 1 refused", fx: fxNone, args: a("create", "-table-size", "1", "IMG", "1M"), code: 1,
		err: a("QEMU 7.2 cannot open images with table_size 1", "-force"), usage: true, then: wantNoFile("img.qed")},
	{name: "create 16M clusters refused", fx: fxNone, args: a("create", "-cluster-size", "16M", "IMG", "1M"), code: 1,
		err: a("cluster_size 16777216 and table_size 4", "QED image size is invalid"), usage: true, then: wantNoFile("img.qed")},
	{name: "create 64M clusters 16 tables refused", fx: fxNone, args: a("create", "-cluster-size", "64M", "-table-size", "16", "IMG", "1M"), code: 1,
		err: a("QED image size is invalid"), usage: true, then: wantNoFile("img.qed")},
	{name: "create 2M clusters 16 tables refused", fx: fxNone, args: a("create", "-cluster-size", "2M", "-table-size", "16", "IMG", "1M"), code: 1,
		err: a("QED image size is invalid"), usage: true, then: wantNoFile("img.qed")},
	{name: "create refused geometry keeps file", fx: fxImage, args: a("create", "-cluster-size", "8M", "-table-size", "2", "IMG", "1M"), same: true, code: 1,
		err: a("QED image size is invalid"), usage: true},
	{name: "create largest QEMU geometry", fx: fxNone, args: a("create", "-cluster-size", "2M", "-table-size", "8", "IMG", "1M"),
		then: wantInfo(func(r infoJSON) bool { return r.ClusterSize == 2<<20 && r.FormatSpecific.Data.TableSize == 8 })},
	{name: "create 16M clusters forced", fx: fxNone, args: a("create", "-force", "-cluster-size", "16M", "-table-size", "2", "IMG", "1M"),
		out:  a("note: QEMU 7.2 cannot open images with cluster_size 16777216 and table_size 2"),
		then: wantInfo(func(r infoJSON) bool { return r.ClusterSize == 16<<20 })},
	{name: "create over directory", fx: func(t *testing.T, dir string) string { return dir }, args: a("create", "IMG", "1M"), code: 1, err: a("is a directory")},
	{name: "create backing", fx: fxBacked, args: a("info", "IMG"), out: a("backing file: base.raw", "features: backing_file, backing_format_no_probe", "backing file format: raw")},
	{name: "create replaces", fx: fxImage, args: a("create", "IMG", "1M"), then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1<<20 && r.ClusterSize == 64<<10 })},
	{name: "create size garbage", fx: fxNone, args: a("create", "IMG", "lots"), code: 1, err: a(`"lots" is not a byte count`), usage: true},
	{name: "create size zero", fx: fxNone, args: a("create", "IMG", "0"), code: 1, err: a("size is zero"), usage: true},
	{name: "create size zero M", fx: fxNone, args: a("create", "IMG", "0M"), code: 1, err: a("size is zero"), usage: true},
	{name: "create size negative", fx: fxNone, args: a("create", "IMG", "-1M"), code: 1, err: a("negative"), usage: true},
	{name: "create size fraction", fx: fxNone, args: a("create", "IMG", "1.5M"), code: 1, err: a("not a byte count"), usage: true},
	{name: "create size MB", fx: fxNone, args: a("create", "IMG", "1MB"), code: 1, err: a("not a byte count"), usage: true},
	{name: "create size plus", fx: fxNone, args: a("create", "IMG", "+1M"), code: 1, err: a("not a byte count"), usage: true},
	{name: "create size space", fx: fxNone, args: a("create", "IMG", " 1M"), code: 1, err: a("not a byte count"), usage: true},
	{name: "create size overflow digits", fx: fxNone, args: a("create", "IMG", "99999999999999999999999"), code: 1, err: a("too large"), usage: true},
	{name: "create size overflow suffix", fx: fxNone, args: a("create", "IMG", "16777216T"), code: 1, err: a("too large"), usage: true},
	{name: "create size not sector multiple", fx: fxNone, args: a("create", "IMG", "1000"), code: 1, err: a("not a multiple of 512"), usage: true},
	{name: "create size over geometry max", fx: fxNone, args: a("create", "-cluster-size", "4k", "-table-size", "1", "IMG", "1T"), code: 1, err: a("exceeds the maximum"), usage: true},
	{name: "create cluster not power of two", fx: fxNone, args: a("create", "-cluster-size", "5000", "IMG", "1M"), code: 1, err: a("cluster size 5000 is not a power of two"), usage: true},
	{name: "create cluster too small", fx: fxNone, args: a("create", "-cluster-size", "2k", "IMG", "1M"), code: 1, err: a("not a power of two in [4096"), usage: true},
	{name: "create cluster too large", fx: fxNone, args: a("create", "-cluster-size", "128M", "IMG", "1G"), code: 1, err: a("cluster size"), usage: true},
	{name: "create cluster huge", fx: fxNone, args: a("create", "-cluster-size", "8G", "IMG", "1G"), code: 1, err: a("too large"), usage: true},
	{name: "create cluster zero", fx: fxNone, args: a("create", "-cluster-size", "0", "IMG", "1M"), code: 1, err: a("cluster size 0"), usage: true},
	{name: "create cluster garbage", fx: fxNone, args: a("create", "-cluster-size", "big", "IMG", "1M"), code: 1, err: a(`invalid value "big" for flag -cluster-size`), usage: true},
	{name: "create table 3", fx: fxNone, args: a("create", "-table-size", "3", "IMG", "1M"), code: 1, err: a("table size 3 is not a power of two"), usage: true},
	{name: "create table 0", fx: fxNone, args: a("create", "-table-size", "0", "IMG", "1M"), code: 1, err: a("table size 0"), usage: true},
	{name: "create table 32", fx: fxNone, args: a("create", "-table-size", "32", "IMG", "1M"), code: 1, err: a("table size 32"), usage: true},
	{name: "create table negative", fx: fxNone, args: a("create", "-table-size", "-1", "IMG", "1M"), code: 1, err: a("not a decimal count"), usage: true},
	{name: "create table suffix", fx: fxNone, args: a("create", "-table-size", "4k", "IMG", "1M"), code: 1, err: a("not a decimal count"), usage: true},
	{name: "create missing size", fx: fxNone, args: a("create", "IMG"), code: 1, err: a("missing SIZE"), usage: true},
	{name: "create missing both", args: a("create"), code: 1, err: a("missing IMAGE SIZE"), usage: true},
	{name: "create extra arg", fx: fxNone, args: a("create", "IMG", "1M", "2M"), code: 1, err: a(`unexpected argument "2M"`), usage: true},
	{name: "create unknown flag", fx: fxNone, args: a("create", "-compress", "IMG", "1M"), code: 1, err: a("flag provided but not defined: -compress"), usage: true},
	{name: "create flag after args", fx: fxNone, args: a("create", "IMG", "1M", "-table-size", "2"),
		then: wantInfo(func(r infoJSON) bool { return r.FormatSpecific.Data.TableSize == 2 && r.VirtualSize == 1<<20 })},
	{name: "create empty backing", fx: fxNone, args: a("create", "-backing", "", "IMG", "1M"), code: 1, err: a("-backing: the backing file name is empty"), usage: true},
	{name: "create missing backing", fx: fxNone, args: a("create", "-backing", "nope.raw", "IMG", "1M"), code: 1, err: a("backing file", "nope.raw")},
	{name: "create backing name too long", fx: fxBacked, args: a("create", "-backing", strings.Repeat("./", 2044)+"base.raw", "IMG", "1M"), same: true, code: 1, err: a("backing file name is 4096 bytes; QEMU reads at most 4095"), usage: true},
	{name: "create backing name longest", fx: fxBacked, args: a("create", "-backing", strings.Repeat("./", 2043)+"/base.raw", "IMG", "1M"),
		then: func(t *testing.T, img string) { mustQedimg(t, "read", "-P", "0x5a", img, "0", "1M") }},
	{name: "create own backing", fx: fxImage, args: a("create", "-backing", "img.qed", "IMG", "1M"), same: true, code: 1, err: a("cannot be its own backing file"), usage: true},
	{name: "create in missing dir", args: a("create", "DIR/no/such/dir/img.qed", "1M"), code: 1, err: a("no such file or directory")},
	{name: "create empty image name", args: a("create", "", "1M"), code: 1, err: a("IMAGE is empty"), usage: true},

	// create, as qemu-img create takes it.
	{name: "create -f qed", fx: fxNone, args: a("create", "-f", "qed", "IMG", "1G"), out: a("fmt=qed size=1073741824"),
		then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1<<30 && r.ClusterSize == 64<<10 })},
	{name: "create -f qed after names", fx: fxNone, args: a("create", "IMG", "512M", "-f", "qed"),
		then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 512<<20 })},
	{name: "create -f raw", fx: fxNone, args: a("create", "-f", "raw", "IMG", "1M"), code: 1,
		err: a(`format "raw" is not supported: qedimg reads and writes qed images only`), usage: true, then: wantNoFile("img.qed")},
	{name: "create -o", fx: fxNone, args: a("create", "-f", "qed", "-o", "cluster_size=4k,table_size=2", "IMG", "8M"),
		then: wantInfo(func(r infoJSON) bool {
			return r.ClusterSize == 4096 && r.FormatSpecific.Data.TableSize == 2 && r.VirtualSize == 8<<20
		})},
	{name: "create -o twice", fx: fxNone, args: a("create", "-o", "cluster_size=4096", "IMG", "8M", "-o", "table_size=8"),
		then: wantInfo(func(r infoJSON) bool { return r.ClusterSize == 4096 && r.FormatSpecific.Data.TableSize == 8 })},
	{name: "create -o size", fx: fxNone, args: a("create", "-o", "size=2M", "IMG"), then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 2<<20 })},
	{name: "create -o size and SIZE disagree", fx: fxNone, args: a("create", "-o", "size=2M", "IMG", "4M"), code: 1,
		err: a("SIZE 4194304 and -o size 2097152 disagree"), usage: true, then: wantNoFile("img.qed")},
	{name: "create -o and flag agree", fx: fxNone, args: a("create", "-cluster-size", "4k", "-o", "cluster_size=4096", "IMG", "1M"),
		then: wantInfo(func(r infoJSON) bool { return r.ClusterSize == 4096 })},
	{name: "create -o and flag disagree", fx: fxNone, args: a("create", "-cluster-size", "4k", "-o", "cluster_size=64k", "IMG", "1M"), code: 1,
		err: a("-cluster-size 4096 and -o cluster_size 65536 disagree"), usage: true},
	{name: "create -o unknown", fx: fxNone, args: a("create", "-o", "cluster_size=4k,foo=1", "IMG", "1M"), code: 1,
		err: a(`-o "foo": unknown option (qed takes backing_file, backing_fmt, cluster_size, size, table_size`), usage: true, then: wantNoFile("img.qed")},
	{name: "create -o without value", fx: fxNone, args: a("create", "-o", "table_size", "IMG", "1M"), code: 1, err: a("-o table_size: missing =VALUE"), usage: true},
	{name: "create -o bad value", fx: fxNone, args: a("create", "-o", "cluster_size=big", "IMG", "1M"), code: 1, err: a(`-o cluster_size: "big" is not a byte count`), usage: true},
	{name: "create -o escaped comma", fx: withFile(fxNone, "a,b.raw", "x"), args: a("create", "-o", "backing_file=a,,b.raw,backing_fmt=raw", "IMG", "1M"),
		then: wantInfo(func(r infoJSON) bool { return r.BackingFilename == "a,b.raw" })},
	{name: "create -o help", fx: fxNone, args: a("create", "-o", "help"),
		out: a("Supported qed options:\n  backing_file=<str>     - File name of a base image\n", "  cluster_size=<size>    - Cluster size (in bytes)\n"), then: wantNoFile("img.qed")},
	{name: "create -b -F", fx: withFile(fxNone, "base.raw", strings.Repeat("Z", 4096)), args: a("create", "-f", "qed", "-b", "base.raw", "-F", "raw", "IMG", "8M"),
		out: a("backing_file=base.raw backing_fmt=raw"),
		then: wantInfo(func(r infoJSON) bool {
			return r.BackingFilename == "base.raw" && r.BackingFilenameFormat == "raw" && r.VirtualSize == 8<<20
		})},
	{name: "create -b without SIZE", fx: withFile(fxNone, "base.raw", strings.Repeat("Z", 1000)), args: a("create", "-b", "base.raw", "-F", "raw", "IMG"),
		out:  a("size=1024 "),
		then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1024 && r.BackingFilename == "base.raw" })},
	{name: "create -b empty backing file without SIZE", fx: withFile(fxNone, "base.raw", ""), args: a("create", "-b", "base.raw", "IMG"), code: 1,
		err: a("backing file base.raw is empty: give SIZE"), usage: true, then: wantNoFile("img.qed")},
	{name: "create -o backing_file", fx: withFile(fxNone, "base.raw", "x"), args: a("create", "-o", "backing_file=base.raw,backing_fmt=raw", "IMG", "1M"),
		then: wantInfo(func(r infoJSON) bool { return r.BackingFilename == "base.raw" })},
	{name: "create -b and -backing disagree", fx: withFile(fxNone, "base.raw", "x"), args: a("create", "-b", "base.raw", "-backing", "other.raw", "IMG", "1M"), code: 1,
		err: a("-backing other.raw and -b base.raw disagree"), usage: true},
	{name: "create -F qcow2", fx: withFile(fxNone, "base.raw", "x"), args: a("create", "-b", "base.raw", "-F", "qcow2", "IMG", "1M"), code: 1,
		err: a(`-F: format "qcow2" is not supported: qedimg's backing files are raw only`), usage: true, then: wantNoFile("img.qed")},
	{name: "create -F without backing", fx: fxNone, args: a("create", "-F", "raw", "IMG", "1M"), code: 1, err: a("-F without a backing file"), usage: true},
	{name: "create -b directory", fx: fxNone, args: a("create", "-b", ".", "IMG", "1M"), code: 1, err: a("backing file .: is a directory"), then: wantNoFile("img.qed")},
	{name: "create -b device without SIZE", fx: fxNone, args: a("create", "-b", "/dev/null", "IMG"), code: 1, err: a("not a regular file", "give SIZE"), usage: true},
	{name: "create -b missing", fx: fxNone, args: a("create", "-b", "nope.raw", "IMG"), code: 1, err: a("backing file", "nope.raw")},
	{name: "create -q", fx: fxNone, args: a("create", "-q", "IMG", "1M"), absent: a("Formatting"), then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1<<20 })},
	{name: "create --", fx: fxNone, args: a("create", "--", "IMG", "1M"), then: wantInfo(func(r infoJSON) bool { return r.VirtualSize == 1<<20 })},

	// info.
	{name: "info human", fx: fxImage, args: a("info", "IMG"), same: true, out: a(
		"file format: qed", "virtual size: 8 MiB (8388608 bytes)", "\ndisk size: ", "\ncluster_size: 4096\n", "\nFormat specific information:\n",
		"\n    table size: 2 clusters (1024 entries per table)", "header size: 1 clusters (4096 bytes)", "L1 table offset: 0x1000",
		"features: none", "need check: no", "file size: ")},
	{name: "info need-check", fx: fxNeedCheck, args: a("info", "IMG"), same: true, out: a("features: need_check", "need check: yes")},
	{name: "info json", fx: fxImage, args: a("info", "-output", "json", "IMG"), same: true, out: a(
		`"filename": "`, `"format": "qed"`, `"virtual-size": 8388608`, `"cluster-size": 4096`, `"actual-size": `, `"dirty-flag": false`,
		`"format-specific": {`, `"type": "qed"`, `"data": {`, `"table-size": 2`, `"header-size": 1`, `"l1-table-offset": 4096`,
		`"features": []`, `"file-size": `, `"need-check": false`),
		absent: a("backing", `_size"`, `_offset"`, `"need_check"`)},
	{name: "info json backing need-check", fx: withPatch(fxBacked, hdrFeatures, le64(impl.FeatureBackingFile|impl.FeatureNeedCheck|impl.FeatureBackingFormatNoProbe)),
		args: a("info", "-output=json", "IMG"), same: true,
		out: a(`"features": [`, `"backing_file",`, `"need_check",`, `"backing_format_no_probe"`, `"backing-filename": "base.raw"`,
			`"full-backing-filename": "`, `"backing-filename-format": "raw"`, `"dirty-flag": true`, `"need-check": true`)},
	{name: "info --output json after image", fx: fxImage, args: a("info", "IMG", "--output", "json"), same: true, out: a(`"virtual-size": 8388608`)},
	{name: "info --output=json -f qed after image", fx: fxImage, args: a("info", "IMG", "--output=json", "-f", "qed"), same: true, out: a(`"virtual-size": 8388608`)},
	{name: "info -f qed attached", fx: fxImage, args: a("info", "-fqed", "IMG"), same: true, out: a("file format: qed")},
	{name: "info mistyped long flag", fx: fxImage, args: a("info", "-forc", "IMG"), same: true, code: 1, err: a("flag provided but not defined: -forc"), usage: true},
	{name: "info -f raw attached", fx: fxImage, args: a("info", "-fraw", "IMG"), same: true, code: 1, err: a("flag provided but not defined: -fraw"), usage: true},
	{name: "info -f raw", fx: fxImage, args: a("info", "-f", "raw", "IMG"), same: true, code: 1,
		err: a(`invalid value "raw" for flag -f: format "raw" is not supported: qedimg reads and writes qed images only`), usage: true},
	{name: "info --output without value", fx: fxImage, args: a("info", "IMG", "--output"), same: true, code: 1, err: a("flag needs an argument: -output"), usage: true},
	{name: "info bad flag syntax", fx: fxImage, args: a("info", "---output", "json", "IMG"), same: true, code: 1, err: a("bad flag syntax: ---output"), usage: true},
	{name: "info -- ends flags", fx: fxImage, args: a("info", "--", "IMG"), same: true, out: a("file format: qed")},
	{name: "info after -- no flags", fx: fxImage, args: a("info", "IMG", "--", "-U"), same: true, code: 1, err: a(`unexpected argument "-U"`), usage: true},
	{name: "info missing backing still works", fx: fxMissingBack, args: a("info", "IMG"), same: true, out: a("backing file: base.raw")},
	{name: "info bad output", fx: fxImage, args: a("info", "-output", "xml", "IMG"), same: true, code: 1, err: a(`"xml" is not an output format`), usage: true},
	{name: "info missing image arg", args: a("info"), code: 1, err: a("missing IMAGE"), usage: true},
	{name: "info extra arg", fx: fxImage, args: a("info", "IMG", "IMG"), code: 1, err: a("unexpected argument"), usage: true},
	{name: "info no such file", fx: fxNone, args: a("info", "IMG"), code: 1, err: a("no such file")},
	{name: "info empty file", fx: fxEmptyFile, args: a("info", "IMG"), same: true, code: 1, err: a("not a QED image", "file has 0 bytes")},
	{name: "info truncated", fx: fxTruncated, args: a("info", "IMG"), same: true, code: 1, err: a("not a QED image", "file has 30 bytes")},
	{name: "info wrong magic", fx: fxWrongMagic, args: a("info", "IMG"), same: true, code: 1, err: a("not a QED image", "magic")},
	{name: "info cluster not power of two", fx: fxBadCluster, args: a("info", "IMG"), same: true, code: 1, err: a("cluster size 5000 is not a power of two")},
	{name: "info table not power of two", fx: fxBadTable, args: a("info", "IMG"), same: true, code: 1, err: a("table size 3")},
	{name: "info L1 past EOF", fx: fxL1PastEOF, args: a("info", "IMG"), same: true, code: 1, err: a("L1 table at 0x40000000", "past end of file")},
	{name: "info L1 cut", fx: fxL1Cut, args: a("info", "IMG"), same: true, code: 1, err: a("past end of file")},
	{name: "info unknown feature", fx: fxUnknownFeat, args: a("info", "IMG"), same: true, code: 1, err: a("unsupported feature bits 0x100")},
	{name: "info image size not sector multiple", fx: fxNotMultiple, args: a("info", "IMG"), same: true, code: 1, err: a("not a multiple of 512")},
	{name: "info directory", fx: fxDir, args: a("info", "IMG"), code: 1, err: a("is a directory")},
	{name: "info -U", fx: fxImage, args: a("info", "-U", "IMG"), same: true, out: a("file format: qed")},
	{name: "info --force-share", fx: fxImage, args: a("info", "--force-share", "IMG"), same: true, out: a("file format: qed")},

	// write and read.
	{name: "write directory", fx: fxDir, args: a("write", "-P", "1", "IMG", "0", "1"), code: 1, err: a("is a directory")},
	{name: "read directory", fx: fxDir, args: a("read", "-P", "1", "IMG", "0", "1"), code: 1, err: a("is a directory")},
	{name: "read -U", fx: fxImage, args: a("read", "-U", "-P", "0xab", "IMG", "4000", "9000"), same: true},
	{name: "write -U refused", fx: fxImage, args: a("write", "-U", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("not defined: -U"), usage: true},
	{name: "read pattern", fx: fxImage, args: a("read", "-P", "0xab", "IMG", "4000", "9000"), same: true, out: a("read 9000/9000 bytes at offset 4000")},
	{name: "read decimal pattern", fx: fxImage, args: a("read", "-P", "171", "IMG", "4000", "9000"), same: true},
	{name: "read upper hex pattern", fx: fxImage, args: a("read", "-P", "0XAB", "IMG", "4000", "9000"), same: true},
	{name: "read across L2 tables", fx: fxImage, args: a("read", "-P", "0xcd", "IMG", fmt.Sprint(4<<20-100), "200"), same: true},
	{name: "read zeros with suffixes", fx: fxImage, args: a("read", "-P", "0", "IMG", "5M", "3m"), same: true},
	{name: "read last byte", fx: fxImage, args: a("read", "-P", "0", "IMG", fmt.Sprint(fxSize-1), "1"), same: true},
	{name: "read mismatch", fx: fxImage, args: a("read", "-P", "0xab", "IMG", "3990", "9020"), same: true, code: 1,
		err: a("pattern verification failed at offset 3990: found 0x00, expected 0xab (20 of 9020 bytes differ)")},
	{name: "read mismatch in later chunk", fx: fxImage, args: a("read", "-P", "0", "IMG", "0", "8M"), same: true, code: 1,
		err: a("at offset 4000: found 0xab, expected 0x00 (9200 of 8388608 bytes differ)")},
	{name: "read past end", fx: fxImage, args: a("read", "-P", "0", "IMG", "8M", "1"), same: true, code: 1, err: a("read of 1 bytes at offset 8388608 is past the image end (8388608 bytes)")},
	{name: "read huge offset", fx: fxImage, args: a("read", "-P", "0", "IMG", "8T", "1T"), same: true, code: 1, err: a("past the image end")},
	{name: "read backing", fx: fxBacked, args: a("read", "-P", "0x5a", "IMG", "0", fmt.Sprint(1<<20-10)), same: true},
	{name: "read past backing end", fx: fxBacked, args: a("read", "-P", "0", "IMG", fmt.Sprint(1<<20+10), "1M"), same: true},
	{name: "read need-check image read-only", fx: fxNeedCheckLeak, args: a("read", "-P", "0xab", "IMG", "4000", "9000"), same: true},
	{name: "read missing -P", fx: fxImage, args: a("read", "IMG", "0", "1"), code: 1, err: a("missing -P BYTE"), usage: true},
	{name: "read pattern 256", fx: fxImage, args: a("read", "-P", "256", "IMG", "0", "1"), code: 1, err: a(`"256" is out of range`), usage: true},
	{name: "read pattern 0x100", fx: fxImage, args: a("read", "-P", "0x100", "IMG", "0", "1"), code: 1, err: a("out of range"), usage: true},
	{name: "read pattern negative", fx: fxImage, args: a("read", "-P", "-1", "IMG", "0", "1"), code: 1, err: a("not a byte"), usage: true},
	{name: "read pattern bare 0x", fx: fxImage, args: a("read", "-P", "0x", "IMG", "0", "1"), code: 1, err: a("not a byte"), usage: true},
	{name: "read pattern garbage", fx: fxImage, args: a("read", "-P", "ab", "IMG", "0", "1"), code: 1, err: a("not a byte"), usage: true},
	{name: "read length zero", fx: fxImage, args: a("read", "-P", "0", "IMG", "0", "0"), code: 1, err: a("length is zero"), usage: true},
	{name: "read offset garbage", fx: fxImage, args: a("read", "-P", "0", "IMG", "x", "1"), code: 1, err: a("offset: "), usage: true},
	{name: "read offset negative", fx: fxImage, args: a("read", "-P", "0", "IMG", "-512", "1"), code: 1, err: a("negative"), usage: true},
	{name: "read length overflow", fx: fxImage, args: a("read", "-P", "0", "IMG", "0", "9223372036854775808"), code: 1, err: a("too large"), usage: true},
	{name: "read missing length", fx: fxImage, args: a("read", "-P", "0", "IMG", "0"), code: 1, err: a("missing LENGTH"), usage: true},
	{name: "read extra arg", fx: fxImage, args: a("read", "-P", "0", "IMG", "0", "1", "2"), code: 1, err: a("unexpected argument"), usage: true},
	{name: "read missing backing", fx: fxMissingBack, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1, err: a("backing file", "base.raw")},
	{name: "read no such file", fx: fxNone, args: a("read", "-P", "0", "IMG", "0", "1"), code: 1, err: a("no such file")},
	{name: "read truncated", fx: fxTruncated, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1, err: a("not a QED image")},
	{name: "read wrong magic", fx: fxWrongMagic, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1, err: a("not a QED image")},
	{name: "read bad cluster size", fx: fxBadCluster, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1, err: a("cluster size 5000")},
	{name: "read L1 past EOF", fx: fxL1PastEOF, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1, err: a("past end of file")},
	{name: "read through corrupt L1 entry", fx: fxL1EntryPast, args: a("read", "-P", "0", "IMG", "0", "1"), same: true, code: 1},

	{name: "write", fx: fxImage, args: a("write", "-P", "0x77", "IMG", "1M", "64k"), out: a("wrote 65536/65536 bytes at offset 1048576"),
		then: func(t *testing.T, img string) {
			mustQedimg(t, "read", "-P", "0x77", img, "1M", "64k")
			mustQedimg(t, "read", "-P", "0xab", img, "4000", "9000")
			wantCheck(t, img, 0)
		}},
	{name: "write large unaligned across L2", fx: fxImage, args: a("write", "-P", "1", "IMG", "1000001", "5000000"),
		then: func(t *testing.T, img string) {
			mustQedimg(t, "read", "-P", "1", img, "1000001", "5000000")
			mustQedimg(t, "read", "-P", "0", img, "6000001", "1000")
			wantCheck(t, img, 0)
		}},
	{name: "write to end", fx: fxImage, args: a("write", "-P", "2", "IMG", fmt.Sprint(fxSize-512), "512"),
		then: func(t *testing.T, img string) { mustQedimg(t, "read", "-P", "2", img, fmt.Sprint(fxSize-512), "512") }},
	{name: "write over backing", fx: fxBacked, args: a("write", "-P", "0x33", "IMG", "100", "100"),
		then: func(t *testing.T, img string) {
			mustQedimg(t, "read", "-P", "0x5a", img, "0", "100")
			mustQedimg(t, "read", "-P", "0x33", img, "100", "100")
			mustQedimg(t, "read", "-P", "0x5a", img, "200", "3896")
			wantCheck(t, img, 0)
		}},
	{name: "write need-check repairs", fx: fxNeedCheckLeak, args: a("write", "-P", "3", "IMG", "0", "1"),
		then: func(t *testing.T, img string) {
			wantInfo(func(r infoJSON) bool { return !r.DirtyFlag })(t, img)
			wantCheck(t, img, 0)
		}},
	{name: "write past end", fx: fxImage, args: a("write", "-P", "1", "IMG", fmt.Sprint(fxSize-100), "200"), same: true, code: 1,
		err: a("write of 200 bytes at offset 8388508 is past the image end (8388608 bytes)")},
	{name: "write entirely past end", fx: fxImage, args: a("write", "-P", "1", "IMG", "1G", "1"), same: true, code: 1, err: a("past the image end")},
	{name: "write past end of need-check image", fx: fxNeedCheckLeak, args: a("write", "-P", "1", "IMG", "8M", "1"), same: true, code: 1, err: a("past the image end")},
	{name: "write offset overflow", fx: fxImage, args: a("write", "-P", "1", "IMG", "9223372036854775807", "9223372036854775807"), same: true, code: 1, err: a("past the image end")},
	{name: "write missing backing", fx: fxMissingBack, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("backing file")},
	{name: "write truncated", fx: fxTruncated, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("not a QED image")},
	{name: "write wrong magic", fx: fxWrongMagic, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("not a QED image")},
	{name: "write bad cluster size", fx: fxBadCluster, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("cluster size 5000")},
	{name: "write L1 past EOF", fx: fxL1PastEOF, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("past end of file")},
	{name: "write L1 cut", fx: fxL1Cut, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("past end of file")},
	{name: "write unknown feature", fx: fxUnknownFeat, args: a("write", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("unsupported feature")},
	{name: "write missing -P", fx: fxImage, args: a("write", "IMG", "0", "1"), same: true, code: 1, err: a("missing -P"), usage: true},
	{name: "write -P twice garbage", fx: fxImage, args: a("write", "-P", "1", "-P", "x", "IMG", "0", "1"), same: true, code: 1, err: a("not a byte"), usage: true},
	{name: "write bad length", fx: fxImage, args: a("write", "-P", "1", "IMG", "0", "1q"), same: true, code: 1, err: a("length: "), usage: true},
	{name: "write zero length", fx: fxImage, args: a("write", "-P", "1", "IMG", "0", "0k"), same: true, code: 1, err: a("length is zero"), usage: true},
	{name: "write unknown flag", fx: fxImage, args: a("write", "-x", "IMG", "0", "1"), same: true, code: 1, err: a("not defined: -x"), usage: true},
	{name: "write zeroes", fx: fxImage, args: a("write", "-z", "IMG", "1000", "70000"), out: a("wrote 70000/70000 bytes at offset 1000")},
	{name: "write zeroes and pattern", fx: fxImage, args: a("write", "-z", "-P", "1", "IMG", "0", "1"), same: true, code: 1, err: a("-z and -P cannot be given together"), usage: true},
	{name: "write neither pattern nor zeroes", fx: fxImage, args: a("write", "IMG", "0", "1"), same: true, code: 1, err: a("missing -P BYTE or -z"), usage: true},

	// check.
	{name: "check clean", fx: fxImage, args: a("check", "IMG"), same: true, out: a("No errors were found on the image.", "= ", "% allocated, ", "% fragmented, 0.00% compressed clusters", "Image end offset: ")},
	{name: "check clean backing", fx: fxBacked, args: a("check", "IMG"), same: true, out: a("No errors were found")},
	{name: "check json", fx: fxImage, args: a("check", "-output", "json", "IMG"), same: true,
		out: a(`"filename": "`, `"format": "qed"`, `"allocated-clusters": 6`, `"total-clusters": 2048`, `"image-end-offset": `,
			`"check-errors": 0`, `"problems": []`),
		absent: a(`"leaks`, `"corruptions`, `_clusters"`, `"check_errors"`)},
	{name: "check leaks", fx: fxLeaky, args: a("check", "IMG"), same: true, code: 3, out: a("3 leaked clusters were found on the image.", "leaked")},
	{name: "check leaks json", fx: fxLeaky, args: a("check", "-output", "json", "IMG"), same: true, code: 3, out: a(`"leaks": 3`, `"problems": [`), absent: a(`"corruptions`)},
	{name: "check -r leaks", fx: fxLeaky, args: a("check", "-r", "IMG"), out: a("The following inconsistencies were found and repaired:", "3 leaked clusters", "0 corruptions", "No errors were found"),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r leaks json", fx: fxLeaky, args: a("check", "-r", "-output", "json", "IMG"), out: a(`"leaks-fixed": 3`), absent: a(`"leaks":`),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r leaks mode", fx: fxLeaky, args: a("check", "-r", "leaks", "IMG"), out: a("3 leaked clusters", "No errors were found"),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r all after image", fx: fxLeaky, args: a("check", "IMG", "-r", "all", "--output=json"), out: a(`"leaks-fixed": 3`),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r=leaks", fx: fxLeaky, args: a("check", "-r=leaks", "IMG"), out: a("No errors were found"),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -rall attached", fx: fxLeaky, args: a("check", "-rall", "IMG"), out: a("No errors were found"),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r leaks keeps corruptions", fx: fxCorruptLeaky, args: a("check", "-r", "leaks", "--output=json", "IMG"), same: true, code: 2,
		out: a(`"corruptions": 1`, `-r leaks: nothing repaired: 1 corruptions found`), absent: a(`-fixed"`)},
	{name: "check -r all repairs corruptions", fx: fxCorruptLeaky, args: a("check", "-r", "all", "IMG"), out: a("No errors were found"),
		then: func(t *testing.T, img string) { wantCheck(t, img, 0) }},
	{name: "check -r bad mode", fx: fxLeaky, args: a("check", "-r", "bogus", "IMG"), same: true, code: 1, err: a(`unexpected argument`, "-r takes leaks or all"), usage: true},
	{name: "check -q", fx: fxLeaky, args: a("check", "-q", "IMG"), same: true, code: 3, absent: a("leak")},
	{name: "check -f qed", fx: fxImage, args: a("check", "-f", "qed", "IMG"), same: true, out: a("No errors were found")},
	{name: "check -f qcow2", fx: fxImage, args: a("check", "IMG", "-f", "qcow2"), same: true, code: 1, err: a(`format "qcow2" is not supported`), usage: true},
	{name: "check corruption", fx: fxL1EntryPast, args: a("check", "IMG"), same: true, code: 2, out: a("errors were found on the image.", "past end of file")},
	{name: "check corruption and leaks", fx: fxCorruptLeaky, args: a("check", "-output", "json", "IMG"), same: true, code: 2, out: a(`"corruptions": 1`, `"leaks": `)},
	{name: "check misaligned L1 entry", fx: fxL1EntryOdd, args: a("check", "-output", "json", "IMG"), same: true, code: 2, out: a(`"corruptions": 1`, "not cluster-aligned")},
	{name: "check -r corruption", fx: fxCorruptLeaky, args: a("check", "-r", "-output", "json", "IMG"), out: a(`"corruptions-fixed": 1`, `"check-errors": 0`), absent: a(`"corruptions":`),
		then: func(t *testing.T, img string) {
			wantCheck(t, img, 0)
			mustQedimg(t, "read", "-P", "0", img, "0", "4M") // the cleared table's clusters read as zeros
		}},
	{name: "check need-check read-only leaves bit", fx: fxNeedCheck, args: a("check", "IMG"), same: true, out: a("No errors were found")},
	{name: "check -r clears need-check", fx: fxNeedCheck, args: a("check", "-r", "IMG"),
		then: wantInfo(func(r infoJSON) bool { return !r.DirtyFlag })},
	// qemu-img check cannot open an image whose backing file is missing,
	// and neither do we; -force checks it read-only.
	{name: "check missing backing", fx: fxMissingBack, args: a("check", "IMG"), same: true, code: 1, err: a("could not open backing file")},
	{name: "check -r missing backing", fx: fxMissingBack, args: a("check", "-r", "IMG"), same: true, code: 1, err: a("could not open backing file")},
	{name: "check -force missing backing", fx: fxMissingBack, args: a("check", "-force", "IMG"), same: true},
	{name: "check table size 1", fx: fxTableSize1, args: a("check", "IMG"), same: true, code: 1, err: a("table_size 1", "-force")},
	{name: "check -force table size 1", fx: fxTableSize1, args: a("check", "-force", "IMG"), same: true},
	{name: "check -r -force refused", fx: fxTableSize1, args: a("check", "-r", "-force", "IMG"), same: true, code: 1, err: a("never repaired"), usage: true},
	{name: "check truncated", fx: fxTruncated, args: a("check", "IMG"), same: true, code: 1, err: a("not a QED image")},
	{name: "check -r truncated", fx: fxTruncated, args: a("check", "-r", "IMG"), same: true, code: 1, err: a("not a QED image")},
	{name: "check wrong magic", fx: fxWrongMagic, args: a("check", "-output", "json", "IMG"), same: true, code: 1, err: a("not a QED image")},
	{name: "check bad cluster size", fx: fxBadCluster, args: a("check", "IMG"), same: true, code: 1, err: a("cluster size 5000")},
	{name: "check -r bad cluster size", fx: fxBadCluster, args: a("check", "-r", "IMG"), same: true, code: 1, err: a("cluster size 5000")},
	{name: "check L1 past EOF", fx: fxL1PastEOF, args: a("check", "IMG"), same: true, code: 1, err: a("past end of file")},
	{name: "check no such file", fx: fxNone, args: a("check", "IMG"), code: 1, err: a("no such file")},
	{name: "check bad flag", fx: fxImage, args: a("check", "-r=maybe", "IMG"), same: true, code: 1, err: a(`invalid value "maybe" for flag -r: "maybe" is not a repair mode (leaks or all)`), usage: true},
	{name: "check bad output", fx: fxImage, args: a("check", "-output", "yaml", "IMG"), same: true, code: 1, err: a("not an output format"), usage: true},
	{name: "check missing image", args: a("check", "-r"), code: 1, err: a("missing IMAGE"), usage: true},
	{name: "check -U", fx: fxLeaky, args: a("check", "-U", "IMG"), same: true, code: 3, out: a("3 leaked clusters")},
	{name: "check -r -U", fx: fxLeaky, args: a("check", "-r", "-U", "IMG"), same: true, code: 1, err: a("-U (force share) is for read-only checks"), usage: true},
	{name: "check directory", fx: fxDir, args: a("check", "IMG"), code: 1, err: a("is a directory")},
	{name: "check -r directory", fx: fxDir, args: a("check", "-r", "IMG"), code: 1, err: a("is a directory")},

	// convert.
	{name: "convert", fx: fxImage, args: a("convert", "IMG", "DIR/out.raw"), same: true, out: a("8388608 bytes (196608 written"),
		then: wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})},
	{name: "convert backing", fx: fxBacked, args: a("convert", "IMG", "DIR/out.raw"), same: true,
		then: wantRaw(fxSize, []span{{0, 1 << 20, 0x5a}, {1<<20 - 10, 20, 0x11}})},
	{name: "convert replaces output", fx: func(t *testing.T, dir string) string {
		p := fxImage(t, dir)
		if err := os.WriteFile(filepath.Join(dir, "out.raw"), bytes.Repeat([]byte{9}, 10<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}, args: a("convert", "IMG", "DIR/out.raw"), same: true, then: wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})},
	{name: "convert odd size", fx: func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "img.qed")
		mustQedimg(t, "create", "-cluster-size", "4k", p, "1049088") // 1 MiB + 512
		mustQedimg(t, "write", "-P", "0xee", p, "1048000", "1088")
		return p
	}, args: a("convert", "IMG", "DIR/out.raw"), same: true, out: a("1049088 bytes (66048 written"),
		then: wantRaw(1049088, []span{{1048000, 1088, 0xee}})},
	{name: "convert missing backing", fx: fxMissingBack, args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1, err: a("backing file"), then: wantNoFile("out.raw")},
	{name: "convert onto itself", fx: fxImage, args: a("convert", "IMG", "IMG"), same: true, code: 1, err: a("output is the image itself")},
	{name: "convert truncated", fx: fxTruncated, args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1, err: a("not a QED image"), then: wantNoFile("out.raw")},
	{name: "convert bad cluster size", fx: fxBadCluster, args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1, err: a("cluster size 5000"), then: wantNoFile("out.raw")},
	{name: "convert corrupt L1 entry", fx: fxL1EntryPast, args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1, then: wantNoFile("out.raw")},
	{name: "convert into missing dir", fx: fxImage, args: a("convert", "IMG", "DIR/no/out.raw"), same: true, code: 1, err: a("no such file")},
	{name: "convert missing output", fx: fxImage, args: a("convert", "IMG"), same: true, code: 1, err: a("missing OUT.raw"), usage: true},
	{name: "convert extra arg", fx: fxImage, args: a("convert", "IMG", "DIR/a", "DIR/b"), same: true, code: 1, err: a("unexpected argument"), usage: true},
	{name: "convert -O raw", fx: fxImage, args: a("convert", "-f", "qed", "-O", "raw", "IMG", "DIR/out.raw"), same: true,
		then: wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})},
	{name: "convert flags after names", fx: fxImage, args: a("convert", "IMG", "DIR/out.raw", "-O", "raw", "-q"), same: true, absent: a("converted"),
		then: wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})},
	{name: "convert -O qed", fx: fxImage, args: a("convert", "-O", "qed", "IMG", "DIR/out.qed"), same: true, code: 1,
		err: a(`invalid value "qed" for flag -O: format "qed" is not supported: convert writes raw output only`), usage: true, then: wantNoFile("out.qed")},
	{name: "convert unknown flag", fx: fxImage, args: a("convert", "-p", "IMG", "DIR/a"), same: true, code: 1, err: a("not defined: -p"), usage: true},
	{name: "convert -U", fx: fxImage, args: a("convert", "-U", "IMG", "DIR/out.raw"), same: true,
		then: wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})},
	{name: "convert directory", fx: fxDir, args: a("convert", "IMG", "DIR/out.raw"), code: 1, err: a("is a directory"), then: wantNoFile("out.raw")},
	{name: "convert into directory", fx: fxImage, args: a("convert", "IMG", "DIR/"), same: true, code: 1, err: a("is a directory")},
	{name: "convert fails mid-way keeps output", fx: withFile(fxCutL2, "out.raw", "keep"), args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1,
		err: a("past end of file"), then: wantOnly("out.raw", "keep")},
	{name: "convert fails mid-way makes no output", fx: fxCutL2, args: a("convert", "IMG", "DIR/out.raw"), same: true, code: 1,
		err: a("past end of file"), then: wantOnly("out.raw", "")},
	{name: "convert onto backing file", fx: fxBacked, args: a("convert", "IMG", "DIR/base.raw"), same: true, code: 1,
		err: a("base.raw: output is the backing file", "img.qed"), then: wantBase},
	{name: "convert onto backing file by another name", fx: withLink(fxBacked, "base.raw", "other.raw"), args: a("convert", "IMG", "DIR/other.raw"), same: true, code: 1,
		err: a("other.raw: output is the backing file", "base.raw of", "img.qed"), then: wantBase},
	{name: "convert onto absolute backing file", fx: fxBackedAbs, args: a("convert", "IMG", "DIR/base.raw"), same: true, code: 1,
		err: a("output is the backing file"), then: wantBase},
	{name: "convert onto image by symlink", fx: withSymlink(fxImage, "img.qed", "link.qed"), args: a("convert", "IMG", "DIR/link.qed"), same: true, code: 1,
		err: a("output is the image itself")},
	{name: "convert through symlink", fx: withSymlink(withFile(fxImage, "out.raw", "old"), "out.raw", "link.raw"), args: a("convert", "IMG", "DIR/link.raw"), same: true,
		then: func(t *testing.T, img string) {
			wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})(t, img)
			if fi, err := os.Lstat(filepath.Join(filepath.Dir(img), "link.raw")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("link.raw is no longer a symbolic link: %v %v", fi, err)
			}
		}},
	{name: "convert onto dangling symlink", fx: withSymlink(fxImage, "nowhere.raw", "link.raw"), args: a("convert", "IMG", "DIR/link.raw"), same: true, code: 1,
		err: a("dangling symbolic link")},
}

// wantInfo returns a check that info -output json on the image satisfies ok.
func wantInfo(ok func(infoJSON) bool) func(t *testing.T, img string) {
	return func(t *testing.T, img string) {
		t.Helper()
		r := mustQedimg(t, "info", "-output", "json", img)
		var rec infoJSON
		if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
			t.Fatalf("info json: %v\n%s", err, r.stdout)
		}
		if !ok(rec) {
			t.Errorf("info json not as expected:\n%s", r.stdout)
		}
	}
}

// wantCheck runs check -output json and wants exit status code.
func wantCheck(t *testing.T, img string, code int) checkJSON {
	t.Helper()
	r := qedimg("check", "-output", "json", img)
	var rec checkJSON
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		t.Fatalf("check json: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	if r.code != code {
		t.Errorf("check: exit %d, want %d\n%s", r.code, code, r.stdout)
	}
	return rec
}

// span is a run of bytes of one value in expected guest content.
type span struct {
	off, n uint64
	b      byte
}

// wantRaw returns a check that DIR/out.raw holds size bytes: zeros, with
// the spans laid over them in order.
func wantRaw(size uint64, spans []span) func(t *testing.T, img string) {
	return func(t *testing.T, img string) {
		t.Helper()
		want := make([]byte, size)
		for _, s := range spans {
			copy(want[s.off:s.off+s.n], bytes.Repeat([]byte{s.b}, int(s.n)))
		}
		got, err := os.ReadFile(filepath.Join(filepath.Dir(img), "out.raw"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("out.raw: %d bytes, differs from the expected %d bytes", len(got), len(want))
		}
	}
}

// wantOnly returns a check that the image's directory holds nothing but
// the fixture's files and, when content is not "", name holding content;
// when content is "", name must not exist. It catches a damaged output
// and a temporary file left behind.
func wantOnly(name, content string) func(t *testing.T, img string) {
	return func(t *testing.T, img string) {
		t.Helper()
		dir := filepath.Dir(img)
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case content == "" && !os.IsNotExist(err):
			t.Errorf("%s: want no such file, got %d bytes, %v", name, len(got), err)
		case content != "" && (err != nil || string(got) != content):
			t.Errorf("%s: want %q, got %q, %v", name, content, got, err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if n := e.Name(); n != filepath.Base(img) && n != name && n != "base.raw" {
				t.Errorf("unexpected file %s left in the directory", n)
			}
		}
	}
}

// wantBase checks that the backing file of fxBacked is untouched: 1 MiB
// of 0x5a.
func wantBase(t *testing.T, img string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(filepath.Dir(img), "base.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte{0x5a}, 1<<20)) {
		t.Errorf("base.raw changed: %d bytes", len(got))
	}
}

// wantNoFile returns a check that name does not exist next to the image.
func wantNoFile(name string) func(t *testing.T, img string) {
	return func(t *testing.T, img string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(filepath.Dir(img), name)); !os.IsNotExist(err) {
			t.Errorf("%s: want no such file, got %v", name, err)
		}
	}
}

func TestQedimg(t *testing.T) {
	for _, tc := range qedimgCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			img := ""
			if tc.fx != nil {
				img = tc.fx(t, dir)
			}
			args := make([]string, len(tc.args))
			for i, s := range tc.args {
				s = strings.ReplaceAll(s, "DIR/", dir+string(filepath.Separator))
				if s == "IMG" {
					s = img
				}
				args[i] = s
			}
			var before [32]byte
			if tc.same {
				before = fileHash(t, img)
			}
			r := qedimg(args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			checkStderrForm(t, tc.args, r, tc.usage)
			if tc.code == 0 && r.stderr != "" {
				t.Errorf("stderr on success: %s", r.stderr)
			}
			for _, s := range tc.out {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout holds %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tc.err {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tc.same && fileHash(t, img) != before {
				t.Errorf("image file changed")
			}
			if tc.then != nil && !t.Failed() {
				tc.then(t, img)
			}
		})
	}
}

func TestQedimgParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string // substring of the error; "" for success
	}{
		{"0", 0, ""},
		{"1", 1, ""},
		{"512", 512, ""},
		{"007", 7, ""},
		{"1k", 1 << 10, ""},
		{"1K", 1 << 10, ""},
		{"3m", 3 << 20, ""},
		{"3M", 3 << 20, ""},
		{"2g", 2 << 30, ""},
		{"2G", 2 << 30, ""},
		{"1t", 1 << 40, ""},
		{"1T", 1 << 40, ""},
		{"8388607T", 8388607 << 40, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "too large"},
		{"8388608T", 0, "too large"},
		{"18446744073709551616", 0, "too large"},
		{"", 0, "not a byte count"},
		{"k", 0, "not a byte count"},
		{"-", 0, "not a byte count"},
		{"-0", 0, "negative"},
		{"-5k", 0, "negative"},
		{"1kk", 0, "not a byte count"},
		{"1P", 0, "not a byte count"},
		{"1b", 0, "not a byte count"},
		{"0x10", 0, "not a byte count"},
		{"1e3", 0, "not a byte count"},
		{"1_000", 0, "not a byte count"},
		{"1 k", 0, "not a byte count"},
		{"\u0661", 0, "not a byte count"},
	} {
		got, err := parseBytes(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseBytes(%q) = %d, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestQedimgParsePattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byte
		ok   bool
	}{
		{"0", 0, true}, {"255", 255, true}, {"077", 77, true}, {"0xff", 0xff, true}, {"0XFF", 0xff, true},
		{"0x0", 0, true}, {"0xA5", 0xa5, true}, {"0x0000ab", 0xab, true},
		{"256", 0, false}, {"0x100", 0, false}, {"-1", 0, false}, {"", 0, false}, {"0x", 0, false},
		{"1.0", 0, false}, {" 1", 0, false}, {"0b1", 0, false}, {"ff", 0, false}, {"+1", 0, false},
		{"99999999999999999999999", 0, false},
	} {
		got, err := parsePattern(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePattern(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestQedimgHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 512: "512 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 4 << 20: "4 MiB",
		1<<30 + 1<<20: "1.001 GiB", 1 << 40: "1 TiB", 1<<64 - 1: "16 EiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestQedimgRecoversPanic checks the last line of defence: a panic in a
// command becomes one error line and exit 1, never a stack trace.
func TestQedimgRecoversPanic(t *testing.T) {
	var out, errb bytes.Buffer
	boom := command{name: "boom", usage: "boom", run: func([]string, io.Writer) (int, error) { panic("bad\nthing") }}
	if code := runCommand(boom, nil, &out, &errb); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if got, want := errb.String(), "qedimg: boom: internal error: bad; thing\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// TestQedimgMultiLineErrors checks that joined errors still print as one line.
func TestQedimgMultiLineErrors(t *testing.T) {
	var out, errb bytes.Buffer
	c := command{name: "multi", usage: "multi", run: func([]string, io.Writer) (int, error) {
		return exitFail, errors.Join(errors.New("first"), errors.New("second"))
	}}
	if code := runCommand(c, nil, &out, &errb); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if got, want := errb.String(), "qedimg: multi: first; second\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// TestQedimgImplRefusesWritePastEnd checks the layer under write's own
// range check: impl refuses a write past the image end with an error, and
// the open and close around it leave the file byte-identical.
func TestQedimgImplRefusesWritePastEnd(t *testing.T) {
	dir := t.TempDir()
	p := fxImage(t, dir)
	before := fileHash(t, p)
	im, err := impl.OpenPath(p, impl.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ off, n int64 }{{fxSize - 100, 200}, {fxSize, 1}, {1 << 40, 512}} {
		if _, err := im.WriteAt(make([]byte, w.n), w.off); err == nil || !strings.Contains(err.Error(), "past the image end") {
			t.Errorf("WriteAt(%d bytes at %d) = %v; want a past-the-end error", w.n, w.off, err)
		}
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, p) != before {
		t.Errorf("image file changed")
	}
}
