package qemutest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LockedBytes returns the bytes of the file at path that carry an OFD
// read lock, from /proc/locks, ascending; it skips the test where
// /proc/locks cannot be read.
func LockedBytes(t testing.TB, path string) []int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		t.Skipf("cannot read /proc/locks: %v", err)
	}
	defer f.Close()
	// "1: OFDLCK ADVISORY  READ -1 fe:00:9986575 100 101"
	suffix := ":" + strconv.FormatUint(st.Ino, 10)
	var got []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != "OFDLCK" || !strings.HasSuffix(fields[5], suffix) {
			continue
		}
		if fields[3] != "READ" {
			t.Errorf("/proc/locks: %s: want only read locks", sc.Text())
		}
		lo, err1 := strconv.Atoi(fields[6])
		hi, err2 := strconv.Atoi(fields[7])
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/locks: cannot parse %q", sc.Text())
		}
		for b := lo; b <= hi; b++ {
			got = append(got, b)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// Holder is a qemu-io process holding an image open, reading
// commands from a pipe until it is stopped.
type Holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   strings.Builder
}

// HoldWithQemuIO starts qemu-io with args (its last argument the file
// it opens) and waits until the file carries OFD locks, which it takes
// once the image is open. The test's cleanup stops it.
func HoldWithQemuIO(t testing.TB, qio string, args ...string) *Holder {
	t.Helper()
	h := &Holder{cmd: exec.Command(qio, args...)}
	h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	file := args[len(args)-1]
	for start := time.Now(); len(LockedBytes(t, file)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			h.Stop()
			t.Fatalf("qemu-io %s took no locks in 20 s: %s", strings.Join(args, " "), h.out.String())
		}
	}
	return h
}

// Stop ends qemu-io (end of input is its quit) and waits for it.
func (h *Holder) Stop() {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}
