package workloads

import (
	"fmt"
	"os"
)

// WorkdirPattern is the os.MkdirTemp pattern of the directories runs
// (and runbench) make for their files.
const WorkdirPattern = "runbench-*"

// newWorkdir makes a new directory inside parent ("" means os.TempDir())
// for one run's files and returns it with a function that removes it and
// everything in it. A run works only inside the directory it made, so
// it never overwrites or removes a file it did not create, whatever
// parent holds.
func newWorkdir(parent string) (dir string, remove func() error, err error) {
	d, err := os.MkdirTemp(parent, WorkdirPattern)
	if err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	return d, func() error {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove work directory: %w", err)
		}
		return nil
	}, nil
}
