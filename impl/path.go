package impl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PathOptions configure OpenPath.
type PathOptions struct {
	Options
	// NewBackend returns the backend the image runs on, over its files
	// (path is the image file's); nil means a MemBackend, which performs
	// each I/O synchronously.
	NewBackend func(files Files, path string) (Backend, error)
}

// OpenedImage is an image opened by path, with the files it holds open.
type OpenedImage struct {
	*Image
	image   *FileStorage
	backing *FileStorage
}

// Close closes the image, then its files.
func (o *OpenedImage) Close() error {
	err := o.Image.Close()
	err = errors.Join(err, o.image.Close())
	if o.backing != nil {
		err = errors.Join(err, o.backing.Close())
	}
	return err
}

// CreatePath creates (or replaces) the image file at path.
func CreatePath(path string, size uint64, opts CreateOptions) error {
	if opts.BackingFile != "" {
		bp := ResolveBacking(path, opts.BackingFile)
		if _, err := os.Stat(bp); err != nil {
			return fmt.Errorf("create %s: backing file: %w", path, err)
		}
	}
	// Validate before touching the file, so a bad geometry leaves no trace.
	if _, _, err := opts.geometry(size); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	st, err := CreateFileStorage(path)
	if err != nil {
		return err
	}
	err = Create(st, size, opts)
	return errors.Join(err, st.Close())
}

// ResolveBacking returns the path of backing file name as stored in the
// image at imagePath: absolute names as they are, relative names relative
// to the image's directory, as QEMU resolves them.
func ResolveBacking(imagePath, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(imagePath), name)
}

// OpenPath opens the image file at path and its raw backing file, if the
// header names one.
func OpenPath(path string, opts PathOptions) (*OpenedImage, error) {
	st, err := OpenFileStorage(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	o := &OpenedImage{image: st}
	fail := func(err error) (*OpenedImage, error) {
		st.Close()
		if o.backing != nil {
			o.backing.Close()
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	first := make([]byte, HeaderLen)
	if n, err := st.ReadAt(first, 0); n < HeaderLen {
		return fail(fmt.Errorf("%w: file has %d bytes, a QED header needs %d (%v)", ErrNotQED, n, HeaderLen, err))
	}
	h, err := DecodeHeader(first)
	if err != nil {
		return fail(err)
	}
	files := Files{Image: st}
	if h.Features&FeatureBackingFile != 0 && h.BackingNameSize > 0 && h.BackingNameSize <= MaxBackingName {
		name := make([]byte, h.BackingNameSize)
		if _, err := st.ReadAt(name, int64(h.BackingNameOffset)); err != nil {
			return fail(fmt.Errorf("read backing file name: %w", err))
		}
		bp := ResolveBacking(path, string(name))
		b, err := OpenFileStorage(bp, true)
		if err != nil {
			return fail(fmt.Errorf("backing file: %w", err))
		}
		o.backing = b
		if h.Features&FeatureBackingFormatNoProbe == 0 {
			if err := refuseImageFormats(b, bp); err != nil {
				return fail(err)
			}
		}
		files.Backing = b
	}
	var be Backend = NewMemBackend(files)
	if opts.NewBackend != nil {
		if be, err = opts.NewBackend(files, path); err != nil {
			return fail(err)
		}
	}
	im, err := Open(files, be, opts.Options)
	if err != nil {
		be.Close()
		return fail(err)
	}
	o.Image = im
	return o, nil
}

// refuseImageFormats rejects a backing file that is itself an image: only
// raw backing files are supported, and QEMU would probe the format here.
func refuseImageFormats(b Storage, path string) error {
	magic := make([]byte, 4)
	if n, _ := b.ReadAt(magic, 0); n < 4 {
		return nil
	}
	for _, f := range []struct {
		name  string
		magic []byte
	}{{"QED", []byte("QED\x00")}, {"qcow2", []byte("QFI\xfb")}} {
		if bytes.Equal(magic, f.magic) {
			return fmt.Errorf("backing file %s is a %s image; only raw backing files are supported", path, f.name)
		}
	}
	return nil
}
