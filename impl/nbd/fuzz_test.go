package nbd_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
)

// FuzzServeConn feeds a server whatever a client could send after the
// greeting: the server must end the session (with or without an error)
// and never panic or hang.
//
//	go test ./impl/nbd -run '^$' -fuzz FuzzServeConn -fuzztime 60s
func FuzzServeConn(f *testing.F) {
	flags := binary.BigEndian.AppendUint32(nil, nbd.ClientFixedNewstyle)
	var seed bytes.Buffer
	seed.Write(flags)
	nbdtest.SendOption(&seed, nbd.OptStructuredReply, nil)
	nbdtest.SendOption(&seed, nbd.OptGo, nbdtest.GoData("", nbd.InfoBlockSize))
	req := func(cmd nbd.Command, fl uint16, off uint64, n uint32, data []byte) {
		b := binary.BigEndian.AppendUint32(nil, nbd.RequestMagic)
		b = binary.BigEndian.AppendUint16(b, fl)
		b = binary.BigEndian.AppendUint16(b, uint16(cmd))
		b = binary.BigEndian.AppendUint64(b, 7)
		b = binary.BigEndian.AppendUint64(b, off)
		b = binary.BigEndian.AppendUint32(b, n)
		seed.Write(append(b, data...))
	}
	req(nbd.CmdWrite, nbd.CmdFlagFUA, 512, 512, make([]byte, 512))
	req(nbd.CmdRead, 0, 0, 4096, nil)
	req(nbd.CmdWriteZeroes, 0, 0, 4096, nil)
	req(nbd.CmdFlush, 0, 0, 0, nil)
	f.Add(seed.Bytes())
	req(nbd.CmdDisc, 0, 0, 0, nil)
	f.Add(seed.Bytes())
	var list bytes.Buffer
	list.Write(flags)
	nbdtest.SendOption(&list, nbd.OptList, nil)
	nbdtest.SendOption(&list, nbd.OptInfo, nbdtest.GoData("x"))
	nbdtest.SendOption(&list, nbd.OptExportName, nil)
	f.Add(list.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		exp := newMemExport(64 << 10)
		srv, err := nbd.NewServer(exp, nbd.Options{Size: 64 << 10, MaxPayload: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		cl, sv := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(sv) }()
		go io.Copy(io.Discard, cl)
		cl.Write(in)
		cl.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return")
		}
	})
}
