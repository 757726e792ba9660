package serve

import (
	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
)

// Open opens the image file at path (and its backing file) on the file
// backend with fopts, the image with opts, and returns the image and its
// backend, ready for NewExport. It takes no locks: a caller that shares
// the file with other programs takes QEMU's (impl.LocksImageReadWrite)
// itself. An error names the file.
func Open(path string, opts impl.Options, fopts file.Options) (*impl.OpenedImage, *file.Backend, error) {
	var fb *file.Backend
	im, err := impl.OpenPath(path, impl.PathOptions{Options: opts, NewBackend: func(files impl.Files, path string) (impl.Backend, error) {
		b, err := file.New(files, path, fopts)
		fb = b
		return b, err
	}})
	if err != nil {
		return nil, nil, err
	}
	return im, fb, nil
}
