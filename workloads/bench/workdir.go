package bench

import (
	"fmt"
	"os"
	"time"

	"github.com/qedharness/qedharness/workloads"
)

// The work directory is the directory Run makes inside Config.Dir for
// the file backend's runs and the baselines (each run makes its own
// directory inside it). Run removes it at the end, and when its context
// is done, so that nothing it created is left behind and nothing else in
// Config.Dir is touched.

// makeWorkdir makes a work directory inside parent ("" means the
// system's temporary directory) and returns its path.
func makeWorkdir(parent string) (string, error) {
	d, err := os.MkdirTemp(parent, workloads.WorkdirPattern)
	if err != nil {
		return "", fmt.Errorf("work directory: %w", err)
	}
	return d, nil
}

// removeWorkdir removes the work directory dir and everything in it. A
// run may be creating files in it at the time (when Run is interrupted):
// it tries a few times.
func removeWorkdir(dir string) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("remove work directory: %w", err)
}
