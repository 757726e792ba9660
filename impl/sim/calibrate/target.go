package calibrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
)

// SimTarget returns a Target that simulates dev in virtual time, its
// jitter seeded by seed, over a storage that keeps no data (reads return
// zeros): measuring it costs no memory however large the region, and
// gives what the sim backend would do with dev. It fails if dev is
// invalid.
func SimTarget(dev sim.Device, seed int64) (Target, error) {
	b, err := sim.New(impl.Files{Image: &discard{}}, dev, seed)
	if err != nil {
		return Target{}, err
	}
	return Target{Backend: b, Clock: b.Now}, nil
}

// discard is an impl.Storage that keeps its size and nothing else.
type discard struct{ size int64 }

// ReadAt fills p with zeros.
func (d *discard) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}

// WriteAt drops p, growing the size as a write would.
func (d *discard) WriteAt(p []byte, off int64) (int, error) {
	d.size = max(d.size, off+int64(len(p)))
	return len(p), nil
}

// Size returns the size.
func (d *discard) Size() (int64, error) { return d.size, nil }

// Truncate sets the size.
func (d *discard) Truncate(size int64) error {
	d.size = size
	return nil
}

// Sync does nothing.
func (d *discard) Sync() error { return nil }

// FileTarget makes a directory of its own inside dir, creates an empty
// file in it and returns a Target over a file backend (impl/file)
// configured by opts on that file, timed by the wall clock (monotonic),
// with a function that closes the backend and removes the file and the
// directory. Nothing else in dir is read, written or removed. The
// cleanup function must be called even after Measure fails; it returns
// the first error closing or removing met.
func FileTarget(dir string, opts file.Options) (Target, func() error, error) {
	own, err := os.MkdirTemp(dir, "runbench-calibrate-")
	if err != nil {
		return Target{}, nil, fmt.Errorf("calibrate: %w", err)
	}
	path := filepath.Join(own, "device.img")
	st, err := impl.CreateFileStorage(path)
	if err != nil {
		return Target{}, nil, errors.Join(fmt.Errorf("calibrate: %w", err), removeOwn(own, path))
	}
	b, err := file.New(impl.Files{Image: st}, path, opts)
	if err != nil {
		return Target{}, nil, errors.Join(fmt.Errorf("calibrate: %w", err), st.Close(), removeOwn(own, path))
	}
	cleanup := func() error {
		return errors.Join(b.Close(), st.Close(), removeOwn(own, path))
	}
	return Target{Backend: b, Clock: wallClock()}, cleanup, nil
}

// wallClock returns the clock FileTarget times with: monotonic
// nanoseconds since the call.
func wallClock() func() int64 {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

// removeOwn removes the file at path and the directory own that
// FileTarget made, by name, so that nothing else could go with them.
func removeOwn(own, path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, os.Remove(own))
}
