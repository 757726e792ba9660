package file

import (
	"fmt"
	"os"

	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// Cold writes back the file at path and drops its pages from the page
// cache, as fio does before a job (its invalidate=1, the default): a
// run measured next finds none of the file's setup left to write back
// in its window, and no cached pages that its O_DIRECT I/O would have
// to write back or invalidate first (a cached page in the range of an
// O_DIRECT write makes io_uring hand the write to a worker thread).
// Where the system has no posix_fadvise, it only writes back.
func Cold(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cold start of %s: %w", path, err)
	}
	defer f.Close()
	if err := hostio.SyncData(f); err != nil {
		return fmt.Errorf("cold start of %s: write back: %w", path, err)
	}
	if err := hostio.DropCache(f); err != nil {
		return fmt.Errorf("cold start of %s: drop cached pages: %w", path, err)
	}
	return nil
}
