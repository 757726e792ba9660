package workloads

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRegions checks where each instance's region lies, as fio's
// get_start_offset (filesetup.c) places subjob k: offset +
// k*offset_increment, a percentage of the image (image_size) in either
// aligning the start up to the smallest block size; without an
// increment, size apart (or all at offset with shared_region).
func TestRegions(t *testing.T) {
	type region struct{ off, size uint64 }
	tests := []struct {
		name  string
		set   map[string]string
		want  []region
		image uint64 // the image's size: the last region's end, rounded up to a cluster (64k)
	}{
		{"size apart", map[string]string{"numjobs": "3", "size": "1m", "offset": "64k"},
			[]region{{64 << 10, 1 << 20}, {64<<10 + 1<<20, 1 << 20}, {64<<10 + 2<<20, 1 << 20}}, 64<<10 + 3<<20},
		{"shared", map[string]string{"numjobs": "3", "size": "1m", "offset": "64k", "shared_region": "1"},
			[]region{{64 << 10, 1 << 20}, {64 << 10, 1 << 20}, {64 << 10, 1 << 20}}, 64<<10 + 1<<20},
		{"increment with gaps", map[string]string{"numjobs": "3", "size": "1m", "offset": "64k", "offset_increment": "4m"},
			[]region{{64 << 10, 1 << 20}, {64<<10 + 4<<20, 1 << 20}, {64<<10 + 8<<20, 1 << 20}}, 64<<10 + 9<<20},
		{"increment overlapping a shared file", map[string]string{"numjobs": "3", "size": "1m", "offset_increment": "256k", "shared_region": "1"},
			[]region{{0, 1 << 20}, {256 << 10, 1 << 20}, {512 << 10, 1 << 20}}, 512<<10 + 1<<20},
		{"increment of 0 is none", map[string]string{"numjobs": "2", "size": "1m", "offset_increment": "0"},
			[]region{{0, 1 << 20}, {1 << 20, 1 << 20}}, 2 << 20},
		{"increment with one job", map[string]string{"size": "1m", "offset": "1m", "offset_increment": "5m"},
			[]region{{1 << 20, 1 << 20}}, 2 << 20},
		// 10% of 100m is 10485760, a multiple of 4k: no alignment.
		{"increment percent", map[string]string{"numjobs": "3", "size": "1m", "image_size": "100m", "offset_increment": "10%"},
			[]region{{0, 1 << 20}, {10 << 20, 1 << 20}, {20 << 20, 1 << 20}}, 100 << 20},
		// 3% of 100m is 3145728 (3m): starts 1m, 4m, 7m.
		{"offset plus increment percent", map[string]string{"numjobs": "3", "size": "1m", "image_size": "100m", "offset": "1m", "offset_increment": "3%", "shared_region": "1"},
			[]region{{1 << 20, 1 << 20}, {4 << 20, 1 << 20}, {7 << 20, 1 << 20}}, 100 << 20},
		// 1% of 1m is 10485.76, so 10485 bytes (fio's integer arithmetic):
		// each start aligned up to bs=4k: 0, 12288 (10485 up), 24576 (20970 up).
		{"increment percent aligned up to bs", map[string]string{"numjobs": "3", "size": "4k", "image_size": "1m", "offset_increment": "1%", "shared_region": "1"},
			[]region{{0, 4 << 10}, {12 << 10, 4 << 10}, {24 << 10, 4 << 10}}, 1 << 20},
		// 33% of 64m (the default base) is 22145925.12, up to 8k
		// (bsrange's smallest size): 22151168; plus k*1m, aligned.
		{"offset percent aligned up to the smallest bs", map[string]string{"numjobs": "2", "size": "1m", "offset": "33%", "bsrange": "8k-64k", "offset_increment": "1m"},
			[]region{{22151168, 1 << 20}, {22151168 + 1<<20, 1 << 20}}, 64 << 20},
		// With an offset percent, fio aligns offset + k*increment, the sum.
		{"offset percent and bytes increment", map[string]string{"numjobs": "2", "size": "64k", "image_size": "1m", "offset": "1%", "offset_increment": "64k"},
			[]region{{12 << 10, 64 << 10}, {76 << 10, 64 << 10}}, 1 << 20},
		{"offset percent alone", map[string]string{"size": "1m", "offset": "33%"},
			[]region{{22147072, 1 << 20}}, 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "r", tt.set)
			var got []region
			for i := range p.Job().NumJobs {
				off, size := p.Region(i)
				got = append(got, region{off, size})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("regions %v, want %v", got, tt.want)
			}
			if p.ImageSize() != tt.image {
				t.Errorf("image %d, want %d", p.ImageSize(), tt.image)
			}
			// Every request of every instance stays in its region.
			for i, s := range p.Streams(1) {
				lo, size := p.Region(i)
				for {
					op, ok := s.Next()
					if !ok {
						break
					}
					if op.Kind != OpFlush && (op.Off < lo || op.Off+op.Len > lo+size) {
						t.Fatalf("instance %d: %v outside [%d, %d)", i, op, lo, lo+size)
					}
				}
			}
		})
	}
}

// TestRegionsRefused checks what offset_increment refuses, naming it.
func TestRegionsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  map[string]string
		key  string
		msg  string
	}{
		{"own files overlapping", map[string]string{"numjobs": "2", "size": "1m", "offset_increment": "512k"},
			"offset_increment", "fio's clones each have a file of their own"},
		{"not sectors", map[string]string{"numjobs": "2", "size": "1m", "offset_increment": "1000"},
			"offset_increment", "multiple of 512"},
		{"past image_size", map[string]string{"numjobs": "3", "size": "1m", "image_size": "4m", "offset_increment": "2m"},
			"image_size", "offset + (numjobs-1)*offset_increment + size"},
		{"size percent cut short", map[string]string{"numjobs": "2", "size": "50%", "image_size": "4m", "offset_increment": "3m", "shared_region": "1"},
			"offset_increment", "fio cuts it short there"},
		{"fresh clusters shared", map[string]string{"numjobs": "2", "size": "1m", "rw": "write", "pattern": "first-touch", "offset_increment": "512k", "shared_region": "1"},
			"offset_increment", "would write the same fresh clusters"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkPlanError(t, tt.set, tt.key, tt.msg) })
	}
}

// TestCrossStripeRegions parses fio's cross-stripe-verify.fio: its 30
// clones of one filename start 124g apart from offset=120k, each region
// runbench's default size; the image ends at the last region's end
// rounded up to a cluster (64k).
func TestCrossStripeRegions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fio", "cross-stripe-verify.fio"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFio(string(b), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Jobs[0].Plan()
	if err != nil {
		t.Fatal(err)
	}
	j := p.Job()
	if j.NumJobs != 30 || !j.SharedRegion || j.OffsetIncrement != 124<<30 || j.Size != 64<<20 || j.Loops != 2 || j.VerifyBacklog != 1 {
		t.Fatalf("job %+v", j)
	}
	for k := range 30 {
		if off, size := p.Region(k); off != 120<<10+uint64(k)*124<<30 || size != 64<<20 {
			t.Errorf("instance %d: region at %d, %d bytes", k, off, size)
		}
	}
	if want := uint64(29*124<<30 + 64<<20 + 128<<10); p.ImageSize() != want {
		t.Errorf("image %d, want %d", p.ImageSize(), want)
	}
}
