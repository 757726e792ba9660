package nbd_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
)

// memExport is an Export over memory. It logs what it carried out, and
// with hold set keeps requests until release, so tests choose the order
// of completions.
type memExport struct {
	mu   sync.Mutex
	data []byte
	log  []string
	hold bool
	held []*nbd.Request
	fail error // every request fails with it when set
}

func newMemExport(size int) *memExport { return &memExport{data: make([]byte, size)} }

func (m *memExport) Submit(r *nbd.Request) {
	m.mu.Lock()
	if m.hold {
		m.held = append(m.held, r)
		m.mu.Unlock()
		return
	}
	err := m.do(r)
	m.mu.Unlock()
	r.Done(err)
}

// do carries out r; m.mu is held.
func (m *memExport) do(r *nbd.Request) error {
	m.log = append(m.log, fmt.Sprintf("%s %d+%d", r.Cmd, r.Offset, r.Length))
	if m.fail != nil {
		return m.fail
	}
	switch r.Cmd {
	case nbd.CmdRead:
		copy(r.Data, m.data[r.Offset:])
	case nbd.CmdWrite:
		copy(m.data[r.Offset:], r.Data)
	case nbd.CmdWriteZeroes:
		clear(m.data[r.Offset : r.Offset+uint64(r.Length)])
	}
	return nil
}

// release completes the held requests in the order given by idx
// (indexes into the held list), or all in order when idx is empty, and
// stops holding.
func (m *memExport) release(idx ...int) {
	m.mu.Lock()
	held := m.held
	m.held, m.hold = nil, false
	if len(idx) == 0 {
		for i := range held {
			idx = append(idx, i)
		}
	}
	errs := make([]error, len(held))
	for _, i := range idx {
		errs[i] = m.do(held[i])
	}
	m.mu.Unlock()
	for _, i := range idx {
		held[i].Done(errs[i])
	}
}

// waitHeld waits until n requests are held.
func (m *memExport) waitHeld(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		m.mu.Lock()
		k := len(m.held)
		m.mu.Unlock()
		if k >= n {
			return
		}
	}
	t.Fatalf("export holds fewer than %d requests", n)
}

func (m *memExport) logged() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.log, "; ")
}

// session is a server over a memExport with one connection through
// net.Pipe; done receives ServeConn's result.
type session struct {
	srv  *nbd.Server
	exp  *memExport
	conn net.Conn // the client's end
	done chan error
}

const testSize = 1 << 20

func newSession(t *testing.T, opts nbd.Options) *session {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = testSize
	}
	exp := newMemExport(int(opts.Size))
	srv, err := nbd.NewServer(exp, opts)
	if err != nil {
		t.Fatal(err)
	}
	cl, sv := net.Pipe()
	s := &session{srv: srv, exp: exp, conn: cl, done: make(chan error, 1)}
	go func() { s.done <- srv.ServeConn(sv) }()
	t.Cleanup(func() { cl.Close() })
	return s
}

// result waits for ServeConn's result.
func (s *session) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn did not return")
		return nil
	}
}

// client completes the handshake.
func (s *session) client(t *testing.T, o nbdtest.Options) *nbdtest.Client {
	t.Helper()
	c, err := nbdtest.Handshake(s.conn, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
