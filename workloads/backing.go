package workloads

import (
	"os"

	"github.com/qedharness/qedharness/workloads/history"
)

// writeBackingFile creates path holding size bytes of backing content.
func writeBackingFile(path string, size uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := uint64(0); off < size; {
		n := min(uint64(len(buf)), size-off)
		history.FillBacking(buf[:n], off)
		if _, err := f.WriteAt(buf[:n], int64(off)); err != nil {
			f.Close()
			return err
		}
		off += n
	}
	return f.Close()
}
