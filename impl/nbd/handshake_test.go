package nbd_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/nbd/nbdtest"
)

// optStep is one option a handshake test sends and the reply types it
// expects back, in order.
type optStep struct {
	opt  nbd.Option
	data []byte
	want []nbd.Reply
}

// TestOptions sends options and checks each reply; every case then
// enters transmission with NBD_OPT_GO and reads a byte, so an option
// that is refused leaves the session usable.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []optStep
	}{
		{"list", []optStep{{nbd.OptList, nil, []nbd.Reply{nbd.RepServer, nbd.RepAck}}}},
		{"list-with-data", []optStep{{nbd.OptList, []byte("x"), []nbd.Reply{nbd.RepErrInvalid}}}},
		{"info", []optStep{{nbd.OptInfo, nbdtest.GoData("", nbd.InfoName, nbd.InfoDescription), []nbd.Reply{nbd.RepInfo, nbd.RepInfo, nbd.RepInfo, nbd.RepInfo, nbd.RepAck}}}},
		{"info-by-name", []optStep{{nbd.OptInfo, nbdtest.GoData("disk"), []nbd.Reply{nbd.RepInfo, nbd.RepInfo, nbd.RepAck}}}},
		{"info-unknown-export", []optStep{{nbd.OptInfo, nbdtest.GoData("nope"), []nbd.Reply{nbd.RepErrUnknown}}}},
		{"info-short", []optStep{{nbd.OptInfo, []byte{0, 0}, []nbd.Reply{nbd.RepErrInvalid}}}},
		{"info-name-overrun", []optStep{{nbd.OptInfo, []byte{0, 0, 0, 9, 'a', 0, 0}, []nbd.Reply{nbd.RepErrInvalid}}}},
		{"info-request-count", []optStep{{nbd.OptInfo, []byte{0, 0, 0, 0, 0, 2, 0, 1}, []nbd.Reply{nbd.RepErrInvalid}}}},
		{"structured", []optStep{{nbd.OptStructuredReply, nil, []nbd.Reply{nbd.RepAck}}}},
		{"structured-twice", []optStep{{nbd.OptStructuredReply, nil, []nbd.Reply{nbd.RepAck}}, {nbd.OptStructuredReply, nil, []nbd.Reply{nbd.RepErrInvalid}}}},
		{"structured-with-data", []optStep{{nbd.OptStructuredReply, []byte{1}, []nbd.Reply{nbd.RepErrInvalid}}}},
		{"starttls", []optStep{{nbd.OptStartTLS, nil, []nbd.Reply{nbd.RepErrPolicy}}}},
		{"meta-context", []optStep{{nbd.OptSetMetaContext, []byte{0, 0, 0, 0, 0, 0, 0, 0}, []nbd.Reply{nbd.RepErrUnsup}}}},
		{"extended-headers", []optStep{{nbd.OptExtendedHeaders, nil, []nbd.Reply{nbd.RepErrUnsup}}}},
		{"unknown-option", []optStep{{nbd.Option(4242), []byte("ignored data"), []nbd.Reply{nbd.RepErrUnsup}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nbd.Options{Name: "disk", Description: "a test disk"})
			br, hflags, err := nbdtest.Greet(s.conn, nbd.ClientFixedNewstyle)
			if err != nil {
				t.Fatal(err)
			}
			if hflags != nbd.FlagFixedNewstyle|nbd.FlagNoZeroes {
				t.Errorf("handshake flags %#x", hflags)
			}
			for _, st := range tc.steps {
				if err := nbdtest.SendOption(s.conn, st.opt, st.data); err != nil {
					t.Fatal(err)
				}
				for _, want := range st.want {
					rep, err := nbdtest.ReadOptReply(br)
					if err != nil {
						t.Fatal(err)
					}
					if rep.Type != want || rep.Option != st.opt {
						t.Fatalf("%s: reply %#x to %s, want %#x (data %q)", st.opt, uint32(rep.Type), rep.Option, uint32(want), rep.Data)
					}
					if want.IsError() && len(rep.Data) == 0 {
						t.Errorf("%s: error reply without a message", st.opt)
					}
				}
			}
			if err := nbdtest.SendOption(s.conn, nbd.OptGo, nbdtest.GoData("")); err != nil {
				t.Fatal(err)
			}
			for {
				rep, err := nbdtest.ReadOptReply(br)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Type == nbd.RepAck {
					break
				}
				if rep.Type != nbd.RepInfo {
					t.Fatalf("NBD_OPT_GO: reply %#x %q", uint32(rep.Type), rep.Data)
				}
			}
			s.conn.Close()
			if err := s.result(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}

// TestGoReportsExport checks what NBD_OPT_GO and NBD_OPT_EXPORT_NAME
// tell the client, and a read through each.
func TestGoReportsExport(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    nbdtest.Options
		ro   bool
		want uint16
	}{
		{"go", nbdtest.Options{}, false, nbd.TransHasFlags | nbd.TransSendFlush | nbd.TransSendFUA | nbd.TransSendTrim | nbd.TransSendWriteZeroes | nbd.TransCanMultiConn},
		{"go-structured", nbdtest.Options{Structured: true}, false, nbd.TransHasFlags | nbd.TransSendFlush | nbd.TransSendFUA | nbd.TransSendTrim | nbd.TransSendWriteZeroes | nbd.TransCanMultiConn | nbd.TransSendDF},
		{"go-read-only", nbdtest.Options{Name: "disk"}, true, nbd.TransHasFlags | nbd.TransReadOnly | nbd.TransSendFlush | nbd.TransSendFUA | nbd.TransCanMultiConn},
		{"export-name", nbdtest.Options{ExportName: true}, false, nbd.TransHasFlags | nbd.TransSendFlush | nbd.TransSendFUA | nbd.TransSendTrim | nbd.TransSendWriteZeroes | nbd.TransCanMultiConn},
		{"export-name-no-zeroes", nbdtest.Options{ExportName: true, NoZeroes: true, Name: "disk"}, false, nbd.TransHasFlags | nbd.TransSendFlush | nbd.TransSendFUA | nbd.TransSendTrim | nbd.TransSendWriteZeroes | nbd.TransCanMultiConn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nbd.Options{Name: "disk", ReadOnly: tc.ro, MinBlock: 512})
			c := s.client(t, tc.o)
			if c.Size != testSize || c.Flags != tc.want {
				t.Errorf("size %d flags %#x, want %d %#x", c.Size, c.Flags, testSize, tc.want)
			}
			if !tc.o.ExportName && (c.MinBlock != 512 || c.PreferredBlock != 4096 || c.MaxPayload != nbd.DefaultMaxPayload) {
				t.Errorf("block sizes %d/%d/%d", c.MinBlock, c.PreferredBlock, c.MaxPayload)
			}
			rep, err := c.Do(nbd.CmdRead, 0, 0, 512, nil)
			if err != nil || rep.Errno != 0 || len(rep.Data) != 512 {
				t.Fatalf("read: %+v %v", rep, err)
			}
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if err := s.result(t); err != nil {
				t.Fatalf("ServeConn: %v", err)
			}
		})
	}
}

func optionBytes(opt nbd.Option, data []byte) []byte {
	var b bytes.Buffer
	nbdtest.SendOption(&b, opt, data)
	return b.Bytes()
}

// TestHandshakeViolations sends handshakes the server must end the
// connection over, and checks ServeConn's error names the fault.
func TestHandshakeViolations(t *testing.T) {
	badMagic := optionBytes(nbd.OptGo, nbdtest.GoData(""))
	badMagic[0] ^= 0xff
	long := make([]byte, 16)
	binary.BigEndian.PutUint64(long, nbd.OptMagic)
	binary.BigEndian.PutUint32(long[8:], uint32(nbd.OptInfo))
	binary.BigEndian.PutUint32(long[12:], 1<<30)
	for _, tc := range []struct {
		name   string
		flags  uint32
		script []byte
		want   string
	}{
		{"unknown-client-flags", 1 << 7, nil, "client flags"},
		{"bad-option-magic", nbd.ClientFixedNewstyle, badMagic, "option magic"},
		{"option-too-long", nbd.ClientFixedNewstyle, long, "exceeds the server's limit"},
		{"export-name-unknown", nbd.ClientFixedNewstyle, optionBytes(nbd.OptExportName, []byte("nope")), `no export named "nope"`},
		{"closed-mid-option", nbd.ClientFixedNewstyle, optionBytes(nbd.OptGo, nbdtest.GoData("disk"))[:20], "read NBD_OPT_GO data"},
		{"closed-before-options", nbd.ClientFixedNewstyle, nil, "read option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nbd.Options{Name: "disk"})
			if _, _, err := nbdtest.Greet(s.conn, tc.flags); err != nil {
				t.Fatal(err)
			}
			go func() {
				s.conn.Write(tc.script)
				if !strings.Contains(tc.name, "flags") {
					s.conn.Close()
				}
			}()
			go io.Copy(io.Discard, s.conn)
			err := s.result(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServeConn: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestAbort: NBD_OPT_ABORT is acknowledged and ends the session cleanly.
func TestAbort(t *testing.T) {
	s := newSession(t, nbd.Options{})
	br, _, err := nbdtest.Greet(s.conn, nbd.ClientFixedNewstyle|nbd.ClientNoZeroes)
	if err != nil {
		t.Fatal(err)
	}
	if err := nbdtest.SendOption(s.conn, nbd.OptAbort, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := nbdtest.ReadOptReply(br)
	if err != nil || rep.Type != nbd.RepAck {
		t.Fatalf("abort: %+v %v", rep, err)
	}
	if err := s.result(t); err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
}
