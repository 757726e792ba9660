package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/qedharness/qedharness/workloads"
)

// workdir is the directory runbench makes inside -dir for the file
// backend's runs (each run makes its own directory inside it). runbench
// removes it at the end, and on SIGINT or SIGTERM before exiting, so that
// nothing it created is left behind and nothing else in -dir is touched.
type workdir struct {
	dir  string
	sigs chan os.Signal
	done chan struct{}

	mu      sync.Mutex
	removed bool
}

// makeWorkdir makes the work directory inside parent. Until close, a
// SIGINT or SIGTERM removes it, says so on stderr and calls exit with
// 128 plus the signal's number.
func makeWorkdir(parent string, stderr io.Writer, exit func(int)) (*workdir, error) {
	w := &workdir{sigs: make(chan os.Signal, 1), done: make(chan struct{})}
	// Catch signals before the directory exists, so that none can leave
	// it behind.
	signal.Notify(w.sigs, os.Interrupt, syscall.SIGTERM)
	d, err := os.MkdirTemp(parent, workloads.WorkdirPattern)
	if err != nil {
		signal.Stop(w.sigs)
		return nil, fmt.Errorf("work directory: %w", err)
	}
	w.dir = d
	go func() {
		select {
		case sig := <-w.sigs:
			if err := w.remove(); err != nil {
				fmt.Fprintf(stderr, "\nrunbench: %v; %v\n", sig, err)
			} else {
				fmt.Fprintf(stderr, "\nrunbench: %v; removed %s\n", sig, d)
			}
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			exit(code)
		case <-w.done:
		}
	}()
	return w, nil
}

// close stops catching signals and removes the directory.
func (w *workdir) close() error {
	signal.Stop(w.sigs)
	close(w.done)
	return w.remove()
}

// remove removes the directory and everything in it, once. A run may be
// creating files in it at the time (on a signal): it tries a few times.
func (w *workdir) remove() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return nil
	}
	var err error
	for try := 0; try < 5; try++ {
		if err = os.RemoveAll(w.dir); err == nil {
			w.removed = true
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("remove work directory: %w", err)
}
