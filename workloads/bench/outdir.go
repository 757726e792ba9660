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
	return checkOwnDir(dir, "runs.json", "a results directory runbench wrote; runbench would overwrite files of the same names there")
}

// checkOwnDir refuses dir if it exists and holds files but no regular
// file named marker, the sign that runbench wrote it: why says what it
// then is not, and what writing there would do.
func checkOwnDir(dir, marker, why string) error {
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
	if err != nil || len(entries) == 0 {
		return err
	}
	if fi, err := os.Stat(filepath.Join(dir, marker)); err == nil && fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s holds files and no %s, so it is not %s: choose a new or empty directory", dir, marker, why)
}
