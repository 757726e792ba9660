package workloads

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJobFileOK(t *testing.T) {
	const file = `; comment
# another comment
[global]
bs=8k
cluster_size=4k

[a]
rw=randwrite
size = 1m

[global]
bs=16k

[b]
rw=read
norandommap
size=2m
`
	jobs, err := ParseJobFile(strings.NewReader(file), "ok.fio")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("got %d jobs, want 2", len(jobs))
	}
	a, b := jobs[0], jobs[1]
	if a.Name != "a" || a.RW != RWRandWrite || a.BlockSize != 8<<10 || a.ClusterSize != 4096 || a.Size != 1<<20 {
		t.Errorf("job a = %+v", a)
	}
	if b.Name != "b" || b.RW != RWRead || b.BlockSize != 16<<10 || b.ClusterSize != 4096 || !b.NoRandomMap || b.Size != 2<<20 {
		t.Errorf("job b = %+v", b)
	}
}

// TestParseJobFileErrors checks that each bad file is refused with an
// error naming the file, the line and the key.
func TestParseJobFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // substrings of the error
	}{
		{"unknown key", "[a]\nrw=write\nblocksz=4k\n", []string{"bad.fio:3:", "[a] blocksz=4k", "unknown key"}},
		{"bad value", "[a]\nbs=4q\n", []string{"bad.fio:2:", "bs=4q", "not a size"}},
		{"impossible combination", "[a]\nrw=randrw\n\npattern=first-touch\n", []string{"bad.fio:4:", "pattern=first-touch", "rw=write or rw=randwrite"}},
		{"default at fault", "[global]\nsize=1k\n[a]\nrw=write\n", []string{"bad.fio:2:", "size=1k", "smaller than bs"}},
		{"bs at fault, set in global", "[global]\nbs=1000\n[a]\n", []string{"bad.fio:2:", "bs=1000"}},
		{"fault of the defaults", "[a]\nrw=randwrite\npattern=first-touch\nops=9999\nsize=1m\n", []string{"bad.fio:4:", "ops=9999", "exceeds"}},
		{"outside a section", "bs=4k\n[a]\n", []string{"bad.fio:1:", "outside a section"}},
		{"duplicate section", "[a]\n[a]\n", []string{"bad.fio:2:", "already defined at line 1"}},
		{"unclosed header", "[a\nbs=4k\n", []string{"bad.fio:1:", "no closing ]"}},
		{"bad section name", "[a b]\n", []string{"bad.fio:1:", "without spaces"}},
		{"empty", "; nothing\n", []string{"no job sections"}},
		{"two errors", "[a]\nbs=x\n[b]\nrw=nope\n", []string{"bad.fio:2:", "bad.fio:4:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJobFile(strings.NewReader(tt.file), "bad.fio")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	_, err := ParseJobFile(strings.NewReader("[a]\nbs=x\n"), "bad.fio")
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "bs" || ke.Line != 2 || ke.File != "bad.fio" {
		t.Errorf("error %v is not a *KeyError for bs at bad.fio:2", err)
	}
}

func TestStandardJobs(t *testing.T) {
	jobs, err := StandardJobs()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, j := range jobs {
		names[j.Name] = true
		p, err := j.Plan()
		if err != nil {
			t.Errorf("%s: %v", j.Name, err)
			continue
		}
		if n := p.OpsPerJob(); n < 512 || n > 8192 {
			t.Errorf("%s: %d ops per run, want a few thousand so the default run stays fast", j.Name, n)
		}
	}
	for _, want := range []string{"first-touch", "rewrite", "same-cluster", "seq-write"} {
		if !names[want] {
			t.Errorf("standard jobs lack %s", want)
		}
	}
}
