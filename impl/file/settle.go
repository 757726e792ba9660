package file

import (
	"fmt"
	"os"

	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// Settle waits until the file system holding dir has finished the work
// earlier runs left it: data and metadata still to write back, journal
// commits, and the discards of files they deleted (on a file system
// mounted with discard these go to the device when the deletion
// commits, seconds later, in the middle of whatever runs then). It is
// syncfs(2) on Linux; elsewhere, an fsync of dir. A harness calls it
// between measured runs, outside their timing.
func Settle(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("settle the file system of %s: %w", dir, err)
	}
	defer f.Close()
	if err := hostio.SyncFS(f); err != nil {
		return fmt.Errorf("settle the file system of %s: %w", dir, err)
	}
	return nil
}
