package serve_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
	"github.com/qedharness/qedharness/impl/serve"
	"github.com/qedharness/qedharness/model"
)

// counting is a Submitter in front of the image that counts what passes.
type counting struct {
	im *impl.OpenedImage
	n  int
}

func (c *counting) Submit(r *impl.Request) { c.n++; c.im.Submit(r) }

// TestExport serves a fresh image through Export over a pipe and drives
// every command with the test client: a write reads back, write-zeroes
// (with NO_HOLE or without) and trim read as zeros, flush succeeds; after
// Close the image checks clean, and every request went through the
// Submitter given.
func TestExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.qed")
	if err := impl.CreatePath(path, 4<<20, impl.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reg, err := model.Lookup("overlap")
	if err != nil {
		t.Fatal(err)
	}
	im, fb, err := serve.Open(path, impl.Options{Policy: reg.Policy}, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := &counting{im: im}
	x := serve.NewExport(im, fb, sub)
	srv, err := nbd.NewServer(x, nbd.Options{Size: 4 << 20, MinBlock: impl.SectorSize})
	if err != nil {
		t.Fatal(err)
	}
	cn, sn := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(sn) }()
	c, err := nbdtest.Handshake(cn, nbdtest.Options{Structured: true})
	if err != nil {
		t.Fatal(err)
	}
	doFlags := func(cmd nbd.Command, flags uint16, off uint64, length uint32, data []byte) []byte {
		t.Helper()
		r, err := c.Do(cmd, flags, off, length, data)
		if err != nil || r.Errno != 0 {
			t.Fatalf("%s %d+%d: %v, errno %d %s", cmd, off, length, err, r.Errno, r.Msg)
		}
		return r.Data
	}
	do := func(cmd nbd.Command, off uint64, length uint32, data []byte) []byte {
		t.Helper()
		return doFlags(cmd, 0, off, length, data)
	}
	data := bytes.Repeat([]byte{0xa5}, 8192)
	do(nbd.CmdWrite, 64<<10, 8192, data)
	if got := do(nbd.CmdRead, 64<<10, 8192, nil); !bytes.Equal(got, data) {
		t.Error("a write did not read back")
	}
	do(nbd.CmdWriteZeroes, 64<<10+4096, 4096, nil)
	if got := do(nbd.CmdRead, 64<<10, 8192, nil); !bytes.Equal(got[:4096], data[:4096]) || !bytes.Equal(got[4096:], make([]byte, 4096)) {
		t.Error("write-zeroes did not read as zeros beside the data")
	}
	// A trim is a write-zeroes: the data under it reads as zeros.
	do(nbd.CmdTrim, 64<<10, 4096, nil)
	if got := do(nbd.CmdRead, 64<<10, 8192, nil); !bytes.Equal(got, make([]byte, 8192)) {
		t.Error("trim did not read as zeros")
	}
	// Write-zeroes with NO_HOLE writes zero data: it allocates.
	doFlags(nbd.CmdWriteZeroes, nbd.CmdFlagNoHole, 1<<20, 8192, nil)
	if got := do(nbd.CmdRead, 1<<20-4096, 16384, nil); !bytes.Equal(got, make([]byte, 16384)) {
		t.Error("write-zeroes with NO_HOLE did not read as zeros")
	}
	do(nbd.CmdFlush, 0, 0, nil)
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if st := im.Stats(); st.AllocatingWrites != 2 || sub.n != 9 {
		t.Errorf("%d allocating writes (want 2: the write, the NO_HOLE write-zeroes), %d requests through the Submitter (want 9: a write, two write-zeroes, a trim, four reads, a flush)", st.AllocatingWrites, sub.n)
	}
	if e := entryAt(t, path, 1<<20); e <= impl.ZeroCluster {
		t.Errorf("the NO_HOLE write-zeroes left L2 entry %#x: want an allocated cluster", e)
	}
	fs, err := impl.OpenFileStorage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if res, err := impl.Check(fs, false); err != nil || res.Corruptions+res.Leaks > 0 {
		t.Errorf("check: %+v, %v", res, err)
	}
}

// entryAt returns the L2 entry of the image at path for guest offset
// off, or 0 when no L2 table maps it.
func entryAt(t *testing.T, path string, off uint64) uint64 {
	t.Helper()
	st, err := impl.OpenFileStorage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := impl.L2EntryOf(st, off)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
