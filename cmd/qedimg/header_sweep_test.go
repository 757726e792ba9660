package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/qemutest"
)

// The header sweep: every header field of images qemu-img made, set to
// boundary and garbage values. `qedimg check` must reach qemu-img check's
// verdict (exit status, corruptions, leaks, check errors), including
// "cannot open" (exit 1) for headers QEMU refuses; after `qedimg check
// -r`, qemu-img must agree with what our second pass found, and every
// guest span that read back its pattern (qemu-io) before the repair must
// still read it back after.

// sweepField is one header field: its byte offset and width.
type sweepField struct {
	name  string
	off   int
	width int // 4 or 8
}

var sweepFields = []sweepField{
	{"magic", 0, 4}, {"cluster_size", 4, 4}, {"table_size", 8, 4}, {"header_size", 12, 4},
	{"features", 16, 8}, {"compat_features", 24, 8}, {"autoclear_features", 32, 8},
	{"l1_table_offset", 40, 8}, {"image_size", 48, 8},
	{"backing_filename_offset", 56, 4}, {"backing_filename_size", 60, 4},
}

// sweepBase is an image qemu-img made and the spans qemu-io wrote into it.
type sweepBase struct {
	name   string
	create []string // qemu-img create arguments after "create -f qed"
	spans  []sweepSpan
}

type sweepSpan struct {
	off, n  uint64
	pattern byte
}

var sweepBases = []sweepBase{
	{"plain-4k", []string{"-o", "cluster_size=4096,table_size=2", "IMG", "16M"},
		[]sweepSpan{{0, 8192, 0x11}, {5 << 20, 4096, 0x22}, {9<<20 + 512, 1024, 0x33}, {15 << 20, 4096, 0x44}}},
	{"backed-4k", []string{"-o", "cluster_size=4096,table_size=2", "-b", "base.raw", "-F", "raw", "IMG", "16M"},
		[]sweepSpan{{0, 2048, 0x55}, {12 << 20, 4096, 0x66}}},
	{"default", []string{"IMG", "64M"},
		[]sweepSpan{{0, 4096, 0x77}, {63 << 20, 4096, 0x78}}},
}

// sweepValues returns the values a field is set to: boundaries for its
// meaning, then random garbage from rng.
func sweepValues(f sweepField, h map[string]uint64, fileSize uint64, rng *rand.Rand, garbage int) []uint64 {
	cs := h["cluster_size"]
	ones := uint64(1)<<(8*f.width) - 1
	if f.width == 8 {
		ones = ^uint64(0)
	}
	var v []uint64
	switch f.name {
	case "magic":
		v = []uint64{0, 0xfb494651, 0x00444552, ones}
	case "cluster_size":
		v = []uint64{0, 512, 2048, 4095, 4096, 8192, 3 * 4096, 65536, 1 << 20, 1 << 26, 1 << 27, 1 << 31}
	case "table_size":
		v = []uint64{0, 1, 2, 3, 4, 8, 16, 17, 32, 1 << 31}
	case "header_size":
		v = []uint64{0, 2, 3, 16, 1 << 20, ones / cs, ones/cs + 1, ones}
	case "features":
		v = []uint64{0, 1, 2, 3, 4, 6, 7, 8, 1 << 63, ones}
	case "compat_features", "autoclear_features":
		v = []uint64{1, 1 << 63, ones}
	case "l1_table_offset":
		v = []uint64{0, 1, 512, cs / 2, cs, 2 * cs, 3 * cs, fileSize - cs, fileSize, fileSize + cs, 1 << 40, ones - cs + 1}
	case "image_size":
		v = []uint64{0, 511, 512, 1 << 20, h["image_size"] + 512, 1 << 40, 1 << 62, ones - 511}
	case "backing_filename_offset":
		v = []uint64{0, 63, 64, 65, cs - 8, cs, ones}
	case "backing_filename_size":
		v = []uint64{0, 1, 7, 9, 4095, 4096, cs, ones}
	}
	for range garbage {
		v = append(v, rng.Uint64()&ones)
	}
	return v
}

// sweepVerdict is one tool's check of one image.
type sweepVerdict struct {
	code                            int
	parsed                          bool
	corruptions, leaks, checkErrors int
}

func (v sweepVerdict) String() string {
	if !v.parsed {
		return fmt.Sprintf("exit %d, no report", v.code)
	}
	return fmt.Sprintf("exit %d, %d corruptions, %d leaks, %d check errors", v.code, v.corruptions, v.leaks, v.checkErrors)
}

func qemuVerdict(t *testing.T, qimg, path string) sweepVerdict {
	q := runQemuCheck(t, qimg, path)
	return sweepVerdict{q.code, q.parsed, q.Corruptions, q.Leaks, q.CheckErrors}
}

func ourVerdict(args ...string) (sweepVerdict, qedimgResult) {
	r := qedimg(append([]string{"check", "-output", "json"}, args...)...)
	var c checkJSON
	err := json.Unmarshal([]byte(r.stdout), &c)
	return sweepVerdict{r.code, err == nil, c.Corruptions, c.Leaks, c.CheckErrors}, r
}

// sweepReads runs one qemu-io -r over path reading every span with its
// pattern and returns which spans verified.
func sweepReads(qio, path string, spans []sweepSpan) []bool {
	args := []string{"-f", "qed", "-r"}
	for _, s := range spans {
		args = append(args, "-c", fmt.Sprintf("read -P %#x %d %d", s.pattern, s.off, s.n))
	}
	out, _ := exec.Command(qio, append(args, path)...).CombinedOutput()
	ok := make([]bool, len(spans))
	for i, s := range spans {
		// qemu-io prints "read N/N bytes at offset OFF" for a read that
		// completed and "Pattern verification failed at offset OFF" for one
		// that read other bytes.
		ok[i] = bytes.Contains(out, []byte(fmt.Sprintf("read %d/%d bytes at offset %d\n", s.n, s.n, s.off))) &&
			!bytes.Contains(out, []byte(fmt.Sprintf("verification failed at offset %d,", s.off)))
	}
	return ok
}

func TestHeaderSweepAgreesWithQEMU(t *testing.T) {
	qimg := qemutest.Tool(t, "qemu-img")
	qio, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skipf("qemu-io not installed: %v", err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("QED_SWEEP_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("QED_SWEEP_SEED=%q: %v", s, err)
		}
	}
	garbage := 2
	if n, err := strconv.Atoi(os.Getenv("QED_SOAK")); err == nil && n > 0 {
		garbage = 20 * n
	}
	t.Logf("header sweep: seed %d (replay with QED_SWEEP_SEED=%d), %d garbage values per field", seed, seed, garbage)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, base := range sweepBases {
		dir := t.TempDir()
		img := sweepMakeBase(t, qimg, qio, dir, base)
		orig, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		h := map[string]uint64{}
		for _, f := range sweepFields {
			if f.width == 4 {
				h[f.name] = uint64(le.Uint32(orig[f.off:]))
			} else {
				h[f.name] = le.Uint64(orig[f.off:])
			}
		}
		for _, f := range sweepFields {
			for _, v := range sweepValues(f, h, uint64(len(orig)), rng, garbage) {
				if v == h[f.name] {
					continue
				}
				name := fmt.Sprintf("%s/%s=%#x", base.name, f.name, v)
				t.Run(name, func(t *testing.T) {
					m := append([]byte(nil), orig...)
					if f.width == 4 {
						le.PutUint32(m[f.off:], uint32(v))
					} else {
						le.PutUint64(m[f.off:], v)
					}
					sweepOne(t, qimg, qio, dir, m, base.spans)
				})
			}
		}
	}
}

// sweepMakeBase creates base in dir with qemu-img and qemu-io.
func sweepMakeBase(t *testing.T, qimg, qio, dir string, base sweepBase) string {
	t.Helper()
	img := filepath.Join(dir, "base.qed")
	if err := os.WriteFile(filepath.Join(dir, "base.raw"), bytes.Repeat([]byte{0xb5}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"create", "-q", "-f", "qed"}
	for _, a := range base.create {
		if a == "IMG" {
			a = img
		}
		args = append(args, a)
	}
	if out, err := exec.Command(qimg, args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	wargs := []string{"-f", "qed"}
	for _, s := range base.spans {
		wargs = append(wargs, "-c", fmt.Sprintf("write -P %#x %d %d", s.pattern, s.off, s.n))
	}
	if out, err := exec.Command(qio, append(wargs, img)...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	for i, ok := range sweepReads(qio, img, base.spans) {
		if !ok {
			t.Fatalf("base %s: span %d does not read back", base.name, i)
		}
	}
	return img
}

// sweepOne judges one mutated image m (written into dir, beside the
// backing file).
func sweepOne(t *testing.T, qimg, qio, dir string, m []byte, spans []sweepSpan) {
	path := filepath.Join(dir, "m.qed")
	if err := os.WriteFile(path, m, 0o644); err != nil {
		t.Fatal(err)
	}
	q := qemuVerdict(t, qimg, path)
	ours, r := ourVerdict(path)
	if q.code != ours.code || (q.parsed && ours.parsed && q != ours) || q.parsed != ours.parsed {
		t.Fatalf("qemu-img check: %v; qedimg check: %v\nqedimg stderr: %s", q, ours, r.stderr)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, m) {
		t.Fatalf("check without -r changed the image")
	}
	if !q.parsed {
		// Neither could check it: a repair must refuse it too, untouched.
		if rr := qedimg("check", "-r", path); rr.code != 1 {
			t.Errorf("check -r of an image QEMU cannot open: exit %d, want 1\n%s%s", rr.code, rr.stdout, rr.stderr)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, m) {
			t.Errorf("check -r changed an image QEMU cannot open")
		}
		return
	}
	before := sweepReads(qio, path, spans)
	rr := qedimg("check", "-r", "-output", "json", path)
	var rep checkJSON
	if err := json.Unmarshal([]byte(rr.stdout), &rep); err != nil {
		t.Fatalf("check -r: exit %d, %v\n%s%s", rr.code, err, rr.stdout, rr.stderr)
	}
	q2 := qemuVerdict(t, qimg, path)
	ours2, _ := ourVerdict(path)
	if q2 != ours2 {
		t.Errorf("after check -r: qemu-img check: %v; qedimg check: %v", q2, ours2)
	}
	if ours2.corruptions != rep.Corruptions || ours2.leaks != rep.Leaks {
		t.Errorf("check -r reported %d corruptions and %d leaks left; a second check finds %v", rep.Corruptions, rep.Leaks, ours2)
	}
	after := sweepReads(qio, path, spans)
	for i := range spans {
		if before[i] && !after[i] {
			t.Errorf("span %d (%#x at %d) read back before check -r, not after", i, spans[i].pattern, spans[i].off)
		}
	}
}
