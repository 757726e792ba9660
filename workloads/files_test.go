package workloads

import (
	"strings"
	"testing"
)

// TestFilesOffsets checks the offsets of a job with several files,
// worked out by hand from fio's __get_next_file and set_io_u_file: the
// region split into equal files, each with its own sequential position,
// chosen as file_service_type says, at most openfiles open at once.
func TestFilesOffsets(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string // offsets in KiB
	}{
		{"roundrobin", map[string]string{"rw": "write", "size": "64k", "nrfiles": "4"},
			"0 16 32 48 4 20 36 52 8 24 40 56 12 28 44 60"},
		{"sequential", map[string]string{"rw": "write", "size": "64k", "nr_files": "4", "file_service_type": "sequential"},
			"0 4 8 12 16 20 24 28 32 36 40 44 48 52 56 60"},
		{"roundrobin:2", map[string]string{"rw": "read", "size": "64k", "nrfiles": "4", "file_service_type": "roundrobin:2"},
			"0 4 16 20 32 36 48 52 8 12 24 28 40 44 56 60"},
		{"two open of four", map[string]string{"rw": "write", "size": "64k", "nrfiles": "4", "openfiles": "2"},
			"0 16 4 20 8 24 12 28 32 48 36 52 40 56 44 60"},
		{"io_size ends a pass, loops start afresh", map[string]string{"rw": "write", "size": "64k", "nrfiles": "4", "io_size": "32k", "loops": "2"},
			"0 16 32 48 4 20 36 52 0 16 32 48 4 20 36 52"},
		{"offset modifier in each file", map[string]string{"rw": "write:4k", "size": "32k", "nrfiles": "2"},
			"0 16 8 24 0 16 8 24"},
		{"offset moves the files", map[string]string{"rw": "write", "size": "16k", "nrfiles": "2", "offset": "1m"},
			"1024 1032 1028 1036"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "f", tt.set)
			if got := offsetsK(drain(p.Streams(1)[0], 1000)); got != tt.want {
				t.Errorf("offsets %s, want %s", got, tt.want)
			}
		})
	}
}

// TestFilesRandom checks random files and random choices: each file
// gets its share of a pass, random offsets take every block of the file
// once (its own random map), and :N keeps N requests on a file.
func TestFilesRandom(t *testing.T) {
	for _, set := range []map[string]string{
		{"rw": "randwrite", "size": "64k", "nrfiles": "4"},
		{"rw": "write", "size": "64k", "nrfiles": "4", "file_service_type": "random"},
		{"rw": "randread", "size": "64k", "nrfiles": "4", "file_service_type": "random:2", "loops": "2"},
	} {
		p := mustPlan(t, "f", set)
		nr := p.Job().FileServiceNr
		for seed := int64(1); seed <= 5; seed++ {
			ops := drain(p.Streams(seed)[0], 1000)
			if uint64(len(ops)) != p.OpsPerJob() {
				t.Fatalf("%v: %d ops, want %d", set, len(ops), p.OpsPerJob())
			}
			for pass := 0; pass < len(ops); pass += 16 {
				seen := map[uint64]bool{}
				for i, op := range ops[pass : pass+16] {
					if seen[op.Off] {
						t.Fatalf("%v seed %d: %v twice in a pass", set, seed, op)
					}
					seen[op.Off] = true
					if nr > 1 && i%nr != 0 && op.Off/(16<<10) != ops[pass+i-1].Off/(16<<10) {
						t.Fatalf("%v seed %d: op %d %v left its file before %d requests", set, seed, i, op, nr)
					}
				}
				if len(seen) != 16 {
					t.Fatalf("%v seed %d: pass touched %d blocks, want 16", set, seed, len(seen))
				}
			}
		}
	}
}

// TestFilesRefused checks what several files refuse.
func TestFilesRefused(t *testing.T) {
	checkPlanError(t, map[string]string{"size": "64k", "nrfiles": "3"}, "nrfiles", "does not split")
	checkPlanError(t, map[string]string{"size": "8k", "nrfiles": "4"}, "nrfiles", "no block")
	checkPlanError(t, map[string]string{"size": "64k", "nrfiles": "4", "io_size": "128k"}, "io_size", "more I/O than the files hold")
	checkPlanError(t, map[string]string{"size": "64k", "nrfiles": "4", "bssplit": "4k/50:8k/50"}, "nrfiles", "block sizes that vary")
	checkPlanError(t, map[string]string{"size": "64k", "nrfiles": "4", "openfiles": "2", "iodepth": "4"}, "openfiles", "queue depth 4")
	p := mustPlan(t, "f", map[string]string{"size": "64k", "nrfiles": "4", "openfiles": "2"})
	if err := p.CheckQD(8); err == nil || !strings.Contains(err.Error(), "openfiles=2") {
		t.Errorf("CheckQD(8): %v, want a refusal naming openfiles", err)
	}
	j := DefaultJob()
	if err := j.Set("file_service_type", "zipf:1.2"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("file_service_type=zipf:1.2: %v, want a refusal", err)
	}
}
