package nbd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Export carries out the requests of every connection a Server serves.
type Export interface {
	// Submit starts r. It must not block, and may be called from inside
	// a Done call (the server submits the flush that follows a FUA write
	// from its Done). The export calls r.Done exactly once, from any
	// goroutine, when r is finished; until then it owns r.Data. Requests
	// arrive in the order a connection read them, but nothing orders
	// their completion: the export decides what runs concurrently.
	Submit(r *Request)
}

// Request is one request handed to an Export: already validated (the
// command is one of CmdRead, CmdWrite, CmdFlush, CmdTrim and
// CmdWriteZeroes, the range lies inside the export, a write is allowed).
type Request struct {
	// Cmd is the command.
	Cmd Command
	// Flags are the command flags as the client sent them. The server
	// carries out FUA itself (a flush after the command, before the
	// reply); the export may ignore it.
	Flags uint16
	// Offset and Length give the byte range of a read, write, trim or
	// write-zeroes; both are 0 for a flush.
	Offset uint64
	Length uint32
	// Data is a write's payload or the buffer a read fills, Length
	// bytes; nil for other commands.
	Data []byte
	// Handle is the client's handle (cookie) for the request.
	Handle uint64

	c      *conn
	cmd    Command // the command the client sent (Cmd is CmdFlush during a FUA's flush)
	length uint32  // the length the client sent
	buf    []byte  // Data's pooled buffer
	err    error
}

// Done finishes r with err (nil for success). An err that is not an
// *Error is sent as EIO (ENOSPC for a full disk). A write, trim or
// write-zeroes with FUA that succeeded is flushed first, through the
// export, and answered when the flush is done.
func (r *Request) Done(err error) {
	if err == nil && r.Flags&CmdFlagFUA != 0 && r.Cmd != CmdFlush && r.cmd != CmdRead {
		r.Cmd, r.Offset, r.Length, r.Data = CmdFlush, 0, 0, nil
		r.c.s.export.Submit(r)
		return
	}
	r.err = err
	r.c.replies <- r
	r.c.inflight.Done()
}

// Options configure a Server.
type Options struct {
	// Name is the export's name; clients may also ask for "", the
	// default export.
	Name string
	// Description is sent to clients that ask (NBD_INFO_DESCRIPTION).
	Description string
	// Size is the export's size in bytes.
	Size uint64
	// ReadOnly refuses writes, trims and write-zeroes with EPERM.
	ReadOnly bool
	// MinBlock and PreferredBlock are the block sizes sent to clients
	// that ask (NBD_INFO_BLOCK_SIZE): powers of two; 0 means 1 and 4096.
	// A client that asked keeps its requests aligned to MinBlock; the
	// server accepts any alignment either way.
	MinBlock, PreferredBlock uint32
	// MaxPayload is the longest read or write accepted, in bytes; 0
	// means DefaultMaxPayload. A longer read is refused with EINVAL; a
	// longer write ends the connection, since its payload would have to
	// be read anyway.
	MaxPayload uint32
	// MaxInFlight bounds the requests of one connection in flight at
	// once (the server stops reading until one completes); 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// ErrorLog, if not nil, receives one line per connection that ended
	// with an error (a protocol violation, a broken connection).
	ErrorLog func(msg string)
}

// Defaults of Options.
const (
	DefaultMaxPayload  = 32 << 20
	DefaultMaxInFlight = 256
)

// Server serves one export over any number of connections.
type Server struct {
	export Export
	opts   Options
	flags  uint16 // transmission flags but TransSendDF, which depends on the session

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup
	counts    counters
}

// counters are a Server's Stats, counted as requests go.
type counters struct {
	connections, requests, errors              atomic.Uint64
	reads, writes, flushes, trims, writeZeroes atomic.Uint64
	bytesRead, bytesWritten                    atomic.Uint64
}

// Stats count what a Server has served, over every connection.
type Stats struct {
	// Connections counts connections accepted (or passed to ServeConn).
	Connections uint64
	// Requests counts requests read in the transmission phase, the
	// refused ones included; Errors counts replies that carried an
	// error.
	Requests, Errors uint64
	// Reads, Writes, Flushes, Trims and WriteZeroes count the requests
	// handed to the export by command (a FUA's flush is not counted).
	Reads, Writes, Flushes, Trims, WriteZeroes uint64
	// BytesRead and BytesWritten count the payload bytes of successful
	// reads and writes.
	BytesRead, BytesWritten uint64
}

// NewServer returns a server of export with opts. It fails if opts are
// inconsistent.
func NewServer(export Export, opts Options) (*Server, error) {
	if export == nil {
		return nil, errors.New("nbd: no export")
	}
	if opts.MinBlock == 0 {
		opts.MinBlock = 1
	}
	if opts.PreferredBlock == 0 {
		opts.PreferredBlock = max(4096, opts.MinBlock)
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	pow2 := func(v uint32) bool { return v&(v-1) == 0 }
	switch {
	case !pow2(opts.MinBlock) || !pow2(opts.PreferredBlock) || opts.MinBlock > 64<<10:
		return nil, fmt.Errorf("nbd: block sizes %d and %d must be powers of two, the minimum at most 64 KiB", opts.MinBlock, opts.PreferredBlock)
	case opts.PreferredBlock < opts.MinBlock || opts.MaxPayload < opts.PreferredBlock:
		return nil, fmt.Errorf("nbd: block sizes must grow: minimum %d, preferred %d, maximum payload %d", opts.MinBlock, opts.PreferredBlock, opts.MaxPayload)
	case len(opts.Name) > maxString || len(opts.Description) > maxString:
		return nil, fmt.Errorf("nbd: export name and description must be at most %d bytes", maxString)
	}
	flags := TransHasFlags | TransSendFlush | TransSendFUA | TransCanMultiConn
	if opts.ReadOnly {
		flags |= TransReadOnly
	} else {
		flags |= TransSendTrim | TransSendWriteZeroes
	}
	return &Server{
		export: export, opts: opts, flags: flags,
		listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
	}, nil
}

// ErrServerClosed is returned by Serve and ServeConn after Shutdown.
var ErrServerClosed = errors.New("nbd: server closed")

// Serve accepts connections on l and serves each on its own goroutine
// until Shutdown; it then returns ErrServerClosed. Any other accept error
// is returned as is, l closed.
func (s *Server) Serve(l net.Listener) error {
	if !s.enter(func() { s.listeners[l] = struct{}{} }, l) {
		return ErrServerClosed
	}
	defer s.locked(func() { delete(s.listeners, l) })
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			l.Close()
			return err
		}
		go func() {
			if err := s.ServeConn(nc); err != nil && !errors.Is(err, ErrServerClosed) {
				s.logf("nbd: %s: %v", remoteName(nc), err)
			}
		}()
	}
}

// remoteName names the peer of nc for logs.
func remoteName(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return "client"
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.ErrorLog != nil {
		s.opts.ErrorLog(fmt.Sprintf(format, args...))
	}
}

// ServeConn serves one connection, handshake then transmission, and
// closes it. It returns once every request it read is answered (or the
// connection broke) and the export is done with all of them: nil when the
// client ended the session (NBD_OPT_ABORT, NBD_CMD_DISC, or closing the
// connection between requests), ErrServerClosed after Shutdown, or the
// error that ended it.
func (s *Server) ServeConn(nc net.Conn) error {
	c := &conn{s: s, nc: nc}
	if !s.enter(func() { s.conns[c] = struct{}{}; s.wg.Add(1) }, nc) {
		return ErrServerClosed
	}
	s.counts.connections.Add(1)
	defer s.wg.Done()
	defer s.locked(func() { delete(s.conns, c) })
	return c.serve()
}

// enter runs register under the server's lock, unless Shutdown has begun:
// then it closes x instead and returns false.
func (s *Server) enter(register func(), x io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		x.Close()
		return false
	}
	register()
	return true
}

// locked runs f under the server's lock.
func (s *Server) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// Shutdown stops the server: it closes the listeners, stops reading
// requests (each connection answers the requests it has read, then
// closes; a connection still in its handshake closes at once) and waits
// until every connection is closed, or ctx is done, when it closes the
// rest and returns ctx's error. Requests the export still holds then are
// answered into the void when the export finishes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Stats returns the server's counts so far.
func (s *Server) Stats() Stats {
	k := &s.counts
	return Stats{
		Connections: k.connections.Load(), Requests: k.requests.Load(), Errors: k.errors.Load(),
		Reads: k.reads.Load(), Writes: k.writes.Load(), Flushes: k.flushes.Load(),
		Trims: k.trims.Load(), WriteZeroes: k.writeZeroes.Load(),
		BytesRead: k.bytesRead.Load(), BytesWritten: k.bytesWritten.Load(),
	}
}

// conn is one connection.
type conn struct {
	s          *Server
	nc         net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	structured bool // structured replies negotiated
	noZeroes   bool

	replies  chan *Request
	slots    chan struct{} // one per request in flight
	inflight sync.WaitGroup
}

// stop makes the connection stop reading: a read in progress fails at
// once with a timeout, which the reader takes as the end.
func (c *conn) stop() { c.nc.SetReadDeadline(time.Now()) }

// stopped reports whether Shutdown began.
func (c *conn) stopped() bool { return c.s.closing.Load() }

func (c *conn) serve() error {
	defer c.nc.Close()
	c.br = bufio.NewReaderSize(c.nc, 64<<10)
	c.bw = bufio.NewWriterSize(c.nc, 64<<10)
	if c.stopped() {
		return ErrServerClosed
	}
	enter, err := c.handshake()
	if err != nil {
		if c.stopped() && isTimeout(err) {
			return ErrServerClosed
		}
		return fmt.Errorf("handshake: %w", err)
	}
	if !enter {
		return nil // NBD_OPT_ABORT
	}
	return c.transmit()
}

// isTimeout reports whether err is a deadline's (Shutdown's stop).
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// transmit runs the transmission phase: this goroutine reads requests
// and hands them to the export; a second writes the replies.
func (c *conn) transmit() error {
	n := c.s.opts.MaxInFlight
	c.replies = make(chan *Request, n)
	c.slots = make(chan struct{}, n)
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.writeReplies() }()
	readErr := c.readRequests()
	c.inflight.Wait()
	close(c.replies)
	werr := <-writeErr
	if werr == nil && c.stopped() {
		c.linger()
	}
	switch {
	case readErr != nil && !errors.Is(readErr, errClientGone):
		return readErr
	case werr != nil && readErr == nil:
		return fmt.Errorf("write reply: %w", werr)
	case c.stopped():
		return ErrServerClosed
	}
	return nil
}

// lingerTime bounds how long a connection closed by Shutdown waits for the
// client to close its end.
const lingerTime = 2 * time.Second

// linger ends a connection Shutdown stopped, once its replies are sent:
// it closes the sending half, so the client reads every reply and then
// the end, and discards what the client still sends until it closes its
// end (or lingerTime passes). Closing with requests unread would reset
// the connection, and a client may then lose replies already sent.
func (c *conn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, c.br)
}

// errClientGone ends reading when the writer found the connection
// broken; the writer's error is the one reported.
var errClientGone = errors.New("connection broken")

// readRequests reads requests until the client ends the session, the
// connection fails or Shutdown stops it. It returns nil for a clean end.
func (c *conn) readRequests() error {
	var hdr [requestHeaderLen]byte
	for {
		if c.stopped() {
			return nil
		}
		c.slots <- struct{}{}
		if _, err := io.ReadFull(c.br, hdr[:1]); err != nil {
			<-c.slots
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), isTimeout(err) && c.stopped():
				// Between requests: the client closed (a reset when it
				// left replies unread), or Shutdown stopped reading.
				return nil
			case errors.Is(err, net.ErrClosed):
				return errClientGone
			}
			return fmt.Errorf("read request: %w", err)
		}
		if _, err := io.ReadFull(c.br, hdr[1:]); err != nil {
			<-c.slots
			if isTimeout(err) && c.stopped() {
				return nil // Shutdown: the request is not answered
			}
			return fmt.Errorf("read request: connection closed mid-request: %w", err)
		}
		h := decodeRequest(hdr[:])
		if h.magic != RequestMagic {
			<-c.slots
			return fmt.Errorf("request magic %#08x is not NBD_REQUEST_MAGIC %#08x", h.magic, RequestMagic)
		}
		if h.cmd == CmdDisc {
			<-c.slots
			return nil
		}
		c.s.counts.requests.Add(1)
		r := &Request{c: c, Cmd: h.cmd, cmd: h.cmd, Flags: h.flags, Handle: h.handle, Offset: h.offset, Length: h.length, length: h.length}
		c.inflight.Add(1)
		errno, msg := c.validate(r)
		if r.cmd == CmdWrite {
			if h.length > c.s.opts.MaxPayload {
				// Its payload cannot be skipped cheaply: end the session.
				r.Done(Errorf(EINVAL, "write of %d bytes exceeds the maximum payload of %d", h.length, c.s.opts.MaxPayload))
				return fmt.Errorf("write of %d bytes at %d exceeds the maximum payload of %d bytes", h.length, h.offset, c.s.opts.MaxPayload)
			}
			r.buf = getBuf(int(h.length))
			if _, err := io.ReadFull(c.br, r.buf); err != nil {
				putBuf(r.buf)
				r.buf = nil
				c.inflight.Done()
				<-c.slots
				if isTimeout(err) && c.stopped() {
					return nil
				}
				return fmt.Errorf("read write payload (%d bytes at %d): connection closed mid-request: %w", h.length, h.offset, err)
			}
		}
		if errno != 0 {
			r.Done(&Error{Errno: errno, Err: errors.New(msg)})
			continue
		}
		k := &c.s.counts
		switch r.cmd {
		case CmdRead:
			r.buf = getBuf(int(h.length))
			k.reads.Add(1)
		case CmdWrite:
			k.writes.Add(1)
		case CmdFlush:
			k.flushes.Add(1)
		case CmdTrim:
			k.trims.Add(1)
		case CmdWriteZeroes:
			k.writeZeroes.Add(1)
		}
		if r.Length == 0 && r.cmd != CmdFlush {
			r.Done(nil) // nothing to do
			continue
		}
		r.Data = r.buf
		c.s.export.Submit(r)
	}
}

// Flags each command accepts (FUA is accepted on every command, as
// proto.md requires once NBD_FLAG_SEND_FUA is advertised).
var allowedFlags = map[Command]uint16{
	CmdRead:        CmdFlagFUA | CmdFlagDF,
	CmdWrite:       CmdFlagFUA,
	CmdFlush:       CmdFlagFUA,
	CmdTrim:        CmdFlagFUA,
	CmdWriteZeroes: CmdFlagFUA | CmdFlagNoHole,
}

// validate returns the error value r must be refused with, and why, or 0.
func (c *conn) validate(r *Request) (Errno, string) {
	allowed, known := allowedFlags[r.cmd]
	switch {
	case !known:
		return EINVAL, fmt.Sprintf("unsupported command %s", r.cmd)
	case r.Flags&^allowed != 0:
		return EINVAL, fmt.Sprintf("%s: unsupported flags %#x", r.cmd, r.Flags&^allowed)
	case r.Flags&CmdFlagDF != 0 && !c.structured:
		return EINVAL, "read: NBD_CMD_FLAG_DF without structured replies"
	case r.cmd == CmdFlush && (r.Offset != 0 || r.Length != 0):
		return EINVAL, fmt.Sprintf("flush with offset %d and length %d (both must be 0)", r.Offset, r.Length)
	case r.cmd == CmdFlush:
		return 0, ""
	case c.s.opts.ReadOnly && r.cmd != CmdRead:
		return EPERM, fmt.Sprintf("%s refused: the export is read-only", r.cmd)
	case r.cmd == CmdRead && r.Length > c.s.opts.MaxPayload:
		return EINVAL, fmt.Sprintf("read of %d bytes exceeds the maximum payload of %d", r.Length, c.s.opts.MaxPayload)
	case r.Offset > c.s.opts.Size || uint64(r.Length) > c.s.opts.Size-r.Offset:
		errno := EINVAL
		if r.cmd == CmdWrite || r.cmd == CmdWriteZeroes {
			errno = ENOSPC
		}
		return errno, fmt.Sprintf("%s of %d bytes at %d is past the end of the export (%d bytes)", r.cmd, r.Length, r.Offset, c.s.opts.Size)
	}
	return 0, ""
}

// writeReplies writes a reply for every request on c.replies until it is
// closed, flushing whenever no further reply is waiting. After a write
// fails it closes the connection (so the reader stops) and goes on
// draining, so that completions never block.
func (c *conn) writeReplies() error {
	var werr error
	for r := range c.replies {
		if werr == nil {
			werr = c.writeReply(r)
			if werr == nil && len(c.replies) == 0 {
				werr = c.bw.Flush()
			}
			if werr != nil {
				c.nc.Close()
			}
		}
		if r.buf != nil {
			putBuf(r.buf)
			r.buf, r.Data = nil, nil
		}
		<-c.slots
	}
	return werr
}

// writeReply writes r's reply into c.bw.
func (c *conn) writeReply(r *Request) error {
	errno := errnoOf(r.err)
	switch k := &c.s.counts; {
	case errno != 0:
		k.errors.Add(1)
	case r.cmd == CmdRead:
		k.bytesRead.Add(uint64(r.length))
	case r.cmd == CmdWrite:
		k.bytesWritten.Add(uint64(r.length))
	}
	var b [structuredHeaderLen + 8]byte
	if !c.structured {
		putSimpleReply(b[:], errno, r.Handle)
		if _, err := c.bw.Write(b[:simpleReplyLen]); err != nil {
			return err
		}
		if errno == 0 && r.cmd == CmdRead {
			_, err := c.bw.Write(r.buf[:r.length])
			return err
		}
		return nil
	}
	switch {
	case errno != 0:
		msg := r.err.Error()
		if len(msg) > maxString {
			msg = msg[:maxString]
		}
		putChunkHeader(b[:], ReplyFlagDone, ChunkError, r.Handle, uint32(6+len(msg)))
		putErrorPayload(b[structuredHeaderLen:], errno, len(msg))
		if _, err := c.bw.Write(b[:structuredHeaderLen+6]); err != nil {
			return err
		}
		_, err := c.bw.WriteString(msg)
		return err
	case r.cmd == CmdRead && r.length > 0:
		putChunkHeader(b[:], ReplyFlagDone, ChunkOffsetData, r.Handle, 8+r.length)
		putUint64(b[structuredHeaderLen:], r.Offset)
		if _, err := c.bw.Write(b[:structuredHeaderLen+8]); err != nil {
			return err
		}
		_, err := c.bw.Write(r.buf[:r.length])
		return err
	}
	putChunkHeader(b[:], ReplyFlagDone, ChunkNone, r.Handle, 0)
	_, err := c.bw.Write(b[:structuredHeaderLen])
	return err
}
