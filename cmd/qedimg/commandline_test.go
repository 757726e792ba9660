package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/qemutest"
)

// Command lines: qedimg takes qemu-img's command lines for create, info,
// check and convert, and answers as qemu-img does. Each case creates an
// image twice with one create command line, once by each tool; each
// tool's image then gets the same preparation (data written, damage
// done), and both tools run the same info, check and convert command
// lines on both images. On one image the two must agree: exit statuses;
// every key qemu-img's JSON holds, with its value (qedimg may add only
// "format-specific" to info and "image-end-offset" and "problems" to
// check); the converted raw bytes. The two images must agree with each
// other in what a create fixes (every info key but actual-size, which
// depends on how each tool lays the file out).

// toolRun is what one run of either tool produced.
type toolRun struct {
	code           int
	stdout, stderr string
}

// runQemuImg runs qemu-img with args.
func runQemuImg(t *testing.T, qimg string, args ...string) toolRun {
	t.Helper()
	cmd := exec.Command(qimg, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var xe *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &xe):
		code = xe.ExitCode()
	case err != nil:
		t.Fatalf("qemu-img %s: %v", strings.Join(args, " "), err)
	}
	return toolRun{code, out.String(), errb.String()}
}

// lineCase is one case of TestCommandLinesAgreeWithQEMU. In create,
// "IMG" stands for the image's path and "DIR/" for its directory.
type lineCase struct {
	name   string
	files  map[string]string // files made beside the image first
	create []string          // qemu-img's create command line, after "create"
	// prepare, if set, changes each tool's image alike after create.
	prepare func(t *testing.T, img string)
	// noConvert skips convert (a large image).
	noConvert bool
	// known, when set, names the one info key the tools disagree on for
	// this image and why; the test fails once they agree, so the note
	// can be dropped.
	known, knownKey string
}

var lineCases = []lineCase{
	{name: "default 1G", create: a("-f", "qed", "IMG", "1G"), noConvert: true},
	{name: "512M flags after names", create: a("IMG", "512M", "-f", "qed"), noConvert: true},
	{name: "options", create: a("-f", "qed", "-o", "cluster_size=4k,table_size=2", "IMG", "8M"), prepare: writeSpans},
	{name: "options after names", create: a("IMG", "8M", "-o", "cluster_size=65536", "-f", "qed"), prepare: writeSpans},
	{name: "backing", files: map[string]string{"base.raw": strings.Repeat("\x5a", 1<<20)},
		create: a("-f", "qed", "-b", "base.raw", "-F", "raw", "IMG", "8M"), prepare: writeSpans},
	{name: "backing via -o", files: map[string]string{"base.raw": strings.Repeat("\x5a", 1<<20)},
		create: a("-f", "qed", "-o", "backing_file=base.raw,backing_fmt=raw,cluster_size=4096", "IMG", "4M"), prepare: writeSpans},
	{name: "backing gives size", files: map[string]string{"base.raw": strings.Repeat("\x33", 1000)},
		create: a("-f", "qed", "-b", "base.raw", "-F", "raw", "IMG")},
	{name: "size via -o", create: a("-f", "qed", "-o", "size=4M", "IMG")},
	{name: "leaks", create: a("-f", "qed", "-o", "cluster_size=4096", "IMG", "8M"), prepare: func(t *testing.T, img string) {
		writeSpans(t, img)
		grow(t, img, 3*4096)
	}},
	{name: "corrupt L1 entry", create: a("-f", "qed", "-o", "cluster_size=4096,table_size=2", "IMG", "8M"), prepare: func(t *testing.T, img string) {
		writeSpans(t, img)
		patch(t, img, 4096, le64(1<<30))
	}},
	{name: "need-check", create: a("-f", "qed", "-o", "cluster_size=4096", "IMG", "8M"), prepare: func(t *testing.T, img string) {
		writeSpans(t, img)
		patch(t, img, hdrFeatures, le64(impl.FeatureNeedCheck))
	}, knownKey: "dirty-flag", known: "qemu-img 7.2 reports dirty-flag false for a QED image whose need-check bit is set (its driver's is_dirty is not what info shows); qedimg reports the bit"},
}

// writeSpans writes the same data into an image of either tool: a run
// across a cluster boundary and one at the end of the first 4 MiB.
func writeSpans(t *testing.T, img string) {
	t.Helper()
	mustQedimg(t, "write", "-P", "0xab", img, "4000", "9000")
	mustQedimg(t, "write", "-P", "0xcd", img, fmt.Sprint(4<<20-100), "100")
}

// grow appends n zero bytes to the file at p.
func grow(t *testing.T, p string, n int64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()+n); err != nil {
		t.Fatal(err)
	}
}

// TestCommandLinesAgreeWithQEMU runs lineCases through both tools.
func TestCommandLinesAgreeWithQEMU(t *testing.T) {
	qimg := qemutest.Tool(t, "qemu-img")
	for _, c := range lineCases {
		// Not in parallel: a qemu-img forked while this process holds an
		// image's lock holds it too until it execs, and the next open
		// here would find the lock taken.
		t.Run(c.name, func(t *testing.T) {
			// One directory per tool's image, laid out alike.
			imgs := map[string]string{}
			for _, maker := range []string{"qemu-img", "qedimg"} {
				dir := t.TempDir()
				for name, content := range c.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				img := filepath.Join(dir, "img.qed")
				args := append([]string{"create"}, substitute(c.create, img, dir)...)
				q, r := runBoth(t, qimg, maker, args)
				if q.code != 0 || r.code != 0 {
					t.Fatalf("%s %s: exit %d\n%s%s", maker, strings.Join(args, " "), max(q.code, r.code), q.stderr, r.stderr)
				}
				if c.prepare != nil {
					c.prepare(t, img)
				}
				imgs[maker] = img
			}
			var infos []map[string]any
			for _, maker := range []string{"qemu-img", "qedimg"} {
				img := imgs[maker]
				infos = append(infos, compareInfo(t, qimg, maker, img, c))
				compareCheck(t, qimg, maker, img)
				if !c.noConvert {
					compareConvert(t, qimg, maker, img)
				}
			}
			// What a create fixes is the same whichever tool made it.
			for _, m := range infos {
				delete(m, "actual-size")
				delete(m, "filename")
				if fb, ok := m["full-backing-filename"].(string); ok {
					m["full-backing-filename"] = filepath.Base(fb)
				}
			}
			if !reflect.DeepEqual(infos[0], infos[1]) {
				t.Errorf("qemu-img info of the image each tool created:\nqemu-img's image: %v\nqedimg's image:   %v", infos[0], infos[1])
			}
		})
	}
}

// substitute replaces "IMG" with img and a "DIR/" prefix with dir.
func substitute(args []string, img, dir string) []string {
	out := make([]string, len(args))
	for i, s := range args {
		s = strings.ReplaceAll(s, "DIR/", dir+string(filepath.Separator))
		if s == "IMG" {
			s = img
		}
		out[i] = s
	}
	return out
}

// runBoth runs args through qemu-img and qedimg. For create, only the
// tool named maker runs (each tool makes its own image); the other's
// result is a zero toolRun.
func runBoth(t *testing.T, qimg, maker string, args []string) (q toolRun, r toolRun) {
	t.Helper()
	if args[0] == "create" {
		if maker == "qemu-img" {
			return runQemuImg(t, qimg, args...), toolRun{}
		}
		res := qedimg(args...)
		return toolRun{}, toolRun{res.code, res.stdout, res.stderr}
	}
	res := qedimg(args...)
	return runQemuImg(t, qimg, args...), toolRun{res.code, res.stdout, res.stderr}
}

// decodeJSON decodes a tool's JSON output into a map.
func decodeJSON(t *testing.T, tool, line string, r toolRun) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("%s %s: exit %d, no JSON: %v\n%s%s", tool, line, r.code, err, r.stdout, r.stderr)
	}
	return m
}

// compareKeys reports every key of want (qemu-img's) that got (qedimg's)
// lacks or holds another value for, and every key of got that want lacks
// and extra does not allow. skip names keys compared elsewhere or not at
// all. It returns the differences, one per line.
func compareKeys(want, got map[string]any, extra, skip []string) []string {
	var diffs []string
	for k, v := range want {
		if contains(skip, k) {
			continue
		}
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: qemu-img %v, qedimg has no such key", k, v))
		} else if !reflect.DeepEqual(g, v) {
			diffs = append(diffs, fmt.Sprintf("%s: qemu-img %v, qedimg %v", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !contains(extra, k) && !contains(skip, k) {
			diffs = append(diffs, fmt.Sprintf("%s: qedimg %v, qemu-img has no such key", k, got[k]))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// compareInfo runs info --output=json with both tools on img and
// compares them; it returns qemu-img's record.
func compareInfo(t *testing.T, qimg, maker, img string, c lineCase) map[string]any {
	t.Helper()
	args := a("info", "--output=json", img)
	if maker == "qedimg" {
		args = a("info", img, "--output", "json", "-f", "qed") // the flags after the name
	}
	q, r := runBoth(t, qimg, maker, args)
	if q.code != 0 || r.code != 0 {
		t.Fatalf("info of %s's image: qemu-img exit %d, qedimg exit %d\n%s%s", maker, q.code, r.code, q.stderr, r.stderr)
	}
	want, got := decodeJSON(t, "qemu-img", "info", q), decodeJSON(t, "qedimg", "info", r)
	// qemu-img joins the backing name to the image's directory without
	// cleaning it ("d/../base.raw"); qedimg cleans it.
	skip := []string{"full-backing-filename"}
	if fb, ok := want["full-backing-filename"].(string); ok && filepath.Clean(fb) != got["full-backing-filename"] {
		t.Errorf("info of %s's image: full-backing-filename: qemu-img %q, qedimg %v", maker, fb, got["full-backing-filename"])
	}
	diffs := compareKeys(want, got, a("format-specific"), skip)
	switch {
	case c.known != "" && (len(diffs) != 1 || !strings.HasPrefix(diffs[0], c.knownKey+":")):
		t.Errorf("info of %s's image: known disagreement on %s (%s) is not the only one, or is gone (drop the note):\n%s",
			maker, c.knownKey, c.known, strings.Join(diffs, "\n"))
	case c.known != "":
		t.Logf("known disagreement: %s: %s", diffs[0], c.known)
		delete(want, c.knownKey)
	case len(diffs) > 0:
		t.Errorf("info of %s's image:\n%s", maker, strings.Join(diffs, "\n"))
	}
	return want
}

// compareCheck runs check --output=json with both tools on img and
// compares them.
func compareCheck(t *testing.T, qimg, maker, img string) {
	t.Helper()
	q, r := runBoth(t, qimg, maker, a("check", "-f", "qed", "--output=json", img))
	if q.code != r.code {
		t.Errorf("check of %s's image: qemu-img exit %d, qedimg exit %d\n%s%s%s%s", maker, q.code, r.code, q.stdout, q.stderr, r.stdout, r.stderr)
	}
	want, got := decodeJSON(t, "qemu-img", "check", q), decodeJSON(t, "qedimg", "check", r)
	if diffs := compareKeys(want, got, a("image-end-offset", "problems"), nil); len(diffs) > 0 {
		t.Errorf("check of %s's image:\n%s", maker, strings.Join(diffs, "\n"))
	}
}

// compareConvert runs convert -O raw with both tools on img and compares
// the exit statuses and the raw files.
func compareConvert(t *testing.T, qimg, maker, img string) {
	t.Helper()
	dir := filepath.Dir(img)
	qout, rout := filepath.Join(dir, "qemu.raw"), filepath.Join(dir, "qedimg.raw")
	q := runQemuImg(t, qimg, "convert", "-f", "qed", "-O", "raw", img, qout)
	res := qedimg("convert", "-f", "qed", "-O", "raw", img, rout)
	if q.code != res.code {
		t.Errorf("convert of %s's image: qemu-img exit %d, qedimg exit %d\n%s%s", maker, q.code, res.code, q.stderr, res.stderr)
	}
	if q.code != 0 || res.code != 0 {
		return
	}
	qb, err1 := os.ReadFile(qout)
	rb, err2 := os.ReadFile(rout)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(qb, rb) {
		t.Errorf("convert of %s's image: qemu-img wrote %d bytes, qedimg %d, and they differ", maker, len(qb), len(rb))
	}
	os.Remove(qout)
	os.Remove(rout)
}

// usageLines are bad command lines: qemu-img and qedimg must both refuse
// each with exit 1 and leave the image as it was.
var usageLines = [][]string{
	a("create", "-f", "qed", "-o", "foo=1", "IMG", "1M"),
	a("create", "-f", "qed", "-o", "cluster_size=4k", "IMG", "-1M"),
	a("info", "--output=yaml", "IMG"),
	a("info", "--output"),
	a("check", "-f", "qed", "-r", "bogus", "IMG"),
	a("check", "--output", "xml", "IMG"),
	a("check"),
	a("convert", "-O", "qcow3", "IMG", "DIR/out.raw"),
	a("convert", "IMG"),
	a("frobnicate", "IMG"),
}

// TestUsageExitsAgreeWithQEMU runs usageLines through both tools.
func TestUsageExitsAgreeWithQEMU(t *testing.T) {
	qimg := qemutest.Tool(t, "qemu-img")
	for _, line := range usageLines {
		t.Run(strings.Join(line, " "), func(t *testing.T) {
			dir := t.TempDir()
			img := fxImage(t, dir)
			before := fileHash(t, img)
			args := substitute(line, img, dir)
			q := runQemuImg(t, qimg, args...)
			r := qedimg(args...)
			if q.code != 1 || r.code != 1 {
				t.Errorf("want exit 1 from both: qemu-img %d (%s), qedimg %d (%s)", q.code, oneLine(q.stderr), r.code, oneLine(r.stderr))
			}
			checkStderrForm(t, line, r, true)
			if fileHash(t, img) != before {
				t.Errorf("image changed")
			}
		})
	}
}
