package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/nbd"
	"github.com/qedharness/qedharness/impl/serve"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// nbdServer is one target's server, serving a fresh image on a Unix
// socket until stop.
type nbdServer interface {
	// cpu returns the CPU time the server has used so far.
	cpu() (serve.CPU, error)
	// stop stops serving and puts what the server knows of the run into
	// rec (ours: the image's statistics and, unless ctx is done, its
	// check); its error says why the server failed.
	stop(ctx context.Context, rec *results.Record) error
}

// nbdStopTimeout bounds how long a server may take to answer the
// requests in flight and close its image once told to stop.
const nbdStopTimeout = 30 * time.Second

// runOne runs target once, in a run directory of its own inside work,
// on round's iolog, and returns its record: with its figures, or with
// Error and no figures.
func (s *NBDSetup) runOne(ctx context.Context, target string, round int, seed int64, work, iolog string) results.Record {
	id := results.Record{Policy: target, Workload: NBDWorkload, QD: s.cfg.QD, Backend: results.BackendNBD, Device: s.fsName, Repeat: round, Seed: seed}
	rec := id
	t0 := time.Now()
	if err := s.measure(ctx, target, &rec, work, iolog); err != nil {
		id.Expect, id.Scheme, id.Note, id.Check = rec.Expect, rec.Scheme, rec.Note, rec.Check
		rec = id
		rec.Error = err.Error()
	}
	rec.WallSeconds = time.Since(t0).Seconds()
	return rec
}

// measure starts target's server on a fresh image, runs fio against it,
// stops the server and fills in rec.
func (s *NBDSetup) measure(ctx context.Context, target string, rec *results.Record, work, iolog string) (err error) {
	dir, err := os.MkdirTemp(work, "run-*")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	sock := filepath.Join(dir, "nbd.sock")
	var srv nbdServer
	if results.IsNBDBaseline(target) {
		rec.Check = "-"
		rec.Note = s.baselineNote(target)
		srv, err = s.startQemuNBD(ctx, target, dir, sock)
	} else {
		reg, lerr := model.Lookup(target)
		if lerr != nil {
			return lerr
		}
		rec.Expect = reg.Expect.String()
		j := workloads.DefaultJob()
		rec.Scheme = j.Scheme()
		srv, err = s.startOurs(reg, dir, sock)
	}
	if err != nil {
		return err
	}
	before, err0 := srv.cpu()
	t0 := time.Now()
	f, ferr := runFio(ctx, s.fio, dir, sock, iolog, s.cfg.QD)
	rec.IOWallSeconds = time.Since(t0).Seconds()
	after, err1 := srv.cpu()
	if err := errors.Join(ferr, srv.stop(ctx, rec), err0, err1); err != nil {
		return err
	}
	if err := f.check(s.cfg.Count); err != nil {
		return err
	}
	f.fill(rec)
	cpu := after.Sub(before)
	rec.CPUUserSecs, rec.CPUSysSecs = cpu.User.Seconds(), cpu.Sys.Seconds()
	return nil
}

// baselineNote says how baseline name's runs are made.
func (s *NBDSetup) baselineNote(name string) string {
	format := strings.TrimPrefix(name, "qemu-nbd-")
	return fmt.Sprintf("QEMU's %s driver served by qemu-nbd -f %s --cache=%s --aio=%s, a fresh image from qemu-img create; CPU time is the qemu-nbd process's",
		format, format, s.qemuCache(), s.aio)
}

// qemuCache is qemu-nbd's --cache for NBDConfig.Direct.
func (s *NBDSetup) qemuCache() string {
	if s.cfg.Direct {
		return "none"
	}
	return "writeback"
}

// imageSize is the guest size of every run's image: a cluster per
// write.
func (s *NBDSetup) imageSize() uint64 { return uint64(s.cfg.Count) * nbdClusterSize }

// ourServer is our image under a policy, served in this process as
// qedimg serve serves it.
type ourServer struct {
	path   string
	im     *impl.OpenedImage
	x      *serve.Export
	srv    *nbd.Server
	served chan error
}

// startOurs creates a fresh image at dir/image.qed, opens it under
// reg's policy with the default scheme (workloads.DefaultJob's fill,
// grow and meta) and serves it on sock.
func (s *NBDSetup) startOurs(reg model.Registration, dir, sock string) (*ourServer, error) {
	path := filepath.Join(dir, "image.qed")
	if err := impl.CreatePath(path, s.imageSize(), impl.CreateOptions{ClusterSize: nbdClusterSize, TableSize: nbdTableSize}); err != nil {
		return nil, err
	}
	j := workloads.DefaultJob()
	im, fb, err := serve.Open(path, impl.Options{Policy: reg.Policy, Fill: j.Fill, Grow: j.Grow, Metadata: j.Meta}, file.Options{Direct: s.cfg.Direct, AIO: s.aio})
	if err != nil {
		return nil, err
	}
	o := &ourServer{path: path, im: im, x: serve.NewExport(im, fb, nil), served: make(chan error, 1)}
	// fio abandons the reads at the end of its log, so connections end
	// in broken pipes: nothing to log.
	o.srv, err = nbd.NewServer(o.x, nbd.Options{Description: "runbench nbd (policy " + reg.Name + ")", Size: s.imageSize(), MinBlock: impl.SectorSize})
	if err != nil {
		return nil, errors.Join(err, o.x.Close())
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, errors.Join(err, o.x.Close())
	}
	go func() { o.served <- o.srv.Serve(l) }()
	return o, nil
}

// cpu returns this process's CPU time: the server's, since fio runs in a
// process of its own.
func (o *ourServer) cpu() (serve.CPU, error) { return serve.ProcessCPU(), nil }

// stop shuts the server down, closes the image cleanly, and records its
// statistics and, unless ctx is done (the run is abandoned), its check.
func (o *ourServer) stop(ctx context.Context, rec *results.Record) error {
	sctx, cancel := context.WithTimeout(context.Background(), nbdStopTimeout)
	err := o.srv.Shutdown(sctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("shutdown: %w (connections closed with requests unanswered)", err)
	}
	if serr := <-o.served; serr != nil && !errors.Is(serr, nbd.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if cerr := o.x.Close(); cerr != nil {
		return errors.Join(err, fmt.Errorf("%s: close: %w", o.path, cerr))
	}
	st := o.im.Stats() // the export's loop has stopped: the image is ours again
	rec.Freezes, rec.FrozenSecs = st.Freezes, float64(st.FrozenNanos)/1e9
	rec.DataBytes, rec.MetaBytes, rec.AllocatingWrites = st.DataBytes(), st.MetaBytes(), st.AllocatingWrites
	if st.Requests > 0 {
		rec.HostIOsPerOp = float64(st.HostIOs()) / float64(st.Requests)
	}
	if ctx.Err() != nil {
		return err
	}
	fs, oerr := impl.OpenFileStorage(o.path, true)
	if oerr != nil {
		return errors.Join(err, oerr)
	}
	cr, cerr := impl.Check(fs, false)
	err = errors.Join(err, cerr, fs.Close())
	rec.Check, rec.CheckCorruptions, rec.CheckLeaks = workloads.CheckSummary(cr), cr.Corruptions, cr.Leaks
	return err
}

// qemuServer is qemu-nbd serving a fresh image.
type qemuServer struct {
	cmd  *exec.Cmd
	done chan error // cmd.Wait's result
	out  *tailBuffer
}

// startQemuNBD creates a fresh image of baseline name's format in dir
// with qemu-img and starts qemu-nbd serving it on sock; it returns once
// the socket accepts connections.
func (s *NBDSetup) startQemuNBD(ctx context.Context, name, dir, sock string) (*qemuServer, error) {
	format := strings.TrimPrefix(name, "qemu-nbd-")
	path := filepath.Join(dir, "image."+format)
	opts := fmt.Sprintf("cluster_size=%d", nbdClusterSize)
	if format == "qed" {
		opts += fmt.Sprintf(",table_size=%d", nbdTableSize)
	}
	if out, err := exec.CommandContext(ctx, s.qemuImg, "create", "-q", "-f", format, "-o", opts, path, strconv.FormatUint(s.imageSize(), 10)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img create: %v: %s", err, bytes.TrimSpace(out))
	}
	q := &qemuServer{done: make(chan error, 1), out: &tailBuffer{max: 2048}}
	q.cmd = exec.Command(s.qemuNBD, "-f", format, "--cache="+s.qemuCache(), "--aio="+s.aio.String(), "-t", "-k", sock, path)
	q.cmd.Stdout, q.cmd.Stderr = q.out, q.out
	if err := q.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu-nbd: %w", err)
	}
	go func() { q.done <- q.cmd.Wait() }()
	if err := q.waitListening(ctx, sock); err != nil {
		_ = q.cmd.Process.Kill()
		<-q.done
		return nil, err
	}
	return q, nil
}

// waitListening waits up to 10 seconds for qemu-nbd to accept a
// connection on sock (it creates the socket before it listens).
func (q *qemuServer) waitListening(ctx context.Context, sock string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			return c.Close()
		}
		select {
		case err := <-q.done:
			q.done <- err
			return fmt.Errorf("qemu-nbd exited before it listened (%v): %s", err, q.out)
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("qemu-nbd did not listen on %s within 10s: %s", sock, q.out)
		}
	}
}

// cpu returns qemu-nbd's CPU time so far.
func (q *qemuServer) cpu() (serve.CPU, error) { return procCPU(q.cmd.Process.Pid) }

// stop ends qemu-nbd with SIGTERM (SIGKILL if it has not exited within
// nbdStopTimeout); an exit before that is an error.
func (q *qemuServer) stop(context.Context, *results.Record) error {
	select {
	case err := <-q.done:
		return fmt.Errorf("qemu-nbd exited during the run (%v): %s", err, q.out)
	default:
	}
	_ = q.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-q.done:
		return nil
	case <-time.After(nbdStopTimeout):
		_ = q.cmd.Process.Kill()
		<-q.done
		return fmt.Errorf("qemu-nbd did not exit within %v of SIGTERM; killed", nbdStopTimeout)
	}
}

// userHZ is the unit of the CPU times in /proc/PID/stat: clock ticks of
// USER_HZ, which Linux fixes at 100 per second for user space.
const userHZ = 100

// procCPU returns the CPU time process pid has used so far, from its
// /proc/PID/stat (utime and stime, fields 14 and 15; 10 ms ticks).
func procCPU(pid int) (serve.CPU, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return serve.CPU{}, err
	}
	// Field 2, the command, is in parentheses and may hold anything;
	// field 3 follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	var f []string
	if i >= 0 {
		f = strings.Fields(string(b[i+1:]))
	}
	if len(f) < 13 {
		return serve.CPU{}, fmt.Errorf("%s: cannot read %q", path, b)
	}
	var ticks [2]int64
	for k, s := range f[11:13] {
		if ticks[k], err = strconv.ParseInt(s, 10, 64); err != nil {
			return serve.CPU{}, fmt.Errorf("%s: field %d: %w", path, 14+k, err)
		}
	}
	tick := time.Second / userHZ
	return serve.CPU{User: time.Duration(ticks[0]) * tick, Sys: time.Duration(ticks[1]) * tick}, nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
// It is safe for concurrent use.
type tailBuffer struct {
	max int
	mu  sync.Mutex
	b   []byte
}

// Write keeps the tail of p.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

// String returns what was kept, trimmed, or "(no output)".
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := strings.TrimSpace(string(t.b)); s != "" {
		return s
	}
	return "(no output)"
}
