package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSettle(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "written"), []byte("pending"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, wantErr string
	}{
		{"a directory with pending writes", dir, ""},
		{"a file", filepath.Join(dir, "written"), ""},
		{"missing", filepath.Join(dir, "missing"), "settle the file system of " + filepath.Join(dir, "missing")},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Settle(c.dir)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Settle(%s): %v", c.dir, err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Settle(%s) = %v, want an error containing %q", c.dir, err, c.wantErr)
			}
		})
	}
}
