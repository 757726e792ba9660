package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
	"github.com/qedharness/qedharness/impl/qemutest"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// server is a "qedimg serve" running in this process.
type server struct {
	sock   string
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
	log    *syncBuffer
	// brokenOK accepts connection errors in the log (a client that
	// vanished on purpose).
	brokenOK bool
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on
// different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer serves the image at path in this process with serve's
// arguments args (IMAGE is appended; -socket is added unless args have
// -port) and waits until it listens. The test's cleanup stops it.
func startServer(t *testing.T, path string, args ...string) *server {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	if !strings.Contains(strings.Join(args, " "), "-port") {
		args = append(args, "-socket", sock)
	}
	c, err := parseServe(append(args, path))
	if err != nil {
		t.Fatalf("serve %v: %v", args, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{sock: sock, cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}, log: &syncBuffer{}}
	go func() { s.done <- serveImage(ctx, c, s.out, s.log) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.out.String(), "serving "); time.Sleep(2 * time.Millisecond) {
		select {
		case err := <-s.done:
			t.Fatalf("serve stopped before listening: %v\n%s", err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve does not listen")
		}
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the server as SIGINT does and returns what it printed; it
// fails the test if serve failed or logged a connection error.
func (s *server) stop(t *testing.T) string {
	t.Helper()
	if s.cancel == nil {
		return s.out.String()
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v\nlog: %s", err, s.log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, l := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
		if l != "" && !(s.brokenOK && (strings.Contains(l, "broken pipe") || strings.Contains(l, "connection reset"))) {
			t.Errorf("serve logged: %s", l)
		}
	}
	return s.out.String()
}

// uri returns the NBD URI of the export for qemu and libnbd.
func (s *server) uri() string { return "nbd+unix:///?socket=" + s.sock }

// fioTool returns fio's path if it has the nbd engine, or skips (fails
// under QED_REQUIRE_QEMU) the test.
func fioTool(t *testing.T) string {
	t.Helper()
	return qemutest.FioNBD(t)
}

// newServeImage creates an image of size bytes in a temporary directory.
func newServeImage(t *testing.T, size string, opts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.qed")
	mustQedimg(t, append(append([]string{"create", "-q"}, opts...), path, size)...)
	return path
}

// TestServeFioVerify runs fio's nbd engine against the export under every
// policy that claims safety: a random 4 KiB write of every block at queue
// depth 32, each verified with crc32c on read-back; the history the server
// recorded is linearizable and the image checks clean.
func TestServeFioVerify(t *testing.T) {
	fio := fioTool(t)
	for _, reg := range model.Registered() {
		if reg.Expect != model.Safe {
			continue
		}
		t.Run("policy="+reg.Name, func(t *testing.T) {
			path := newServeImage(t, "8M")
			hist := filepath.Join(t.TempDir(), "history.txt")
			s := startServer(t, path, "-policy", reg.Name, "-history", hist)
			cmd := exec.Command(fio, "--name=verify", "--ioengine=nbd", "--uri="+s.uri(),
				"--rw=randwrite", "--bs=4k", "--size=4M", "--iodepth=32", "--verify=crc32c",
				"--verify_fatal=1", "--output-format=json")
			cmd.Dir = t.TempDir() // fio saves its verify state in the working directory
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fio: %v\n%s", err, out)
			}
			checkFioJSON(t, out, 1024)
			s.stop(t)
			judgeHistory(t, hist, 2048)
			if r := qedimg("check", path); r.code != 0 {
				t.Errorf("check after serving: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// checkFioJSON checks fio's JSON output: no error, writes ios written and
// as many verified by reading.
func checkFioJSON(t *testing.T, out []byte, writes int) {
	t.Helper()
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:] // libnbd may print a line first
	}
	var r struct {
		Jobs []struct {
			Error int `json:"error"`
			Write struct {
				TotalIOs int `json:"total_ios"`
			} `json:"write"`
			Read struct {
				TotalIOs int `json:"total_ios"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) != 1 {
		t.Fatalf("fio output: %v\n%s", err, out)
	}
	j := r.Jobs[0]
	if j.Error != 0 || j.Write.TotalIOs != writes || j.Read.TotalIOs != writes {
		t.Fatalf("fio: error %d, %d writes and %d verifying reads, want %d each", j.Error, j.Write.TotalIOs, j.Read.TotalIOs, writes)
	}
}

// judgeHistory parses the history serve wrote to path, checks it has ops
// operations and judges it linearizable.
func judgeHistory(t *testing.T, path string, ops int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := history.ParseHistory(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.Ops(); n != ops {
		t.Errorf("history has %d operations, want %d", n, ops)
	}
	res, err := checker.Check(h, checker.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Ok {
		t.Fatalf("history of %d operations: %s\n%v", res.Ops, res.Verdict, res.Counterexample)
	}
}

// TestServeHistoryCatchesCorruption: a history whose read saw bytes no
// write wrote is convicted (the checker reports a read of a corrupt
// sector, which runbench counts as the image's fault), so the fio test above would see a server
// that returned wrong data (the pair to its passing histories).
func TestServeHistoryCatchesCorruption(t *testing.T) {
	path := newServeImage(t, "1M")
	hist := filepath.Join(t.TempDir(), "history.txt")
	s := startServer(t, path, "-history", hist)
	c := dialExport(t, s)
	want := bytes.Repeat([]byte{7}, 4096)
	if rep, err := c.Do(nbd.CmdWrite, 0, 0, 4096, want); err != nil || rep.Errno != 0 {
		t.Fatalf("write: %+v %v", rep, err)
	}
	if rep, err := c.Do(nbd.CmdRead, 0, 0, 4096, nil); err != nil || !bytes.Equal(rep.Data, want) {
		t.Fatalf("read: %v", err)
	}
	c.Disconnect()
	s.stop(t)
	judgeHistory(t, hist, 2)
	// The same history, but the read saw a sector nobody wrote.
	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "saw=w1/s0,", "saw=corrupt,", 1)
	if bad == string(b) {
		t.Fatalf("history has no read of w1/s0:\n%s", b)
	}
	h, err := history.ParseHistory(strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	res, err := checker.Check(h, checker.Options{Timeout: time.Minute})
	switch {
	case len(checker.ImageFaults(err)) > 0:
	case err != nil:
		t.Fatal(err)
	default:
		t.Fatalf("a read of a corrupt sector judged %s", res.Verdict)
	}
}

// dialExport connects to s with the test client.
func dialExport(t *testing.T, s *server) *nbdtest.Client {
	t.Helper()
	nc, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nbdtest.Handshake(nc, nbdtest.Options{Structured: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return c
}

// TestServeQemuIO writes and reads through qemu-io (nbd+unix:// and
// nbd:// over TCP), including write-zeroes and a flush, and reads the
// result back with qedimg after the server stopped.
func TestServeQemuIO(t *testing.T) {
	qio := qemutest.Tool(t, "qemu-io")
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "unix", true: "tcp"}[tcp], func(t *testing.T) {
			path := newServeImage(t, "4M")
			var s *server
			uri := ""
			if tcp {
				s = startServer(t, path, "-port", "0", "-x", "disk")
				out := s.out.String()
				i := strings.Index(out, "tcp:")
				addr := strings.Fields(out[i+4:])[0]
				uri = "nbd://" + addr + "/disk"
			} else {
				s = startServer(t, path, "-policy", "overlap")
				uri = s.uri()
			}
			out, err := exec.Command(qio, "-f", "raw",
				"-c", "write -P 0xa5 0 192k",
				"-c", "aio_write -P 0x5a 1M 64k", "-c", "aio_flush",
				"-c", "write -z 64k 64k",
				"-c", "write -P 0x11 -f 2M 4k", // with FUA
				"-c", "read -P 0xa5 0 64k", "-c", "read -P 0 64k 64k", "-c", "read -P 0xa5 128k 64k",
				"-c", "read -P 0x5a 1M 64k", "-c", "read -P 0x11 2M 4k", "-c", "read -P 0 3M 64k",
				"-c", "flush", uri).CombinedOutput()
			if err != nil || strings.Contains(string(out), "fail") {
				t.Fatalf("qemu-io: %v\n%s", err, out)
			}
			s.stop(t)
			for _, r := range [][]string{{"0xa5", "0", "64k"}, {"0", "64k", "64k"}, {"0x5a", "1M", "64k"}, {"0x11", "2M", "4k"}} {
				mustQedimg(t, "read", "-P", r[0], path, r[1], r[2])
			}
			if r := qedimg("check", path); r.code != 0 {
				t.Errorf("check after serving: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

// TestServeConvertMatches: qemu-img convert from the export reads the
// same bytes as qedimg convert of the image, with a backing file under it.
func TestServeConvertMatches(t *testing.T) {
	qimg, qio := qemutest.Tools(t)
	dir := t.TempDir()
	backing := filepath.Join(dir, "backing.raw")
	if err := os.WriteFile(backing, bytes.Repeat([]byte("backing!"), (2<<20)/8), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "image.qed")
	mustQedimg(t, "create", "-q", "-b", backing, "-F", "raw", path, "4M")
	s := startServer(t, path, "-policy", "per-table")
	out, err := exec.Command(qio, "-f", "raw", "-c", "write -P 0x33 100k 8k", "-c", "write -P 0x44 3M 512", "-c", "write -z 1M 4k", s.uri()).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	fromNBD := filepath.Join(dir, "nbd.raw")
	if out, err := exec.Command(qimg, "convert", "-f", "raw", "-O", "raw", s.uri(), fromNBD).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	s.stop(t)
	fromImage := filepath.Join(dir, "qedimg.raw")
	mustQedimg(t, "convert", "-q", path, fromImage)
	if fileHash(t, fromNBD) != fileHash(t, fromImage) {
		t.Fatal("qemu-img convert of the export differs from qedimg convert of the image")
	}
}

// TestServeShutdownAnswersInFlight: when serve is stopped with requests
// in flight it answers them, closes the image cleanly (the need-check bit
// clear) and every acknowledged write is in it; a client that vanished
// mid-request loses none of its acknowledged writes.
func TestServeShutdownAnswersInFlight(t *testing.T) {
	path := newServeImage(t, "8M")
	s := startServer(t, path, "-policy", "overlap", "-meta", "writeback")
	s.brokenOK = true
	gone := dialExport(t, s)
	const n = 64
	for h := uint64(0); h < n; h++ {
		if err := gone.Send(nbd.CmdWrite, 0, h, h*64<<10, 4096, bytes.Repeat([]byte{byte(h + 1)}, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[uint64]bool{}
	for range n / 2 {
		rep, err := gone.Recv(func(uint64) (uint32, bool) { return 0, false })
		if err != nil || rep.Errno != 0 {
			t.Fatalf("reply: %+v %v", rep, err)
		}
		acked[rep.Handle] = true
	}
	gone.Conn.Close() // with half the writes unanswered
	c := dialExport(t, s)
	for h := uint64(0); h < n; h++ {
		if err := c.Send(nbd.CmdWrite, nbd.CmdFlagFUA, 1000+h, 4<<20+h*4096, 4096, bytes.Repeat([]byte{0xee}, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.stop(t)
	}()
	// The server answers every request it read before the stop, then
	// ends the connection; the rest are never answered.
	answered := 0
	for ; answered < n; answered++ {
		rep, err := c.Recv(func(uint64) (uint32, bool) { return 0, false })
		if err != nil {
			break
		}
		if rep.Errno != 0 || rep.Handle != 1000+uint64(answered) && rep.Handle < 1000 {
			t.Errorf("reply during shutdown: %+v", rep)
		}
		acked[rep.Handle] = true
	}
	c.Conn.Close()
	wg.Wait()
	if answered == 0 {
		t.Log("the stop came before the server read any request of the second client")
	}
	if r := qedimg("info", "--output=json", path); !strings.Contains(r.stdout, `"dirty-flag": false`) {
		t.Errorf("image not closed cleanly:\n%s", r.stdout)
	}
	for h := range uint64(n) {
		if acked[h] {
			mustQedimg(t, "read", "-P", fmt.Sprint(h+1), path, fmt.Sprint(h*64<<10), "4096")
		}
	}
	for h := range uint64(n) {
		if acked[1000+h] {
			mustQedimg(t, "read", "-P", "0xee", path, fmt.Sprint(4<<20+h*4096), "4096")
		}
	}
}

// TestServeChild is not a test: run by TestServeSignal as a child
// process, it is "qedimg serve" with the arguments in QEDIMG_SERVE_ARGS.
func TestServeChild(t *testing.T) {
	args := os.Getenv("QEDIMG_SERVE_ARGS")
	if args == "" {
		t.Skip("run by TestServeSignal")
	}
	os.Exit(run(append([]string{"serve"}, strings.Split(args, "\x1f")...), os.Stdout, os.Stderr))
}

// TestServeSignal: SIGTERM and SIGINT stop a serve process cleanly: exit
// 0, the image closed (need-check bit clear) with what qemu-io wrote.
func TestServeSignal(t *testing.T) {
	qio := qemutest.Tool(t, "qemu-io")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			path := newServeImage(t, "4M")
			sock := filepath.Join(t.TempDir(), "s.sock")
			cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "QEDIMG_SERVE_ARGS="+strings.Join([]string{"-socket", sock, "-policy", "overlap", path}, "\x1f"))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || !strings.HasPrefix(lines.Text(), "serving ") {
				t.Fatalf("serve said %q; stderr: %s", lines.Text(), stderr.String())
			}
			out, err := exec.Command(qio, "-f", "raw", "-c", "write -P 0x77 0 1M", "nbd+unix:///?socket="+sock).CombinedOutput()
			if err != nil {
				t.Fatalf("qemu-io: %v\n%s", err, out)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("serve after %s: %v\nstderr: %s", sig, err, stderr.String())
			}
			if !strings.Contains(string(rest), "image closed") {
				t.Errorf("serve's last words: %q", rest)
			}
			if _, err := os.Stat(sock); err == nil {
				t.Error("the socket is left behind")
			}
			if r := qedimg("info", "--output=json", path); !strings.Contains(r.stdout, `"dirty-flag": false`) {
				t.Errorf("image not closed cleanly:\n%s", r.stdout)
			}
			mustQedimg(t, "read", "-P", "0x77", path, "0", "1M")
		})
	}
}

// TestServeArgs checks serve's refusals of bad arguments: exit 1 with
// one error line and the usage line.
func TestServeArgs(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "image.qed")
	mustQedimg(t, "create", "-q", img, "1M")
	notSock := filepath.Join(dir, "file")
	os.WriteFile(notSock, nil, 0o644)
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{img}, true, "missing -socket PATH or -port N"},
		{[]string{"-socket", "s", "-port", "1", img}, true, "exclude each other"},
		{[]string{"-port", "70000", img}, true, "not a TCP port"},
		{[]string{"-port", "x", img}, true, "not a TCP port"},
		{[]string{"-policy", "nope", "-port", "0", img}, true, `unknown policy "nope"`},
		{[]string{"-aio", "magic", "-port", "0", img}, true, "not auto, threads or io_uring"},
		{[]string{"-fill", "odd", "-port", "0", img}, true, "fill"},
		{[]string{"-f", "qcow2", "-port", "0", img}, true, "not supported"},
		{[]string{"-port", "0"}, true, "missing IMAGE"},
		{[]string{"-socket", notSock, img}, false, "exists and is not a socket"},
		{[]string{"-port", "0", filepath.Join(dir, "missing.qed")}, false, "no such file"},
	} {
		args := append([]string{"serve"}, tc.args...)
		r := qedimg(args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("qedimg %v: exit %d, stderr %q, want exit 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
		checkStderrForm(t, args, r, tc.usage)
	}
}

// TestServeFioTrim drives fio's trims through the export: random writes
// over the region, then random trims of 64 KiB (NBD TRIM, which the
// export carries out as the image's write-zeroes request), then a
// sequential read of everything, all on one connection one job after
// another. The history recorded at the server, a trim as a write of
// zeros, must be linearizable (so the reads after a trim saw zeros), and
// the image must check clean.
func TestServeFioTrim(t *testing.T) {
	fio := fioTool(t)
	path := newServeImage(t, "8M")
	hist := filepath.Join(t.TempDir(), "history.txt")
	s := startServer(t, path, "-policy", "overlap", "-history", hist)
	cmd := exec.Command(fio, "--ioengine=nbd", "--uri="+s.uri(), "--size=2M", "--iodepth=16", "--output-format=json",
		"--name=write", "--rw=randwrite", "--bs=4k",
		"--name=trim", "--stonewall", "--rw=randtrim", "--bs=64k", "--number_ios=16",
		"--name=read", "--stonewall", "--rw=read", "--bs=64k")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fio: %v\n%s", err, out)
	}
	s.stop(t)
	// 512 writes, 16 trims, 32 reads.
	judgeHistory(t, hist, 512+16+32)
	f, err := os.Open(hist)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := history.ParseHistory(f)
	if err != nil {
		t.Fatal(err)
	}
	trims := 0
	for _, ev := range h.Events {
		if ev.Kind == history.Call && ev.Action == history.ActWriteZeroes {
			trims++
		}
	}
	if trims != 16 {
		t.Errorf("history holds %d write-zeroes, want fio's 16 trims", trims)
	}
	if r := qedimg("check", path); r.code != 0 {
		t.Errorf("check after serving: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
