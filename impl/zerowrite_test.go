package impl

import (
	"bytes"
	"fmt"
	"testing"
)

// zeroStorage is a MemStorage that is a ZeroWriter and counts the zeros
// it was handed without their bytes.
type zeroStorage struct {
	*MemStorage
	zeros int64
}

func (z *zeroStorage) WriteZerosAt(off, n int64) error {
	z.zeros += n
	_, err := z.WriteAt(make([]byte, n), off)
	return err
}

// TestPerformZeroWriter checks a write with a zero head and tail leaves a
// ZeroWriter exactly as a plain write leaves a plain storage, size
// included, whatever the lengths.
func TestPerformZeroWriter(t *testing.T) {
	tests := []struct {
		n, head, tail int
		off           uint64
	}{
		{4096, 0, 0, 0},
		{4096, 1024, 2048, 8192},
		{4096, 4096, 0, 100},
		{4096, 0, 4096, 100},
		{4096, 1000, 0, 0},
		{4096, 0, 96, 50000},
		{65536, 4096, 57344, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n=%d/head=%d/tail=%d", tc.n, tc.head, tc.tail), func(t *testing.T) {
			buf := bytes.Repeat([]byte{7}, tc.n)
			clear(buf[:tc.head])
			clear(buf[tc.n-tc.tail:])
			plain := NewMemStorageFrom(bytes.Repeat([]byte{3}, 12000))
			zs := &zeroStorage{MemStorage: NewMemStorageFrom(bytes.Repeat([]byte{3}, 12000))}
			io := &IO{Op: OpWrite, Off: tc.off, Buf: buf, zeroHead: tc.head, zeroTail: tc.tail}
			if err := Perform(Files{Image: plain}, io); err != nil {
				t.Fatal(err)
			}
			if err := Perform(Files{Image: zs}, io); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain.Bytes(), zs.Bytes()) {
				t.Errorf("storages differ: %d bytes and %d", len(plain.Bytes()), len(zs.Bytes()))
			}
			if zs.zeros != int64(tc.head+tc.tail) {
				t.Errorf("%d zeros handed over, want %d", zs.zeros, tc.head+tc.tail)
			}
		})
	}
}

// TestZeroFillMarked checks the engine marks the zero fill of a new
// cluster, and only a zero fill, and the zeros of a new L2 table, and
// that an image on a ZeroWriter ends as one on a plain storage, for every
// fill mode.
func TestZeroFillMarked(t *testing.T) {
	// The first write of an empty image allocates an L2 table too (of 2
	// 4 KiB clusters), all zeros but the new entry.
	const table = 2*4096 - 8
	tests := []struct {
		fill      FillMode
		backing   bool
		wantZeros int64 // zeros handed over for a 512-byte write at 1024 in a fresh 4 KiB cluster
	}{
		{FillMerged, false, 4096 - 512 + table},
		{FillSeparate, false, 4096 - 512 + table},
		{FillMerged, true, table},
		{FillSeparate, true, table},
		{FillElide, false, table},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("fill=%s/backing=%v", tc.fill, tc.backing), func(t *testing.T) {
			const size = 1 << 20
			copts := CreateOptions{ClusterSize: 4096, TableSize: 2}
			var plainFiles, zFiles Files
			zs := &zeroStorage{MemStorage: NewMemStorage()}
			plainFiles.Image, zFiles.Image = NewMemStorage(), zs
			if tc.backing {
				copts.BackingFile = "b"
				plainFiles.Backing = NewMemStorageFrom(bytes.Repeat([]byte{9}, size))
				zFiles.Backing = NewMemStorageFrom(bytes.Repeat([]byte{9}, size))
			}
			var images [][]byte
			for _, files := range []Files{plainFiles, zFiles} {
				if err := Create(files.Image, size, copts); err != nil {
					t.Fatal(err)
				}
				im, err := Open(files, NewMemBackend(files), Options{Fill: tc.fill})
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range []struct{ off, n int64 }{{1024, 512}, {8192, 4096}, {20000, 7000}, {1024, 100}} {
					if _, err := im.WriteAt(bytes.Repeat([]byte{5}, int(w.n)), w.off); err != nil {
						t.Fatal(err)
					}
					if files.Image == zs && w.off == 1024 && w.n == 512 && zs.zeros != tc.wantZeros {
						t.Errorf("first write handed over %d zeros, want %d", zs.zeros, tc.wantZeros)
					}
				}
				if err := im.Close(); err != nil {
					t.Fatal(err)
				}
				images = append(images, files.Image.(interface{ Bytes() []byte }).Bytes())
			}
			if !bytes.Equal(images[0], images[1]) {
				t.Errorf("images differ: %d bytes and %d", len(images[0]), len(images[1]))
			}
		})
	}
}

// TestBufPoolZeroed checks getZeroed hands out only zeros, whether the
// buffer is new, reused from the plain pool (stale content) or reused
// from the zeroed one.
func TestBufPoolZeroed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(p *bufPool)
	}{
		{"new", func(p *bufPool) {}},
		{"stale from put", func(p *bufPool) {
			p.put(bytes.Repeat([]byte{1}, 8192))
		}},
		{"from putZeroed", func(p *bufPool) {
			p.put(bytes.Repeat([]byte{1}, 8192))
			p.putZeroed(make([]byte, 8192))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p bufPool
			tc.setup(&p)
			b := p.getZeroed(8192)
			if len(b) != 8192 || !bytes.Equal(b, make([]byte, 8192)) {
				t.Errorf("getZeroed returned %d bytes, not all zero", len(b))
			}
		})
	}
}

// TestBufferPool checks a closed image's buffers go to the next image
// opened with the pool, not to two images at once, and that an image on
// reused buffers ends as one on new memory.
func TestBufferPool(t *testing.T) {
	const size = 1 << 20
	copts := CreateOptions{ClusterSize: 4096, TableSize: 2}
	writes := []struct{ off, n int64 }{{1024, 512}, {8192, 4096}, {20000, 7000}, {1024, 100}, {300000, 3000}}
	run := func(bp *BufferPool) []byte {
		st := NewMemStorage()
		if err := Create(st, size, copts); err != nil {
			t.Fatal(err)
		}
		files := Files{Image: st}
		// Merged fills: zeroed cluster buffers to reuse.
		im, err := Open(files, NewMemBackend(files), Options{Buffers: bp, Fill: FillMerged})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range writes {
			if _, err := im.WriteAt(bytes.Repeat([]byte{byte(i + 1)}, int(w.n)), w.off); err != nil {
				t.Fatal(err)
			}
		}
		if err := im.Close(); err != nil {
			t.Fatal(err)
		}
		return st.Bytes()
	}
	want := run(nil)
	bp := &BufferPool{}
	for i := range 3 {
		if got := run(bp); !bytes.Equal(got, want) {
			t.Fatalf("run %d on pooled buffers: image differs", i)
		}
		if len(bp.zeroed[4096]) == 0 || len(bp.tables) != 1 {
			t.Fatalf("run %d gave back %d zeroed cluster buffers and %d L1 tables, want some and 1", i, len(bp.zeroed[4096]), len(bp.tables))
		}
	}
	st := NewMemStorage()
	if err := Create(st, size, copts); err != nil {
		t.Fatal(err)
	}
	files := Files{Image: st}
	a, err := Open(files, NewMemBackend(files), Options{Buffers: bp, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(files, NewMemBackend(files), Options{Buffers: bp, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.eng.pool.zeroed[4096]) == 0 || len(b.eng.pool.zeroed) != 0 || bp.zeroed != nil {
		t.Errorf("first image took %d buffers, second %d, %d left", len(a.eng.pool.zeroed[4096]), len(b.eng.pool.zeroed[4096]), len(bp.zeroed[4096]))
	}
	a.Close()
	b.Close()
	if len(bp.zeroed[4096]) == 0 {
		t.Error("closing gave nothing back")
	}
}

// backedStorage is a MemStorage that is a BackingWriter: it checks that
// what it is handed as backing bytes is the backing file's, and counts
// them.
type backedStorage struct {
	*MemStorage
	backing []byte
	handed  int
	wrong   int
}

func (b *backedStorage) WriteBackingAt(p []byte, off int64, from uint64) error {
	b.handed += len(p)
	if from+uint64(len(p)) > uint64(len(b.backing)) || !bytes.Equal(p, b.backing[from:from+uint64(len(p))]) {
		b.wrong++
	}
	_, err := b.WriteAt(p, off)
	return err
}

// TestBackingFillMarked checks the engine marks a copy-on-write fill as
// the backing file's bytes, at the right offsets, only when they are,
// and that an image on a BackingWriter ends as one on a plain storage.
func TestBackingFillMarked(t *testing.T) {
	const size = 1 << 20
	backing := make([]byte, size-3096) // ends 1000 bytes into the last cluster
	for i := range backing {
		backing[i] = byte(i*7 + i>>9)
	}
	writes := []struct{ off, n int64 }{
		{1024, 512}, {8192, 4096}, {20000, 7000}, {1024, 100}, {size - 4096 + 2000, 200}, {65536 + 4000, 9000},
	}
	for _, fill := range []FillMode{FillMerged, FillSeparate} {
		t.Run(fmt.Sprintf("fill=%s", fill), func(t *testing.T) {
			copts := CreateOptions{ClusterSize: 4096, TableSize: 2, BackingFile: "b"}
			plain := Files{Image: NewMemStorage(), Backing: NewMemStorageFrom(backing)}
			bs := &backedStorage{MemStorage: NewMemStorage(), backing: backing}
			marked := Files{Image: bs, Backing: NewMemStorageFrom(backing)}
			var images [][]byte
			for _, files := range []Files{plain, marked} {
				if err := Create(files.Image, size, copts); err != nil {
					t.Fatal(err)
				}
				im, err := Open(files, NewMemBackend(files), Options{Fill: fill})
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range writes {
					if _, err := im.WriteAt(bytes.Repeat([]byte{5}, int(w.n)), w.off); err != nil {
						t.Fatal(err)
					}
				}
				if err := im.Close(); err != nil {
					t.Fatal(err)
				}
				images = append(images, files.Image.(interface{ Bytes() []byte }).Bytes())
			}
			if !bytes.Equal(images[0], images[1]) {
				t.Errorf("images differ: %d bytes and %d", len(images[0]), len(images[1]))
			}
			if bs.wrong > 0 || bs.handed == 0 {
				t.Errorf("%d backing bytes handed over, %d handovers not the backing file's", bs.handed, bs.wrong)
			}
		})
	}
}
