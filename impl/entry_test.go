package impl

import (
	"strings"
	"testing"
)

// TestL2EntryOf checks the entry L2EntryOf reads for each kind of
// cluster, and its errors.
func TestL2EntryOf(t *testing.T) {
	files := Files{Image: NewMemStorage()}
	const size = 8 << 20
	if err := Create(files.Image, size, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	im, err := Open(files, NewMemBackend(files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.WriteAt(make([]byte, 4096), 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		st      Storage
		off     uint64
		want    string // "unalloc", "zero" or "data"
		wantErr string
	}{
		{"unallocated, table present", files.Image, 0, "unalloc", ""},
		{"allocated", files.Image, 64<<10 + 100, "data", ""},
		{"past the end", files.Image, size, "", "past the image end"},
		{"not an image", NewMemStorageFrom(make([]byte, 4096)), 0, "", "magic"},
		{"too short", NewMemStorageFrom([]byte("QED")), 0, "", "read the header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := L2EntryOf(c.st, c.off)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := wzClass(e); got != c.want {
				t.Errorf("entry %#x is %s, want %s", e, got, c.want)
			}
		})
	}
}
