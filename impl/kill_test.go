package impl_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/model"
)

// The kill test: a child process (this test binary, re-run as
// TestKillChild) writes an image through the file backend, many requests
// in flight, with flushes between, and reports every write it has had
// acknowledged and every flush completed on stdout. The parent kills it
// with SIGKILL at a seeded point, then checks the image: corruptions and
// check errors are failures (leaks are not), every write acknowledged
// before a flush completed must read back, every other acknowledged
// write must read back or read as before it (zeros: with write-back
// metadata, the default, an unflushed write's L2 entry may still be in
// the killed process's memory), and a writable open must repair it clean.

const (
	killEnv       = "QED_KILL_CHILD" // image path,seed,policy: run as the child
	killBlock     = 4096             // bytes per write
	killBlocks    = 2048             // distinct blocks the child writes (8 MiB)
	killDepth     = 16               // writes in flight
	killFlushEach = 24               // a flush after this many acknowledged writes
)

// killPattern is the byte write number n stores.
func killPattern(n int) byte { return byte(n%251 + 1) }

// TestKillChild is the child of TestKill; it does nothing when run
// directly.
func TestKillChild(t *testing.T) {
	arg := os.Getenv(killEnv)
	if arg == "" {
		t.Skip("runs only as TestKill's child process")
	}
	parts := strings.Split(arg, ",")
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	reg, err := model.Lookup(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := killChild(parts[0], seed, reg.Policy); err != nil {
		fmt.Fprintln(os.Stderr, "kill child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// killChild writes the blocks of a seeded permutation, each once, until
// it is killed; it prints "W n block" when write n is acknowledged and
// "F n" when a flush completes that every write before n preceded.
func killChild(path string, seed uint64, p model.Policy) error {
	im, err := impl.OpenPath(path, impl.PathOptions{Options: impl.Options{Policy: p}, NewBackend: file.Opener(file.Options{})})
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	order := rand.New(rand.NewPCG(seed, 1)).Perm(killBlocks)
	next, acked, inFlight := 0, 0, 0
	var fail error
	for fail == nil {
		for inFlight < killDepth && next < len(order) {
			n := next
			next++
			inFlight++
			r := &impl.Request{Op: impl.ReqWrite, Off: uint64(order[n]) * killBlock, Buf: bytes.Repeat([]byte{killPattern(n)}, killBlock)}
			r.Done = func(r *impl.Request) {
				inFlight--
				if r.Err != nil {
					fail = r.Err
					return
				}
				fmt.Fprintf(out, "W %d %d\n", n, order[n])
				out.Flush()
				if acked++; acked%killFlushEach == 0 {
					upTo := acked
					inFlight++
					im.Submit(&impl.Request{Op: impl.ReqFlush, Done: func(r *impl.Request) {
						inFlight--
						if r.Err != nil {
							fail = r.Err
							return
						}
						fmt.Fprintf(out, "F %d\n", upTo)
						out.Flush()
					}})
				}
			}
			im.Submit(r)
		}
		if next == len(order) && inFlight == 0 {
			next, order = 0, rand.New(rand.NewPCG(seed, 2)).Perm(killBlocks) // go round again
		}
		im.Step()
	}
	return fail
}

// killRound is what the parent saw of one child before killing it.
type killRound struct {
	acked   map[int]killAck // by block, its last acknowledged write
	flushed int             // acknowledged writes a completed flush covers
	lines   int
}

// killAck is an acknowledged write: its number, and how many writes had
// been acknowledged with it.
type killAck struct{ n, ord int }

func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("QED_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("QED_KILL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	rounds := 12
	if n, err := strconv.Atoi(os.Getenv("QED_SOAK")); err == nil && n > 0 {
		rounds *= 10 * n
	}
	t.Logf("kill test: seed %d (replay with QED_KILL_SEED=%d), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0))
	var policies []string
	for _, r := range model.Registered() {
		if r.Expect == model.Safe {
			policies = append(policies, r.Name)
		}
	}
	for round := range rounds {
		policy := policies[round%len(policies)]
		cs := []uint32{4096, 65536}[rng.IntN(2)]
		childSeed := rng.Uint64()
		killAfter := 1 + rng.IntN(2000) // output lines before the kill
		name := fmt.Sprintf("round=%d/policy=%s/cluster=%d", round, policy, cs)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kill.qed")
			if err := impl.CreatePath(path, killBlocks*killBlock, impl.CreateOptions{ClusterSize: cs, TableSize: 2}); err != nil {
				t.Fatal(err)
			}
			seen := killRun(t, path, childSeed, policy, killAfter)
			t.Logf("killed after %d lines: %d blocks acknowledged, %d writes flushed", seen.lines, len(seen.acked), seen.flushed)
			killVerify(t, path, seen)
		})
	}
}

// killRun starts the child on path and kills it once it has printed
// killAfter lines (or when it exits).
func killRun(t *testing.T, path string, seed uint64, policy string, killAfter int) killRound {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s", killEnv, path, seed, policy))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := killRound{acked: map[int]killAck{}}
	acks := 0
	sc := bufio.NewScanner(stdout)
	for seen.lines < killAfter && sc.Scan() {
		seen.lines++
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "W":
			n, _ := strconv.Atoi(f[1])
			b, _ := strconv.Atoi(f[2])
			acks++
			seen.acked[b] = killAck{n, acks}
		case len(f) == 2 && f[0] == "F":
			seen.flushed, _ = strconv.Atoi(f[1])
		default:
			t.Fatalf("child printed %q", sc.Text())
		}
	}
	cmd.Process.Kill()
	err = cmd.Wait()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != -1 {
		t.Fatalf("child ended before the kill: %v; stderr:\n%s", err, stderr.String())
	}
	return seen
}

// killVerify checks the image a killed child left.
func killVerify(t *testing.T, path string, seen killRound) {
	t.Helper()
	st, err := impl.OpenFileStorage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := impl.Check(st, false)
	st.Close()
	if err != nil || res.Corruptions != 0 || res.CheckErrors != 0 {
		t.Fatalf("check after kill: %+v, %v", res, err)
	}
	if qimg, err := exec.LookPath("qemu-img"); err == nil {
		out, _ := exec.Command(qimg, "check", "--output=json", "-f", "qed", path).Output()
		var q struct {
			Corruptions int `json:"corruptions"`
			CheckErrors int `json:"check-errors"`
		}
		if err := json.Unmarshal(out, &q); err != nil || q.Corruptions != 0 || q.CheckErrors != 0 {
			t.Errorf("qemu-img check after kill: %s (%v)", out, err)
		}
	}
	read := func(opts impl.PathOptions, stage string) {
		im, err := impl.OpenPath(path, opts)
		if err != nil {
			t.Fatalf("%s: open: %v", stage, err)
		}
		defer im.Close()
		buf := make([]byte, killBlock)
		flushed := 0
		for b, a := range seen.acked {
			if _, err := im.ReadAt(buf, int64(b)*killBlock); err != nil {
				t.Fatalf("%s: read block %d: %v", stage, b, err)
			}
			want := bytes.Repeat([]byte{killPattern(a.n)}, killBlock)
			switch {
			case bytes.Equal(buf, want):
			case a.ord <= seen.flushed:
				t.Errorf("%s: block %d (write %d, flushed before the kill) reads %#x..., want %#x", stage, b, a.n, buf[0], want[0])
			case !bytes.Equal(buf, make([]byte, killBlock)):
				// Not flushed: it may be lost, but then the block reads
				// as it did before (zeros), never other bytes.
				t.Errorf("%s: block %d (write %d, not flushed) reads %#x..., want %#x or zeros", stage, b, a.n, buf[0], want[0])
			}
			if a.ord <= seen.flushed {
				flushed++
			}
		}
		if stage == "after kill" {
			t.Logf("%d of the acknowledged blocks were flushed before the kill", flushed)
		}
	}
	read(impl.PathOptions{Options: impl.Options{ReadOnly: true}}, "after kill")
	read(impl.PathOptions{}, "writable open (checks and repairs when need-check is set)")
	st, err = impl.OpenFileStorage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if res, err := impl.Check(st, false); err != nil || !res.Clean() {
		t.Errorf("check after a writable open and close: %+v, %v", res, err)
	}
}
