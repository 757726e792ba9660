package workloads

import (
	"errors"
	"fmt"
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
		{"unclosed header", "[a\nbs=4k\n", []string{"bad.fio:1:", "no closing ]"}},
		{"empty section name", "[ ]\n", []string{"bad.fio:1:", "section name is empty"}},
		{"empty", "; nothing\n", []string{"no job sections"}},
		{"two errors", "[a]\nbs=x\n[b]\nrw=nope\n", []string{"bad.fio:2:", "bad.fio:4:"}},
		{"empty value", "[a]\nrw=write\nbs=\n", []string{"bad.fio:3:", "[a] bs=: empty value"}},
		{"empty value of a boolean", "[a]\nprefill=\n", []string{"bad.fio:2:", "[a] prefill=: empty value"}},
		{"empty key", "[a]\n=4k\n", []string{"bad.fio:2:", "[a] =4k: empty key"}},
		{"control character in a value", "[a]\nrw=\x1b[2Jwrite\n", []string{"bad.fio:2: not a text file: control character 0x1b at column 4"}},
		{"prefill beyond the limit", "[a]\nrw=randwrite\npattern=rewrite\nsize=16t\nruntime=10\n", []string{"bad.fio:4:", "[a] size=16t", "limit of 16777216"}},
		{"prefill ops beyond the limit", "[a]\nrw=randread\nprefill\nsize=16t\nops=100000000\n", []string{"bad.fio:5:", "[a] ops=100000000", "fewer ops"}},
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

// TestParseJobFileNotText checks input that is not a text file, or has a
// line beyond MaxJobLine, is refused in one line naming the file and the
// line, however much of it there is.
func TestParseJobFileNotText(t *testing.T) {
	binary := make([]byte, 1<<20) // an executable: a header, then NULs and bytes of every value
	copy(binary, "\x7fELF\x02\x01\x01")
	for i := 4096; i < len(binary); i++ {
		binary[i] = byte(i * 7)
	}
	long := "[a]\n; " + strings.Repeat("x", MaxJobLine) + "\nrw=write\n"
	tests := []struct {
		name, file, want string
	}{
		{"executable", string(binary), "bad.fio:1: not a text file: control character 0x7f at column 1"},
		{"NUL bytes", "[a]\nrw=write\n\x00\x00\x00\n", "bad.fio:3: not a text file: NUL byte at column 1"},
		{"NULs without a line end", "[a]\n" + strings.Repeat("\x00", 3*MaxJobLine), "bad.fio:2: not a text file: NUL byte at column 1"},
		{"invalid UTF-8", "[a]\nrw=wr\xffite\n", "bad.fio:2: not a text file: invalid UTF-8 byte 0xff at column 6"},
		{"C1 control", "[a]\nrw=write\u009b\n", "bad.fio:2: not a text file: control character 0x9b at column 9"},
		{"UTF-16", "\xff\xfe[\x00a\x00]\x00\n\x00", "bad.fio:1: not a text file: UTF-16 byte order mark"},
		{"long line", long, "bad.fio:2: line longer than 65536 bytes"},
		{"long line without an end", "[a]\n" + strings.Repeat("y", 3*MaxJobLine), "bad.fio:2: line longer than 65536 bytes"},
		{"long line of multibyte characters", "[a]\n; " + strings.Repeat("\u00e9", MaxJobLine), "bad.fio:2: line longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJobFile(strings.NewReader(tt.file), "bad.fio")
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.want) || strings.Contains(msg, "\n") || len(msg) > 200 {
				t.Errorf("error %q, want one line starting %q", msg, tt.want)
			}
		})
	}
	// The longest line allowed, with either line ending, is read.
	for _, end := range []string{"\n", "\r\n", ""} {
		ok := "[a]\nrw=write\n; " + strings.Repeat("z", MaxJobLine-2) + end
		if _, err := ParseJobFile(strings.NewReader(ok), "ok.fio"); err != nil {
			t.Errorf("line of %d bytes ending %q: %v", MaxJobLine, end, err)
		}
	}
}

// TestParseJobFileBOM checks a UTF-8 byte order mark is skipped, and
// CRLF line endings read as LF.
func TestParseJobFileBOM(t *testing.T) {
	jobs, err := ParseJobFile(strings.NewReader("\xef\xbb\xbf[a]\r\nrw=write\r\nsize=1m\r\n"), "bom.fio")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Name != "a" || jobs[0].RW != RWWrite || jobs[0].Size != 1<<20 {
		t.Errorf("jobs %+v", jobs)
	}
}

// TestParseJobFileManyErrors checks a file with many bad lines reports
// the first few and how many more, not every one.
func TestParseJobFileManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("[a]\n")
	for i := range 500 {
		fmt.Fprintf(&b, "nokey%d=1\n", i)
	}
	_, err := ParseJobFile(strings.NewReader(b.String()), "many.fio")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxJobFileErrors+1 || lines[len(lines)-1] != "many.fio: 480 more problems" || !strings.HasPrefix(lines[0], "many.fio:2: [a] nokey0=1") {
		t.Errorf("%d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Line != 2 {
		t.Errorf("error %v does not hold the first *KeyError", err)
	}
}
