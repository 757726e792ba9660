package impl

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/qemutest"
)

// lockTestFile creates a small file to lock and returns its path.
func lockTestFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLockBytes checks that each role publishes exactly the bytes QEMU 7.2
// publishes for the same open (the evidence is in Locks' comments), and
// that a later Lock replaces them and Close releases them.
func TestLockBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		locks Locks
		bytes []int
	}{
		{"image read-write", LocksImageReadWrite, []int{100, 101, 103, 201, 203}},
		{"image read-only", LocksImageReadOnly, []int{100, 201, 203}},
		{"image read-only -U", LocksImageReadOnly.ForceShare(), []int{100}},
		{"image header", LocksImageHeader, []int{201, 203}},
		{"image header -U", LocksImageHeader.ForceShare(), nil},
		{"backing", LocksBacking, []int{100}},
		{"backing of convert", LocksBackingConvert, []int{100, 201, 203}},
		{"create", LocksCreate, []int{101, 103, 203}},
		{"convert target", LocksConvertTarget, []int{100, 101}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := lockTestFile(t)
			st, err := OpenFileStorage(p, true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Lock(tc.locks); err != nil {
				t.Fatal(err)
			}
			if got := qemutest.LockedBytes(t, p); !slices.Equal(got, tc.bytes) {
				t.Errorf("locked bytes %v, want %v", got, tc.bytes)
			}
			if err := st.Lock(LocksBacking); err != nil {
				t.Fatal(err)
			}
			if got := qemutest.LockedBytes(t, p); !slices.Equal(got, []int{100}) {
				t.Errorf("after Lock(LocksBacking): locked bytes %v, want [100]", got)
			}
			st.Close()
			if got := qemutest.LockedBytes(t, p); len(got) != 0 {
				t.Errorf("after Close: locked bytes %v, want none", got)
			}
		})
	}
}

// TestLockConflicts runs every pair of roles through two open file
// descriptions of one file (OFD locks conflict between descriptions even
// in one process) and wants QEMU's verdict: the opener's error, or none.
func TestLockConflicts(t *testing.T) {
	roles := []struct {
		name  string
		locks Locks
	}{
		{"rw", LocksImageReadWrite},
		{"ro", LocksImageReadOnly},
		{"ro-U", LocksImageReadOnly.ForceShare()},
		{"info", LocksImageHeader},
		{"info-U", LocksImageHeader.ForceShare()},
		{"backing", LocksBacking},
		{"create", LocksCreate},
	}
	const (
		ok     = ""
		write  = `Failed to get "write" lock`
		resize = `Failed to get "resize" lock`
		shared = `Failed to get shared "write" lock`
	)
	// want[holder][opener], in the order of roles.
	want := map[string][]string{
		"rw":      {write, shared, ok, shared, ok, ok, write},
		"ro":      {write, ok, ok, ok, ok, ok, write},
		"ro-U":    {ok, ok, ok, ok, ok, ok, ok},
		"info":    {write, ok, ok, ok, ok, ok, write},
		"info-U":  {ok, ok, ok, ok, ok, ok, ok},
		"backing": {ok, ok, ok, ok, ok, ok, ok},
		"create":  {resize, shared, ok, shared, ok, ok, resize},
	}
	for _, holder := range roles {
		for i, opener := range roles {
			t.Run(holder.name+"/"+opener.name, func(t *testing.T) {
				p := lockTestFile(t)
				h, err := OpenFileStorage(p, true)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				if err := h.Lock(holder.locks); err != nil {
					t.Fatal(err)
				}
				o, err := OpenFileStorage(p, true)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				err = o.Lock(opener.locks)
				w := want[holder.name][i]
				switch {
				case w == ok && err != nil:
					t.Errorf("Lock: %v; want no conflict", err)
				case w != ok && (err == nil || !strings.HasPrefix(err.Error(), w+": Is another process using the image ["+p+"]?")):
					t.Errorf("Lock: %v; want %q", err, w)
				case w != ok && !errors.Is(err, ErrLocked):
					t.Errorf("Lock: %v is not ErrLocked", err)
				}
			})
		}
	}
}

// TestLockFailureReleases checks that a refused Lock leaves none of its
// bytes behind, and that the holder's Close lets the opener in.
func TestLockFailureReleases(t *testing.T) {
	p := lockTestFile(t)
	a, err := OpenFileStorage(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Lock(LocksImageReadWrite); err != nil {
		t.Fatal(err)
	}
	b, err := OpenFileStorage(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var le *LockError
	if err := b.Lock(LocksImageReadOnly); !errors.As(err, &le) || le.Perm != PermWrite || !le.Shared || le.Path != p {
		t.Fatalf("Lock under a writer: %v; want a *LockError for shared write on %s", err, p)
	}
	if got := qemutest.LockedBytes(t, p); !slices.Equal(got, []int{100, 101, 103, 201, 203}) {
		t.Errorf("locked bytes %v: the refused Lock left some behind", got)
	}
	a.Close()
	if err := b.Lock(LocksImageReadWrite); err != nil {
		t.Errorf("Lock after the holder closed: %v", err)
	}
}

// TestPermString checks QEMU's names for the permissions.
func TestPermString(t *testing.T) {
	for p, want := range map[Perm]string{
		0: "none", PermConsistentRead: "consistent read", PermWrite: "write", PermWriteUnchanged: "write unchanged",
		PermResize: "resize", PermWrite | PermResize: "write|resize", 1 << 5: "bit 5",
	} {
		if got := p.String(); got != want {
			t.Errorf("Perm(%#x).String() = %q, want %q", uint8(p), got, want)
		}
	}
}

// TestLockBytesMatchQEMU reads what a running qemu-io locks on a backed
// image and its backing file, opened read-write, read-only and read-only
// with -U, and wants the roles modelled on each to publish the same bytes.
// (qemu-img's opens are too short to watch here; the strace evidence for
// info, check, convert and create is in Locks' comments.)
func TestLockBytesMatchQEMU(t *testing.T) {
	qimg, qio := qemutest.Tools(t)
	dir := t.TempDir()
	img, base := filepath.Join(dir, "img.qed"), filepath.Join(dir, "base.raw")
	if out, err := exec.Command(qimg, "create", "-f", "raw", base, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	if out, err := exec.Command(qimg, "create", "-f", "qed", "-o", "cluster_size=4096,table_size=2,backing_file=base.raw,backing_fmt=raw", img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args          []string
		image, backed Locks
	}{
		{[]string{"-f", "qed"}, LocksImageReadWrite, LocksBacking},
		{[]string{"-r", "-f", "qed"}, LocksImageReadOnly, LocksBacking},
		{[]string{"-r", "-U", "-f", "qed"}, LocksImageReadOnly.ForceShare(), LocksBacking},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			h := qemutest.HoldWithQemuIO(t, qio, append(tc.args, img)...)
			// qemu-io locks the image before it opens the backing file:
			// wait for the backing file's locks too.
			for start := time.Now(); len(qemutest.LockedBytes(t, base)) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Since(start) > 20*time.Second {
					t.Fatalf("qemu-io %v took no locks on the backing file in 20 s", tc.args)
				}
			}
			qemuImage, qemuBacking := qemutest.LockedBytes(t, img), qemutest.LockedBytes(t, base)
			h.Stop()
			for _, c := range []struct {
				file  string
				qemu  []int
				locks Locks
			}{{img, qemuImage, tc.image}, {base, qemuBacking, tc.backed}} {
				st, err := OpenFileStorage(c.file, true)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Lock(c.locks); err != nil {
					t.Fatal(err)
				}
				ours := qemutest.LockedBytes(t, c.file)
				st.Close()
				if !slices.Equal(ours, c.qemu) {
					t.Errorf("%s: qemu-io %v locks bytes %v; our role %+v locks %v", filepath.Base(c.file), tc.args, c.qemu, c.locks, ours)
				}
			}
		})
	}
}
