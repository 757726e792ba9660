package nbd

import (
	"fmt"
	"io"
)

// Handshake limits: an option longer than maxOptionLen, or more than
// maxOptions options on one connection, ends it (proto.md lets a server
// disconnect a client whose behaviour amounts to denial of service).
const (
	maxOptionLen = 64 << 10
	maxOptions   = 1024
)

// handshake runs the fixed newstyle negotiation on c. It returns true
// when the client chose the export (NBD_OPT_EXPORT_NAME or NBD_OPT_GO) and
// transmission begins, false when it sent NBD_OPT_ABORT, and an error for
// a violation of the protocol or a broken connection.
func (c *conn) handshake() (bool, error) {
	var b [optionReplyLen]byte
	be.PutUint64(b[0:], Magic)
	be.PutUint64(b[8:], OptMagic)
	be.PutUint16(b[16:], FlagFixedNewstyle|FlagNoZeroes)
	if _, err := c.bw.Write(b[:18]); err != nil {
		return false, err
	}
	if err := c.bw.Flush(); err != nil {
		return false, err
	}
	if _, err := io.ReadFull(c.br, b[:4]); err != nil {
		return false, fmt.Errorf("read client flags: %w", err)
	}
	flags := be.Uint32(b[:4])
	if unknown := flags &^ (ClientFixedNewstyle | ClientNoZeroes); unknown != 0 {
		return false, fmt.Errorf("client flags %#x have bits the server did not offer (%#x)", flags, unknown)
	}
	c.noZeroes = flags&ClientNoZeroes != 0
	for n := 0; ; n++ {
		if n == maxOptions {
			return false, fmt.Errorf("more than %d options without choosing the export", maxOptions)
		}
		if _, err := io.ReadFull(c.br, b[:optionHeaderLen]); err != nil {
			return false, fmt.Errorf("read option: %w", err)
		}
		magic, opt, length := be.Uint64(b[0:]), Option(be.Uint32(b[8:])), be.Uint32(b[12:])
		if magic != OptMagic {
			return false, fmt.Errorf("option magic %#x is not IHAVEOPT %#x", magic, OptMagic)
		}
		if length > maxOptionLen {
			return false, fmt.Errorf("%s with %d bytes of data exceeds the server's limit of %d", opt, length, maxOptionLen)
		}
		data := make([]byte, length)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return false, fmt.Errorf("read %s data (%d bytes): %w", opt, length, err)
		}
		enter, err := c.option(opt, data)
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil || enter || opt == OptAbort {
			return enter, err
		}
	}
}

// option answers one option. It returns true when transmission begins.
func (c *conn) option(opt Option, data []byte) (bool, error) {
	switch opt {
	case OptExportName:
		if !c.knows(string(data)) {
			return false, fmt.Errorf("%s: no export named %q", opt, data)
		}
		var b [10 + 124]byte
		be.PutUint64(b[0:], c.s.opts.Size)
		be.PutUint16(b[8:], c.transmissionFlags())
		n := len(b)
		if c.noZeroes {
			n = 10
		}
		_, err := c.bw.Write(b[:n])
		return err == nil, err
	case OptAbort:
		// The client may not wait for the reply; ignore a failure.
		c.reply(opt, RepAck, nil)
		c.bw.Flush()
		return false, nil
	case OptList:
		if len(data) != 0 {
			return false, c.replyErr(opt, RepErrInvalid, "NBD_OPT_LIST takes no data")
		}
		p := be.AppendUint32(nil, uint32(len(c.s.opts.Name)))
		if err := c.reply(opt, RepServer, append(p, c.s.opts.Name...)); err != nil {
			return false, err
		}
		return false, c.reply(opt, RepAck, nil)
	case OptInfo, OptGo:
		return c.info(opt, data)
	case OptStructuredReply:
		switch {
		case len(data) != 0:
			return false, c.replyErr(opt, RepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data")
		case c.structured:
			return false, c.replyErr(opt, RepErrInvalid, "structured replies are negotiated already")
		}
		c.structured = true
		return false, c.reply(opt, RepAck, nil)
	case OptStartTLS:
		return false, c.replyErr(opt, RepErrPolicy, "this server does not offer TLS")
	}
	return false, c.replyErr(opt, RepErrUnsup, fmt.Sprintf("%s is not supported", opt))
}

// info answers NBD_OPT_INFO and NBD_OPT_GO: the export's size and
// flags, its name, description and block sizes as asked, then an
// acknowledgement; after NBD_OPT_GO transmission begins.
func (c *conn) info(opt Option, data []byte) (bool, error) {
	if len(data) < 6 {
		return false, c.replyErr(opt, RepErrInvalid, fmt.Sprintf("%s data of %d bytes is shorter than the 6 it needs", opt, len(data)))
	}
	nameLen := be.Uint32(data)
	if uint64(nameLen) > uint64(len(data)-6) {
		return false, c.replyErr(opt, RepErrInvalid, fmt.Sprintf("%s: name length %d overruns the %d bytes of data", opt, nameLen, len(data)))
	}
	name := string(data[4 : 4+nameLen])
	rest := data[4+nameLen:]
	nreq := int(be.Uint16(rest))
	if len(rest) != 2+2*nreq {
		return false, c.replyErr(opt, RepErrInvalid, fmt.Sprintf("%s: %d information requests need %d bytes, got %d", opt, nreq, 2*nreq, len(rest)-2))
	}
	if !c.knows(name) {
		return false, c.replyErr(opt, RepErrUnknown, fmt.Sprintf("no export named %q", name))
	}
	var asked [4]bool
	for i := range nreq {
		if t := Info(be.Uint16(rest[2+2*i:])); int(t) < len(asked) {
			asked[t] = true
		}
	}
	p := be.AppendUint16(nil, uint16(InfoExport))
	p = be.AppendUint64(p, c.s.opts.Size)
	p = be.AppendUint16(p, c.transmissionFlags())
	if err := c.reply(opt, RepInfo, p); err != nil {
		return false, err
	}
	if asked[InfoName] {
		if err := c.reply(opt, RepInfo, append(be.AppendUint16(nil, uint16(InfoName)), c.s.opts.Name...)); err != nil {
			return false, err
		}
	}
	if asked[InfoDescription] && c.s.opts.Description != "" {
		if err := c.reply(opt, RepInfo, append(be.AppendUint16(nil, uint16(InfoDescription)), c.s.opts.Description...)); err != nil {
			return false, err
		}
	}
	// Sent whether asked or not, as the protocol allows.
	p = be.AppendUint16(p[:0], uint16(InfoBlockSize))
	p = be.AppendUint32(p, c.s.opts.MinBlock)
	p = be.AppendUint32(p, c.s.opts.PreferredBlock)
	p = be.AppendUint32(p, c.s.opts.MaxPayload)
	if err := c.reply(opt, RepInfo, p); err != nil {
		return false, err
	}
	if err := c.reply(opt, RepAck, nil); err != nil {
		return false, err
	}
	return opt == OptGo, nil
}

// knows reports whether name names the export: its name, or "".
func (c *conn) knows(name string) bool { return name == "" || name == c.s.opts.Name }

// transmissionFlags returns the flags the session's export is sent with.
func (c *conn) transmissionFlags() uint16 {
	f := c.s.flags
	if c.structured {
		f |= TransSendDF
	}
	return f
}

// reply writes an option reply into c.bw.
func (c *conn) reply(opt Option, typ Reply, data []byte) error {
	var b [optionReplyLen]byte
	be.PutUint64(b[0:], OptReplyMagic)
	be.PutUint32(b[8:], uint32(opt))
	be.PutUint32(b[12:], uint32(typ))
	be.PutUint32(b[16:], uint32(len(data)))
	if _, err := c.bw.Write(b[:]); err != nil {
		return err
	}
	_, err := c.bw.Write(data)
	return err
}

// replyErr writes an error reply with a message for the user.
func (c *conn) replyErr(opt Option, typ Reply, msg string) error {
	if len(msg) > maxString {
		msg = msg[:maxString]
	}
	return c.reply(opt, typ, []byte(msg))
}
