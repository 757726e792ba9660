package impl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// validImage returns the bytes of a fresh 1 MiB image with 4 KiB clusters.
func validImage(t *testing.T) []byte {
	t.Helper()
	st := NewMemStorage()
	if err := Create(st, 1<<20, CreateOptions{ClusterSize: 4096, TableSize: 1}); err != nil {
		t.Fatal(err)
	}
	return st.Bytes()
}

func TestOpenBadInput(t *testing.T) {
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	put64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	}
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		backing bool
		want    string
	}{
		{"empty file", func(b []byte) []byte { return b[:0] }, false, "a QED header needs 64"},
		{"truncated header", func(b []byte) []byte { return b[:40] }, false, "a QED header needs 64"},
		{"truncated L1 table", func(b []byte) []byte { return b[:4096+100] }, false, "L1 table at 0x1000"},
		{"wrong magic", put32(0, 0x46495751), false, "magic is"},
		{"cluster size not power of two", put32(4, 5000), false, "cluster size 5000"},
		{"cluster size too small", put32(4, 512), false, "cluster size 512"},
		{"cluster size too large", put32(4, 1<<27), false, "cluster size 134217728"},
		{"table size 3", put32(8, 3), false, "table size 3"},
		{"table size 32", put32(8, 32), false, "table size 32"},
		{"header size past EOF", put32(12, 1000), false, "inside the header"},
		{"header size overflows", put32(12, 1<<21), false, "header size 2097152"},
		{"unknown feature", put64(16, 0x80), false, "unsupported feature bits 0x80"},
		{"L1 misaligned", put64(40, 4097), false, "not cluster-aligned"},
		{"L1 past EOF", put64(40, 1<<30), false, "past end of file"},
		{"L1 inside header", put64(40, 0), false, "inside the header"},
		{"image size not sector multiple", put64(48, 1000), false, "not a multiple of 512"},
		{"image size too large", put64(48, 1<<50), false, "exceeds the maximum"},
		{"backing name outside header", func(b []byte) []byte {
			b = put64(16, FeatureBackingFile)(b)
			b = put32(56, 4090)(b)
			return put32(60, 100)(b)
		}, true, "outside the header"},
		{"backing file missing", func(b []byte) []byte {
			b = put64(16, FeatureBackingFile)(b)
			b = put32(56, 64)(b)
			copy(b[64:], "base.raw")
			return put32(60, 8)(b)
		}, false, `backing file "base.raw"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.mutate(validImage(t))
			st := NewMemStorageFrom(raw)
			files := Files{Image: st}
			if tc.backing {
				files.Backing = NewMemStorage()
			}
			_, err := Open(files, NewMemBackend(files), Options{})
			if err == nil {
				t.Fatalf("Open succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if !bytes.Equal(st.Bytes(), raw) {
				t.Error("failed open changed the image file")
			}
		})
	}
}

func TestOpenWrongMagicIsErrNotQED(t *testing.T) {
	raw := validImage(t)
	raw[0] = 'X'
	files := Files{Image: NewMemStorageFrom(raw)}
	_, err := Open(files, NewMemBackend(files), Options{})
	if !errors.Is(err, ErrNotQED) {
		t.Fatalf("error %v is not ErrNotQED", err)
	}
}

func TestCreateBadGeometry(t *testing.T) {
	tests := []struct {
		name string
		size uint64
		opts CreateOptions
	}{
		{"zero size", 0, CreateOptions{}},
		{"unaligned size", 1000, CreateOptions{}},
		{"cluster 3000", 1 << 20, CreateOptions{ClusterSize: 3000}},
		{"table 5", 1 << 20, CreateOptions{TableSize: 5}},
		{"too large", 1 << 62, CreateOptions{ClusterSize: 4096, TableSize: 1}},
		{"backing name too long", 1 << 20, CreateOptions{ClusterSize: 4096, BackingFile: strings.Repeat("x", 4096)}},
	}
	for _, tc := range tests {
		st := NewMemStorageFrom([]byte("precious"))
		if err := Create(st, tc.size, tc.opts); err == nil {
			t.Errorf("%s: Create succeeded", tc.name)
		}
		if string(st.Bytes()) != "precious" {
			t.Errorf("%s: failed Create changed the storage", tc.name)
		}
	}
}
