package impl

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// openMem opens the image in img on the mem backend.
func openMem(t *testing.T, img []byte, opts Options) (*Image, *MemStorage) {
	t.Helper()
	st := NewMemStorageFrom(img)
	files := Files{Image: st}
	im, err := Open(files, NewMemBackend(files), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return im, st
}

// TestShortFileKeepsLastCluster is issue 12's third repro: a file one byte
// short of its last cluster. QEMU rounds the length up to a sector, so the
// cluster is whole; an open that rounded down handed it out again, and the
// next allocating write overwrote guest data at another offset.
func TestShortFileKeepsLastCluster(t *testing.T) {
	for _, cut := range []int{1, 100, 511} {
		st := NewMemStorage()
		if err := Create(st, 64<<20, CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		files := Files{Image: st}
		im, err := Open(files, NewMemBackend(files), Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, im, 0, 0x11, 4096)
		mustWrite(t, im, 63<<20, 0x44, 4096)
		if err := im.Close(); err != nil {
			t.Fatal(err)
		}
		img := st.Bytes()
		img = img[:len(img)-cut]
		if r, err := Check(NewMemStorageFrom(img), false); err != nil || !r.Clean() {
			t.Fatalf("cut %d: check of the short file: %+v, %v", cut, r, err)
		}
		im, st = openMem(t, img, Options{})
		mustWrite(t, im, 10<<20, 0x99, 4096)
		if err := im.Close(); err != nil {
			t.Fatal(err)
		}
		im, _ = openMem(t, st.Bytes(), Options{ReadOnly: true})
		mustRead(t, im, 63<<20, 0x44, 4096-cut) // the cut bytes read as zeros
		mustRead(t, im, 10<<20, 0x99, 4096)
		mustRead(t, im, 0, 0x11, 4096)
		if r, err := Check(NewMemStorageFrom(st.Bytes()), false); err != nil || !r.Clean() {
			t.Errorf("cut %d: check after the write: %+v, %v", cut, r, err)
		}
	}
}

// TestNoAllocationOverDamagedReference opens images whose tables reference
// clusters past the end of file (the file was cut short): a write must not
// hand those clusters out, or two guest offsets would share one, and a read
// through such a reference fails rather than returning whatever lands
// there.
func TestNoAllocationOverDamagedReference(t *testing.T) {
	cases := []struct {
		name string
		cut  func(m *chkImage) // damages the image
		bad  uint64            // a guest cluster whose reference is damaged
	}{
		{"data-past-eof", func(m *chkImage) { m.buf = m.buf[:len(m.buf)-chkCS] }, 2},
		{"data-far-past-eof", func(m *chkImage) { m.setEntry(3, m.end()+5*chkCS, 0) }, 3},
		{"table-past-eof", func(m *chkImage) {
			m.write(2*chkEntries, 'e') // table at the end, then its data
			m.buf = m.buf[:len(m.buf)-2*chkCS]
		}, 2 * chkEntries},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newChkImage(1)
			chkBase(m)
			tc.cut(m)
			img := m.bytes()
			end := uint64(len(img))
			im, st := openMem(t, img, Options{})
			if _, err := im.ReadAt(make([]byte, chkCS), int64(tc.bad*chkCS)); err == nil || !strings.Contains(err.Error(), "past end of file") {
				t.Errorf("read through the damaged reference: %v, want a past-end-of-file error", err)
			}
			// Allocate more than the damaged range holds, data and tables.
			for k := uint64(0); k < 6; k++ {
				mustWrite(t, im, (5+k)*chkCS, byte('p'+k), chkCS)
			}
			mustWrite(t, im, 3*chkEntries*chkCS, 'q', chkCS)
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
			out := st.Bytes()
			seen := map[uint64]uint64{}
			for gc := range uint64(4 * chkEntries) {
				d := chkEntryOf(out, gc)
				if d <= ZeroCluster {
					continue
				}
				if d >= end && gc != tc.bad {
					if prev, dup := seen[d]; dup {
						t.Errorf("guest clusters %d and %d share cluster %#x", prev, gc, d)
					}
				}
				seen[d] = gc
			}
			if d := chkEntryOf(out, tc.bad); d > ZeroCluster {
				if other, ok := seen[d]; ok && other != tc.bad {
					t.Errorf("the damaged reference of guest cluster %d now reads guest cluster %d's data", tc.bad, other)
				}
			}
			for k := uint64(0); k < 6; k++ {
				if got := chkReadGuest(out, 5+k); !bytes.Equal(got, bytes.Repeat([]byte{byte('p' + k)}, chkCS)) {
					t.Errorf("guest cluster %d reads %q...", 5+k, got[:8])
				}
			}
		})
	}
}

// chkEntryOf returns guest cluster gc's L2 entry in img, 0 when unmapped.
func chkEntryOf(img []byte, gc uint64) uint64 {
	at := func(off uint64) uint64 {
		if off+8 > uint64(len(img)) {
			return 0
		}
		return binary.LittleEndian.Uint64(img[off:])
	}
	h, _ := DecodeHeader(img)
	t := at(h.L1TableOffset + 8*(gc/chkEntries))
	if t == 0 {
		return 0
	}
	return at(t + 8*(gc%chkEntries))
}

func mustWrite(t *testing.T, im *Image, off uint64, v byte, n int) {
	t.Helper()
	if _, err := im.WriteAt(bytes.Repeat([]byte{v}, n), int64(off)); err != nil {
		t.Fatalf("write %#x at %d: %v", v, off, err)
	}
}

func mustRead(t *testing.T, im *Image, off uint64, v byte, n int) {
	t.Helper()
	buf := make([]byte, n)
	if _, err := im.ReadAt(buf, int64(off)); err != nil {
		t.Fatalf("read at %d: %v", off, err)
	}
	if !bytes.Equal(buf, bytes.Repeat([]byte{v}, n)) {
		t.Errorf("read at %d: got %q..., want %#x", off, buf[:8], v)
	}
}

// TestOpenReclaimsLeakedTail: a crash can leave unreferenced clusters at
// the end of the file (space grown ahead, data whose L2 update never
// landed) with the need-check bit clear. A writable open allocates from
// the start of that tail, writing zeros over what it held, and a clean
// close cuts what stays unused.
func TestOpenReclaimsLeakedTail(t *testing.T) {
	for _, fill := range []FillMode{FillElide, FillMerged} {
		m := newChkImage(1)
		chkBase(m)
		used := m.end()
		m.leak()
		m.leak()
		m.leak()
		img := m.bytes()
		if r, err := Check(NewMemStorageFrom(img), false); err != nil || r.Leaks != 3 {
			t.Fatalf("fixture: %+v, %v", r, err)
		}
		im, st := openMem(t, img, Options{Fill: fill})
		mustWrite(t, im, 5*chkCS+1024, 0x5a, 512)
		if err := im.Close(); err != nil {
			t.Fatal(err)
		}
		out := st.Bytes()
		if e := chkEntryOf(out, 5); e != used {
			t.Errorf("fill=%s: the new cluster went to %#x, want the leaked tail's start %#x", fill, e, used)
		}
		want := make([]byte, chkCS)
		copy(want[1024:], bytes.Repeat([]byte{0x5a}, 512))
		if got := chkReadGuest(out, 5); !bytes.Equal(got, want) {
			t.Errorf("fill=%s: guest cluster 5 reads %x... around the write, want zeros around it", fill, got[:16])
		}
		if r, err := Check(NewMemStorageFrom(out), false); err != nil || !r.Clean() {
			t.Errorf("fill=%s: after close: %+v, %v", fill, r, err)
		}
		if uint64(len(out)) != used+chkCS {
			t.Errorf("fill=%s: file is %d bytes, want %d (the unused tail cut)", fill, len(out), used+chkCS)
		}
		for gc, fill := range m.want {
			if got := chkReadGuest(out, gc); !bytes.Equal(got, bytes.Repeat([]byte{fill}, chkCS)) {
				t.Errorf("guest cluster %d lost its data", gc)
			}
		}
	}
}
