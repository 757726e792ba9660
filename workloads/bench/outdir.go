package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkOutDir refuses a results directory Run would overwrite files of
// someone else's in: one that exists, holds files, and is not a results
// directory runbench wrote before (it has no runs.json). A new or empty
// directory, or an earlier run's results, are fine: Run writes only the
// names of its own results there (runs.json, report.html, figures, ...).
func checkOutDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if fi, err := os.Stat(filepath.Join(dir, "runs.json")); err == nil && fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s holds files and no runs.json, so it is not a results directory runbench wrote; runbench would overwrite files of the same names there: choose a new or empty directory", dir)
}
