package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/serve"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// serveConfig is what "qedimg serve" was asked to do.
type serveConfig struct {
	path     string
	socket   string // a Unix socket path, or ""
	port     int    // a loopback TCP port (0: any free one), or -1
	name     string // the export's name
	readOnly bool
	policy   model.Registration
	image    impl.Options // Fill, Metadata, Grow
	direct   bool
	aio      string // threads, io_uring or auto
	history  string // file the history is written to, or ""
	stats    string // file the statistics are written to (JSON), or ""
}

// serveUsage is the synopsis of serve.
const serveUsage = "serve [-f qed] [-policy NAME] (-socket PATH | -port N) [-x NAME] [-r] [-direct] [-aio auto|threads|io_uring] [-fill MODE] [-meta MODE] [-grow=BOOL] [-history FILE] [-stats FILE] IMAGE"

// parseServe parses serve's arguments.
func parseServe(args []string) (serveConfig, error) {
	fs := newFlags("serve")
	imageFormatFlag(fs)
	c := serveConfig{port: -1}
	policy := fs.String("policy", "freeze-any", "allocation `policy`: "+joinNames())
	fs.StringVar(&c.socket, "socket", "", "listen on the Unix socket at `PATH` (qemu-nbd's -k)")
	fs.StringVar(&c.socket, "k", "", "same as -socket")
	port := fs.String("port", "", "listen on TCP `PORT` of 127.0.0.1 only (0: any free port, printed)")
	fs.StringVar(port, "p", "", "same as -port")
	fs.StringVar(&c.name, "x", "", "export `NAME` (clients may also ask for the default, \"\"), as qemu-nbd's -x")
	fs.StringVar(&c.name, "export-name", "", "same as -x")
	fs.BoolVar(&c.readOnly, "r", false, "export read-only (qemu-nbd's -r)")
	fs.BoolVar(&c.readOnly, "read-only", false, "same as -r")
	fs.BoolVar(&c.direct, "direct", false, "O_DIRECT for aligned image I/O, bypassing the page cache (qemu-nbd's --cache=none)")
	fs.StringVar(&c.aio, "aio", "auto", "how I/O reaches the kernel: io_uring, threads (a blocking call per I/O on 64 worker goroutines), or auto (io_uring where the kernel allows it)")
	fill := fs.String("fill", "elide", "`mode` of a new cluster's unwritten part: elide, merged or separate (as runbench -fill)")
	meta := fs.String("meta", "writeback", "when L2 updates are written: `mode` writeback or writethrough (as runbench -meta)")
	grow := fs.Bool("grow", true, "grow the image file ahead of allocation (as runbench -grow)")
	fs.StringVar(&c.history, "history", "", "record every request's call and return and write the history to `FILE` at exit, in the text form runbench check-history judges")
	fs.StringVar(&c.stats, "stats", "", "write the requests served and the server's CPU time to `FILE` (JSON) at exit")
	pos, err := parseArgs(fs, args, "IMAGE")
	if err != nil {
		return c, err
	}
	c.path = pos[0]
	if c.policy, err = model.Lookup(*policy); err != nil {
		return c, usagef("-policy: %v", err)
	}
	if *port != "" {
		n, err := strconv.ParseUint(*port, 10, 16)
		if err != nil {
			return c, usagef("-port: %q is not a TCP port (0 to 65535)", *port)
		}
		c.port = int(n)
	}
	switch {
	case c.socket == "" && c.port < 0:
		return c, usagef("missing -socket PATH or -port N")
	case c.socket != "" && c.port >= 0:
		return c, usagef("-socket and -port exclude each other")
	case len(c.name) > 4096:
		return c, usagef("-x: an export name is at most 4096 bytes")
	}
	switch c.aio {
	case "auto", "threads", "io_uring":
	default:
		return c, usagef("-aio: %q is not auto, threads or io_uring", c.aio)
	}
	if c.image.Fill, err = impl.ParseFillMode(*fill); err != nil {
		return c, usagef("-fill: %v", err)
	}
	if c.image.Metadata, err = impl.ParseMetaMode(*meta); err != nil {
		return c, usagef("-meta: %v", err)
	}
	if !*grow {
		c.image.Grow = impl.GrowOff
	}
	c.image.Policy = c.policy.Policy
	c.image.ReadOnly = c.readOnly
	return c, nil
}

func joinNames() string {
	s := ""
	for i, n := range model.Names() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// runServe implements "qedimg serve": it exports the image over NBD until
// SIGINT or SIGTERM, then stops accepting, answers the requests in
// flight, closes the image cleanly and exits 0.
func runServe(args []string, stdout io.Writer) (int, error) {
	c, err := parseServe(args)
	if err != nil {
		return exitUsage, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveImage(ctx, c, stdout, os.Stderr); err != nil {
		return exitFail, err
	}
	return exitOK, nil
}

// serveStats is what -stats writes.
type serveStats struct {
	Image           string  `json:"image"`
	Policy          string  `json:"policy"`
	AIO             string  `json:"aio"`
	Direct          bool    `json:"direct"`
	Connections     uint64  `json:"connections"`
	Requests        uint64  `json:"requests"`
	Reads           uint64  `json:"reads"`
	Writes          uint64  `json:"writes"`
	Flushes         uint64  `json:"flushes"`
	Trims           uint64  `json:"trims"`
	WriteZeroes     uint64  `json:"write_zeroes"`
	Errors          uint64  `json:"errors"`
	BytesRead       uint64  `json:"bytes_read"`
	BytesWritten    uint64  `json:"bytes_written"`
	WallSeconds     float64 `json:"wall_seconds"`
	UserSeconds     float64 `json:"user_seconds"`
	SysSeconds      float64 `json:"sys_seconds"`
	CPUPerRequestUS float64 `json:"cpu_us_per_request"`
}

// serveImage serves c until ctx is done. It writes one line to stdout
// when it listens ("serving IMAGE ... on unix:PATH") and one when it has
// closed the image, and logs connections that end in an error to logw.
func serveImage(ctx context.Context, c serveConfig, stdout, logw io.Writer) error {
	locks := impl.LocksImageReadWrite
	if c.readOnly {
		locks = impl.LocksImageReadOnly
	}
	lk, ih, err := lockedImage(c.path, locks)
	if err != nil {
		return err
	}
	defer lk.Close()
	blk, err := lockBacking(c.path, ih, impl.LocksBacking)
	if err != nil {
		return err
	}
	defer closeLock(blk)
	fopts := file.Options{Direct: c.direct}
	aio := c.aio
	if aio == "auto" {
		aio = "threads"
		if file.IOUringAvailable() == nil {
			aio = "io_uring"
		}
	}
	if fopts.AIO, err = file.ParseAIOMode(aio); err != nil {
		return err
	}
	im, fb, err := serve.Open(c.path, c.image, fopts)
	if err != nil {
		return err
	}
	size := im.Geometry().ImageSize
	var rec *history.Observer
	var sub serve.Submitter // nil: straight to the image
	var backing *impl.FileStorage
	if c.history != "" {
		if rec, backing, err = newObserver(c.path, ih, im.Image); err != nil {
			im.Close()
			return err
		}
		if backing != nil {
			defer backing.Close()
		}
		sub = rec
	}
	x := serve.NewExport(im, fb, sub)
	minBlock := uint32(1)
	if size%impl.SectorSize == 0 {
		minBlock = impl.SectorSize
	}
	srv, err := nbd.NewServer(x, nbd.Options{
		Name: c.name, Description: "qedimg serve " + filepath.Base(c.path) + " (policy " + c.policy.Name + ")",
		Size: size, ReadOnly: c.readOnly, MinBlock: minBlock,
		ErrorLog: func(msg string) { fmt.Fprintf(logw, "qedimg: serve: %s\n", msg) },
	})
	if err != nil {
		return errors.Join(err, x.Close())
	}
	l, where, err := listen(c)
	if err != nil {
		return errors.Join(err, x.Close())
	}
	startCPU, start := serve.ProcessCPU(), time.Now()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Fprintf(stdout, "serving %s (%d bytes, policy %s, aio %s, direct %v) on %s\n", c.path, size, c.policy.Name, aio, c.direct, where)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("shutdown: %w (connections closed with requests unanswered)", err))
	}
	cancel()
	if err := x.Close(); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("%s: close: %w", c.path, err))
	}
	wall, cpu := time.Since(start), serve.ProcessCPU().Sub(startCPU)
	st := srv.Stats()
	stats := serveStats{
		Image: c.path, Policy: c.policy.Name, AIO: aio, Direct: c.direct,
		Connections: st.Connections, Requests: st.Requests, Reads: st.Reads, Writes: st.Writes,
		Flushes: st.Flushes, Trims: st.Trims, WriteZeroes: st.WriteZeroes, Errors: st.Errors,
		BytesRead: st.BytesRead, BytesWritten: st.BytesWritten,
		WallSeconds: wall.Seconds(), UserSeconds: cpu.User.Seconds(), SysSeconds: cpu.Sys.Seconds(),
	}
	if st.Requests > 0 {
		stats.CPUPerRequestUS = float64((cpu.User + cpu.Sys).Microseconds()) / float64(st.Requests)
	}
	fmt.Fprintf(stdout, "served %d requests (%d reads, %d writes, %d flushes) over %d connections in %.1fs; CPU %.2fs user, %.2fs sys: %.1f us per request; image closed\n",
		st.Requests, st.Reads, st.Writes, st.Flushes, st.Connections, wall.Seconds(), cpu.User.Seconds(), cpu.Sys.Seconds(), stats.CPUPerRequestUS)
	if c.stats != "" {
		if err := writeJSONFile(c.stats, stats); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
	}
	if rec != nil {
		if err := writeHistory(c.history, rec); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
	}
	if serveErr != nil && !errors.Is(serveErr, nbd.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// listen opens the socket c names and returns it and its name for the
// user ("unix:PATH", "tcp:127.0.0.1:PORT"). A Unix socket path that
// exists is replaced only if it is a socket nobody listens on (left by a
// server that was killed).
func listen(c serveConfig) (net.Listener, string, error) {
	if c.socket == "" {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)))
		if err != nil {
			return nil, "", err
		}
		return l, "tcp:" + l.Addr().String(), nil
	}
	if fi, err := os.Lstat(c.socket); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, "", fmt.Errorf("-socket %s: the path exists and is not a socket", c.socket)
		}
		if conn, err := net.Dial("unix", c.socket); err == nil {
			conn.Close()
			return nil, "", fmt.Errorf("-socket %s: a server listens there already", c.socket)
		}
		if err := os.Remove(c.socket); err != nil {
			return nil, "", fmt.Errorf("-socket %s: remove the stale socket: %w", c.socket, err)
		}
	}
	l, err := net.Listen("unix", c.socket)
	if err != nil {
		return nil, "", err
	}
	return l, "unix:" + c.socket, nil
}

// writeJSONFile writes v to path, indented.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
