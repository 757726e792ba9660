// Package nbdtest is a minimal NBD client for tests: the fixed newstyle
// handshake with NBD_OPT_GO (or NBD_OPT_EXPORT_NAME), then requests sent
// and replies read one message at a time, simple or structured, so a test
// can keep many requests in flight, send malformed bytes on Conn, and see
// exactly what the server answered. It is not a general-purpose client:
// it checks what a test needs and returns errors naming what it found.
package nbdtest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/qedharness/qedharness/impl/nbd"
)

var be = binary.BigEndian

// Options choose how Handshake negotiates.
type Options struct {
	// Name is the export asked for.
	Name string
	// Structured negotiates structured replies first.
	Structured bool
	// ExportName enters transmission with NBD_OPT_EXPORT_NAME instead
	// of NBD_OPT_GO.
	ExportName bool
	// NoZeroes asks the server to omit the 124 zero bytes.
	NoZeroes bool
}

// Client is one connection to a server, past its handshake. It is used
// from one goroutine, or one that sends and one that receives.
type Client struct {
	// Conn is the connection, for tests that write raw bytes.
	Conn net.Conn
	br   *bufio.Reader
	// Size and Flags are the export's size and transmission flags.
	Size  uint64
	Flags uint16
	// MinBlock, PreferredBlock and MaxPayload are the block sizes the
	// server sent (NBD_OPT_GO only; zero otherwise).
	MinBlock, PreferredBlock, MaxPayload uint32
	// Structured is true when structured replies were negotiated.
	Structured bool
}

// OptReply is one option reply.
type OptReply struct {
	Option nbd.Option
	Type   nbd.Reply
	Data   []byte
}

// Greet reads the server's greeting from nc and sends the client flags.
func Greet(nc net.Conn, clientFlags uint32) (*bufio.Reader, uint16, error) {
	br := bufio.NewReader(nc)
	var b [18]byte
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return nil, 0, fmt.Errorf("read greeting: %w", err)
	}
	if m := be.Uint64(b[0:]); m != nbd.Magic {
		return nil, 0, fmt.Errorf("greeting magic %#x", m)
	}
	if m := be.Uint64(b[8:]); m != nbd.OptMagic {
		return nil, 0, fmt.Errorf("greeting option magic %#x (not newstyle)", m)
	}
	if _, err := nc.Write(be.AppendUint32(nil, clientFlags)); err != nil {
		return nil, 0, err
	}
	return br, be.Uint16(b[16:]), nil
}

// SendOption writes an option with data.
func SendOption(w io.Writer, opt nbd.Option, data []byte) error {
	b := be.AppendUint64(nil, nbd.OptMagic)
	b = be.AppendUint32(b, uint32(opt))
	b = be.AppendUint32(b, uint32(len(data)))
	_, err := w.Write(append(b, data...))
	return err
}

// ReadOptReply reads one option reply.
func ReadOptReply(r io.Reader) (OptReply, error) {
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return OptReply{}, fmt.Errorf("read option reply: %w", err)
	}
	if m := be.Uint64(b[0:]); m != nbd.OptReplyMagic {
		return OptReply{}, fmt.Errorf("option reply magic %#x", m)
	}
	rep := OptReply{Option: nbd.Option(be.Uint32(b[8:])), Type: nbd.Reply(be.Uint32(b[12:]))}
	n := be.Uint32(b[16:])
	if n > 1<<20 {
		return OptReply{}, fmt.Errorf("option reply of %d bytes", n)
	}
	rep.Data = make([]byte, n)
	if _, err := io.ReadFull(r, rep.Data); err != nil {
		return OptReply{}, fmt.Errorf("read option reply data: %w", err)
	}
	return rep, nil
}

// GoData encodes the data of NBD_OPT_GO or NBD_OPT_INFO for name with the
// given information requests.
func GoData(name string, infos ...nbd.Info) []byte {
	b := be.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = be.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = be.AppendUint16(b, uint16(i))
	}
	return b
}

// Handshake negotiates on nc as opts say and returns the client.
func Handshake(nc net.Conn, opts Options) (*Client, error) {
	flags := nbd.ClientFixedNewstyle
	if opts.NoZeroes {
		flags |= nbd.ClientNoZeroes
	}
	br, _, err := Greet(nc, flags)
	if err != nil {
		return nil, err
	}
	c := &Client{Conn: nc, br: br}
	if opts.Structured {
		if err := SendOption(nc, nbd.OptStructuredReply, nil); err != nil {
			return nil, err
		}
		rep, err := ReadOptReply(br)
		if err != nil {
			return nil, err
		}
		if rep.Type != nbd.RepAck {
			return nil, fmt.Errorf("NBD_OPT_STRUCTURED_REPLY answered %#x %q", uint32(rep.Type), rep.Data)
		}
		c.Structured = true
	}
	if opts.ExportName {
		if err := SendOption(nc, nbd.OptExportName, []byte(opts.Name)); err != nil {
			return nil, err
		}
		n := 134
		if opts.NoZeroes {
			n = 10
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("read export: %w", err)
		}
		c.Size, c.Flags = be.Uint64(b), be.Uint16(b[8:])
		return c, nil
	}
	if err := SendOption(nc, nbd.OptGo, GoData(opts.Name, nbd.InfoBlockSize)); err != nil {
		return nil, err
	}
	for {
		rep, err := ReadOptReply(br)
		if err != nil {
			return nil, err
		}
		switch {
		case rep.Type == nbd.RepAck:
			if c.Flags == 0 {
				return nil, errors.New("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT")
			}
			return c, nil
		case rep.Type.IsError():
			return nil, fmt.Errorf("NBD_OPT_GO refused (%#x): %s", uint32(rep.Type), rep.Data)
		case rep.Type != nbd.RepInfo || len(rep.Data) < 2:
			return nil, fmt.Errorf("NBD_OPT_GO: unexpected reply %#x of %d bytes", uint32(rep.Type), len(rep.Data))
		}
		switch d := rep.Data; nbd.Info(be.Uint16(d)) {
		case nbd.InfoExport:
			if len(d) != 12 {
				return nil, fmt.Errorf("NBD_INFO_EXPORT of %d bytes", len(d))
			}
			c.Size, c.Flags = be.Uint64(d[2:]), be.Uint16(d[10:])
		case nbd.InfoBlockSize:
			if len(d) != 14 {
				return nil, fmt.Errorf("NBD_INFO_BLOCK_SIZE of %d bytes", len(d))
			}
			c.MinBlock, c.PreferredBlock, c.MaxPayload = be.Uint32(d[2:]), be.Uint32(d[6:]), be.Uint32(d[10:])
		}
	}
}

// Send writes one request; data is a write's payload.
func (c *Client) Send(cmd nbd.Command, flags uint16, handle, off uint64, length uint32, data []byte) error {
	b := be.AppendUint32(make([]byte, 0, 28+len(data)), nbd.RequestMagic)
	b = be.AppendUint16(b, flags)
	b = be.AppendUint16(b, uint16(cmd))
	b = be.AppendUint64(b, handle)
	b = be.AppendUint64(b, off)
	b = be.AppendUint32(b, length)
	_, err := c.Conn.Write(append(b, data...))
	return err
}

// Reply is a request's whole reply: its error value (and message, for a
// structured error chunk), and a read's data.
type Reply struct {
	Handle uint64
	Errno  nbd.Errno
	Msg    string
	Data   []byte
}

// Recv reads the next reply. A read's reply needs the read's length:
// readLen maps a handle to it (a simple reply does not carry it).
// Structured chunks are collected until the one flagged done.
func (c *Client) Recv(readLen func(handle uint64) (uint32, bool)) (Reply, error) {
	var b [20]byte
	if _, err := io.ReadFull(c.br, b[:4]); err != nil {
		return Reply{}, fmt.Errorf("read reply: %w", err)
	}
	switch m := be.Uint32(b[:]); m {
	case nbd.SimpleReplyMagic:
		if _, err := io.ReadFull(c.br, b[4:16]); err != nil {
			return Reply{}, fmt.Errorf("read simple reply: %w", err)
		}
		r := Reply{Errno: nbd.Errno(be.Uint32(b[4:])), Handle: be.Uint64(b[8:])}
		if n, isRead := readLen(r.Handle); isRead && r.Errno == 0 {
			r.Data = make([]byte, n)
			if _, err := io.ReadFull(c.br, r.Data); err != nil {
				return Reply{}, fmt.Errorf("read data of handle %d: %w", r.Handle, err)
			}
		}
		return r, nil
	case nbd.StructuredReplyMagic:
		return c.recvStructured(b[:], readLen)
	default:
		return Reply{}, fmt.Errorf("reply magic %#08x", m)
	}
}

func (c *Client) recvStructured(b []byte, readLen func(uint64) (uint32, bool)) (Reply, error) {
	var r Reply
	for first := true; ; first = false {
		if !first {
			if _, err := io.ReadFull(c.br, b[:4]); err != nil {
				return Reply{}, err
			}
			if m := be.Uint32(b); m != nbd.StructuredReplyMagic {
				return Reply{}, fmt.Errorf("chunk magic %#08x", m)
			}
		}
		if _, err := io.ReadFull(c.br, b[4:20]); err != nil {
			return Reply{}, fmt.Errorf("read chunk: %w", err)
		}
		flags, typ, handle, n := be.Uint16(b[4:]), be.Uint16(b[6:]), be.Uint64(b[8:]), be.Uint32(b[16:])
		if !first && handle != r.Handle {
			return Reply{}, fmt.Errorf("chunk for handle %d inside the reply to %d", handle, r.Handle)
		}
		r.Handle = handle
		if n > 64<<20 {
			return Reply{}, fmt.Errorf("chunk of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return Reply{}, fmt.Errorf("read chunk payload: %w", err)
		}
		switch typ {
		case nbd.ChunkNone:
			if n != 0 || flags&nbd.ReplyFlagDone == 0 {
				return Reply{}, fmt.Errorf("NBD_REPLY_TYPE_NONE of %d bytes, flags %#x", n, flags)
			}
		case nbd.ChunkOffsetData:
			if n < 9 {
				return Reply{}, fmt.Errorf("data chunk of %d bytes", n)
			}
			want, _ := readLen(handle)
			r.Data = make([]byte, want)
			copy(r.Data, p[8:]) // tests read from offset 0 of their request
		case nbd.ChunkError:
			if n < 6 || int(be.Uint16(p[4:])) > int(n)-6 {
				return Reply{}, fmt.Errorf("error chunk of %d bytes", n)
			}
			r.Errno, r.Msg = nbd.Errno(be.Uint32(p)), string(p[6:6+be.Uint16(p[4:])])
		default:
			return Reply{}, fmt.Errorf("chunk type %d", typ)
		}
		if flags&nbd.ReplyFlagDone != 0 {
			return r, nil
		}
	}
}

// Do sends one request and reads its reply (no other in flight).
func (c *Client) Do(cmd nbd.Command, flags uint16, off uint64, length uint32, data []byte) (Reply, error) {
	if err := c.Send(cmd, flags, 1, off, length, data); err != nil {
		return Reply{}, err
	}
	return c.Recv(func(uint64) (uint32, bool) { return length, cmd == nbd.CmdRead })
}

// Disconnect sends NBD_CMD_DISC and closes the connection.
func (c *Client) Disconnect() error {
	err := c.Send(nbd.CmdDisc, 0, 0, 0, 0, nil)
	return errors.Join(err, c.Conn.Close())
}
