package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
)

// TestCommands runs each command through simple and structured replies
// and checks the data and what the export was asked to do.
func TestCommands(t *testing.T) {
	for _, structured := range []bool{false, true} {
		name := map[bool]string{false: "simple", true: "structured"}[structured]
		t.Run(name, func(t *testing.T) {
			s := newSession(t, nbd.Options{})
			c := s.client(t, nbdtest.Options{Structured: structured})
			data := bytes.Repeat([]byte{0xab}, 4096)
			for _, st := range []struct {
				cmd    nbd.Command
				flags  uint16
				off    uint64
				length uint32
				data   []byte
				want   []byte // a read's data
				log    string // what the export logs for it
			}{
				{nbd.CmdWrite, 0, 8192, 4096, data, nil, "write 8192+4096"},
				{nbd.CmdRead, 0, 8192, 4096, nil, data, "read 8192+4096"},
				{nbd.CmdWrite, nbd.CmdFlagFUA, 0, 512, data[:512], nil, "write 0+512; flush 0+0"},
				{nbd.CmdWriteZeroes, nbd.CmdFlagNoHole, 8192, 1024, nil, nil, "write-zeroes 8192+1024"},
				{nbd.CmdRead, nbd.CmdFlagFUA, 8192, 2048, nil, append(make([]byte, 1024), data[:1024]...), "read 8192+2048"},
				{nbd.CmdTrim, nbd.CmdFlagFUA, 0, 4096, nil, nil, "trim 0+4096; flush 0+0"},
				{nbd.CmdFlush, 0, 0, 0, nil, nil, "flush 0+0"},
				{nbd.CmdRead, 0, 100, 0, nil, []byte{}, ""},
			} {
				before := s.exp.logged()
				rep, err := c.Do(st.cmd, st.flags, st.off, st.length, st.data)
				if err != nil {
					t.Fatalf("%s: %v", st.cmd, err)
				}
				if rep.Errno != 0 {
					t.Fatalf("%s: %s %s", st.cmd, rep.Errno, rep.Msg)
				}
				if st.want != nil && !bytes.Equal(rep.Data, st.want) {
					t.Errorf("%s at %d: data differs", st.cmd, st.off)
				}
				got := strings.TrimPrefix(strings.TrimPrefix(s.exp.logged(), before), "; ")
				if got != st.log {
					t.Errorf("%s: export did %q, want %q", st.cmd, got, st.log)
				}
			}
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if err := s.result(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
			st := s.srv.Stats()
			if st.Requests != 8 || st.Writes != 2 || st.Reads != 3 || st.Flushes != 1 || st.BytesWritten != 4096+512 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRequestErrors sends requests the server must refuse with an error
// value, and checks the session goes on after each.
func TestRequestErrors(t *testing.T) {
	for _, structured := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			ro     bool
			cmd    nbd.Command
			flags  uint16
			off    uint64
			length uint32
			data   []byte
			want   nbd.Errno
		}{
			{"read-past-end", false, nbd.CmdRead, 0, testSize - 512, 1024, nil, nbd.EINVAL},
			{"read-offset-overflow", false, nbd.CmdRead, 0, 1<<64 - 512, 1024, nil, nbd.EINVAL},
			{"write-past-end", false, nbd.CmdWrite, 0, testSize, 512, make([]byte, 512), nbd.ENOSPC},
			{"write-zeroes-past-end", false, nbd.CmdWriteZeroes, 0, testSize, 512, nil, nbd.ENOSPC},
			{"trim-past-end", false, nbd.CmdTrim, 0, testSize, 512, nil, nbd.EINVAL},
			{"read-oversize", false, nbd.CmdRead, 0, 0, 64 << 20, nil, nbd.EINVAL},
			{"unknown-command", false, nbd.Command(77), 0, 0, 0, nil, nbd.EINVAL},
			{"block-status", false, nbd.CmdBlockStatus, 0, 0, 512, nil, nbd.EINVAL},
			{"unknown-flag", false, nbd.CmdRead, 1 << 12, 0, 512, nil, nbd.EINVAL},
			{"flag-not-for-command", false, nbd.CmdWrite, nbd.CmdFlagDF, 0, 512, make([]byte, 512), nbd.EINVAL},
			{"flush-with-range", false, nbd.CmdFlush, 0, 512, 0, nil, nbd.EINVAL},
			{"write-read-only", true, nbd.CmdWrite, 0, 0, 512, make([]byte, 512), nbd.EPERM},
			{"trim-read-only", true, nbd.CmdTrim, 0, 0, 512, nil, nbd.EPERM},
		} {
			t.Run(map[bool]string{false: "simple/", true: "structured/"}[structured]+tc.name, func(t *testing.T) {
				s := newSession(t, nbd.Options{ReadOnly: tc.ro})
				c := s.client(t, nbdtest.Options{Structured: structured})
				rep, err := c.Do(tc.cmd, tc.flags, tc.off, tc.length, tc.data)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Errno != tc.want {
					t.Fatalf("error %s, want %s", rep.Errno, tc.want)
				}
				if structured && rep.Msg == "" {
					t.Errorf("structured error without a message")
				}
				if log := s.exp.logged(); log != "" {
					t.Errorf("export was asked %q", log)
				}
				rep, err = c.Do(nbd.CmdRead, 0, 0, 512, nil)
				if err != nil || rep.Errno != 0 {
					t.Fatalf("read after the refusal: %+v %v", rep, err)
				}
				c.Disconnect()
				if err := s.result(t); err != nil {
					t.Fatalf("ServeConn: %v", err)
				}
			})
		}
	}
}

// TestExportErrors: an export's error reaches the client with its value:
// EIO for a plain error, the *nbd.Error's value otherwise.
func TestExportErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want nbd.Errno
	}{
		{errors.New("disk on fire"), nbd.EIO},
		{nbd.Errorf(nbd.ENOSPC, "image full"), nbd.ENOSPC},
	} {
		s := newSession(t, nbd.Options{})
		s.exp.fail = tc.err
		c := s.client(t, nbdtest.Options{Structured: true})
		rep, err := c.Do(nbd.CmdRead, 0, 0, 512, nil)
		if err != nil || rep.Errno != tc.want || rep.Msg != tc.err.Error() {
			t.Errorf("%v: reply %+v %v", tc.err, rep, err)
		}
		c.Disconnect()
		s.result(t)
	}
}

// TestRequestViolations sends requests the server must end the
// connection over.
func TestRequestViolations(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(c *nbdtest.Client) error
		want string
	}{
		{"bad-magic", func(c *nbdtest.Client) error {
			_, err := c.Conn.Write(bytes.Repeat([]byte{0x5a}, 28))
			return err
		}, "request magic 0x5a5a5a5a"},
		{"write-oversize", func(c *nbdtest.Client) error {
			return c.Send(nbd.CmdWrite, 0, 1, 0, 64<<20, nil)
		}, "exceeds the maximum payload"},
		{"header-cut", func(c *nbdtest.Client) error {
			_, err := c.Conn.Write([]byte{0x25, 0x60, 0x95})
			c.Conn.Close()
			return err
		}, "mid-request"},
		{"payload-cut", func(c *nbdtest.Client) error {
			err := c.Send(nbd.CmdWrite, 0, 1, 0, 4096, make([]byte, 100))
			c.Conn.Close()
			return err
		}, "mid-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nbd.Options{})
			c := s.client(t, nbdtest.Options{})
			go io.Copy(io.Discard, s.conn)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			err := s.result(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServeConn: %v, want an error containing %q", err, tc.want)
			}
			if log := s.exp.logged(); log != "" {
				t.Errorf("export was asked %q", log)
			}
		})
	}
}

// TestOutOfOrder: replies go out in the order the export completes the
// requests, not the order they came in.
func TestOutOfOrder(t *testing.T) {
	s := newSession(t, nbd.Options{})
	s.exp.hold = true
	c := s.client(t, nbdtest.Options{Structured: true})
	for h := uint64(1); h <= 4; h++ {
		if err := c.Send(nbd.CmdWrite, 0, h, h*512, 512, bytes.Repeat([]byte{byte(h)}, 512)); err != nil {
			t.Fatal(err)
		}
	}
	s.exp.waitHeld(t, 4)
	go s.exp.release(3, 1, 0, 2)
	var got []uint64
	for range 4 {
		rep, err := c.Recv(func(uint64) (uint32, bool) { return 0, false })
		if err != nil || rep.Errno != 0 {
			t.Fatalf("reply %+v %v", rep, err)
		}
		got = append(got, rep.Handle)
	}
	if want := []uint64{4, 2, 1, 3}; !equal(got, want) {
		t.Errorf("replies for handles %v, want %v", got, want)
	}
	c.Disconnect()
	if err := s.result(t); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDisconnectMidRequest: a client that goes away with requests in
// flight loses nothing: the export finishes every request it was given
// (the acknowledged ones are in it), and ServeConn returns once it has.
func TestDisconnectMidRequest(t *testing.T) {
	s := newSession(t, nbd.Options{})
	c := s.client(t, nbdtest.Options{})
	rep, err := c.Do(nbd.CmdWrite, 0, 0, 512, bytes.Repeat([]byte{1}, 512))
	if err != nil || rep.Errno != 0 {
		t.Fatalf("acknowledged write: %+v %v", rep, err)
	}
	s.exp.mu.Lock()
	s.exp.hold = true
	s.exp.mu.Unlock()
	if err := c.Send(nbd.CmdWrite, 0, 2, 512, 512, bytes.Repeat([]byte{2}, 512)); err != nil {
		t.Fatal(err)
	}
	s.exp.waitHeld(t, 1)
	c.Conn.Close()
	select {
	case err := <-s.done:
		t.Fatalf("ServeConn returned (%v) while the export held a request", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.exp.release()
	s.result(t)
	if s.exp.data[0] != 1 || s.exp.data[512] != 2 {
		t.Errorf("export holds %d and %d, want 1 and 2", s.exp.data[0], s.exp.data[512])
	}
}

// TestShutdown: Shutdown stops reading, answers the requests in flight
// once the export finishes them, closes the connections and the listener.
func TestShutdown(t *testing.T) {
	exp := newMemExport(testSize)
	exp.hold = true
	srv, err := nbd.NewServer(exp, nbd.Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := nbdtest.Handshake(nc, nbdtest.Options{Structured: true})
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(1); h <= 3; h++ {
		if err := c.Send(nbd.CmdWrite, nbd.CmdFlagFUA, h, h*512, 512, bytes.Repeat([]byte{byte(h)}, 512)); err != nil {
			t.Fatal(err)
		}
	}
	exp.waitHeld(t, 3)
	var wg sync.WaitGroup
	var shutErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutErr = srv.Shutdown(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("the listener accepts connections after Shutdown")
	}
	exp.release()
	for range 3 {
		rep, err := c.Recv(func(uint64) (uint32, bool) { return 0, false })
		if err != nil || rep.Errno != 0 {
			t.Fatalf("reply after Shutdown: %+v %v", rep, err)
		}
	}
	if _, err := c.Recv(func(uint64) (uint32, bool) { return 0, false }); err == nil {
		t.Error("the connection stays open after its replies")
	}
	nc.Close()
	wg.Wait()
	if shutErr != nil {
		t.Fatal(shutErr)
	}
	if err := <-served; !errors.Is(err, nbd.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if got := exp.logged(); strings.Count(got, "flush") != 3 {
		t.Errorf("export did %q, want three writes each flushed", got)
	}
}

// TestNewServerRefuses checks the options NewServer refuses.
func TestNewServerRefuses(t *testing.T) {
	for _, o := range []nbd.Options{
		{MinBlock: 3},
		{MinBlock: 128 << 10},
		{MinBlock: 8192, PreferredBlock: 4096},
		{MaxPayload: 1024},
		{Name: strings.Repeat("x", 5000)},
	} {
		if _, err := nbd.NewServer(newMemExport(1), o); err == nil {
			t.Errorf("NewServer(%+v) accepted", o)
		}
	}
	if _, err := nbd.NewServer(nil, nbd.Options{}); err == nil {
		t.Error("NewServer(nil) accepted")
	}
}
