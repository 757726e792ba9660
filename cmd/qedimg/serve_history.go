package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// newObserver returns an observer recording the history of im, the image
// at path (whose header is ih), judged against its initial content: its
// backing file's sectors, read through a storage of its own (returned, for
// the caller to close), and zeros after them.
func newObserver(path string, ih imageHeader, im *impl.Image) (*history.Observer, *impl.FileStorage, error) {
	start := time.Now()
	opts := history.ObserverOptions{Clock: func() int64 { return int64(time.Since(start)) }}
	var backing *impl.FileStorage
	if ih.backing != "" {
		var err error
		if backing, err = impl.OpenFileStorage(impl.ResolveBacking(path, ih.backing), true); err != nil {
			return nil, nil, fmt.Errorf("-history: backing file: %w", err)
		}
		size, err := backing.Size()
		if err != nil {
			backing.Close()
			return nil, nil, fmt.Errorf("-history: backing file: %w", err)
		}
		n := min(uint64(size), im.Geometry().ImageSize)
		opts.Disk = model.Disk{BackingSectors: (n + history.SectorSize - 1) / history.SectorSize}
		opts.Initial = func(s uint64, buf []byte) error {
			k, err := backing.ReadAt(buf, int64(s*history.SectorSize))
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			clear(buf[k:])
			return nil
		}
	}
	return history.NewObserver(im, opts), backing, nil
}

// writeHistory writes the history rec recorded to path in its text form,
// or says why it cannot be judged.
func writeHistory(path string, rec *history.Observer) error {
	if rec.Unaligned > 0 {
		return fmt.Errorf("-history: %d requests did not cover whole %d-byte sectors, so the history cannot be judged; %s not written", rec.Unaligned, history.SectorSize, path)
	}
	if rec.Err != nil {
		return fmt.Errorf("-history: %w; %s not written", rec.Err, path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-history: %w", err)
	}
	h := rec.History()
	err = h.WriteText(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-history: write %s: %w", path, err)
	}
	return nil
}
