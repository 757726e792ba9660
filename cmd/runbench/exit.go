package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/qedharness/qedharness/workloads/bench"
)

// usageError is a problem with the command line.
type usageError struct{ err error }

// Error returns the problem.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e usageError) Unwrap() error { return e.err }

// flagOf maps the bench.Config fields a bench.SettingError names to
// their flags.
var flagOf = map[string]string{
	"Jobs": "set", "Settings": "set", "Workloads": "workloads", "Policies": "policies", "QDs": "qd",
	"Backends": "backend", "Devices": "device", "Repeat": "repeat", "Warmup": "warmup", "Parallel": "parallel",
	"Out": "out", "Baseline": "baseline", "Linearizability": "linearizability", "Dir": "dir", "Direct": "direct",
	"AIO": "aio", "FileWorkers": "file-workers", "Baselines": "baselines", "Metrics": "metric", "Shard": "shard",
}

// describe renders err for stderr, a bench.SettingError as "-flag: why"
// (or "why" alone for a setting no flag makes: the shard directories of
// a merge).
func describe(err error) string {
	if se, ok := err.(*bench.SettingError); ok {
		if f, ok := flagOf[se.Setting]; ok {
			return fmt.Sprintf("-%s: %v", f, se.Err)
		}
		return se.Err.Error()
	}
	return err.Error()
}

// fail reports err on stderr, each of joined errors on a line of its
// own, and returns runbench's exit status: 0 for nil, 2 for a
// usageError, 128 plus the signal's number for an interruption by one,
// and 1 otherwise.
func fail(stderr io.Writer, err error) int {
	var ue usageError
	var ie *bench.InterruptError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ie):
		fmt.Fprintf(stderr, "\nrunbench: %v\n", err)
		if sig, ok := ie.Cause.(signalError); ok {
			return 128 + int(sig.sig)
		}
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "runbench: %v\nrun 'runbench -h' for usage\n", err)
		return exitUsage
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "runbench: %s\n", describe(e))
	}
	return 1
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

// Error names the signal, as "interrupt".
func (e signalError) Error() string { return e.sig.String() }

// signalContext returns a context that SIGINT or SIGTERM cancels, with a
// signalError as its cause, and a function that stops catching them.
// The signals are caught from the call on, so that none can leave the
// work directory behind.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			sig, _ := s.(syscall.Signal)
			cancel(signalError{sig})
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel(nil) }
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
