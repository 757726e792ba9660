package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckHistory judges history fixtures, in pairs that must pass and
// must fail, and refuses what it cannot read.
func TestCheckHistory(t *testing.T) {
	const ok = "disk backing=0\ncall 1 write s0+2 client=0 t=1\nreturn 1 t=2\ncall 2 read s0+2 client=0 t=3\nreturn 2 t=4 saw=w1/s0,w1/s1\n"
	for _, tc := range []struct {
		name    string
		history string // "" for a missing file
		code    int
		want    string
	}{
		{"write-read-ok", ok, exitHolds, "ok (2 operations"},
		{"write-read-bad", strings.Replace(ok, "saw=w1/s0,w1/s1", "saw=w1/s0,zero", 1), exitViolated, "illegal"},
		{"corrupt-read-bad", strings.Replace(ok, "saw=w1/s0,w1/s1", "saw=w1/s0,corrupt", 1), exitViolated, "saw data that no write wrote"},
		{"concurrent-ok", "disk backing=0\ncall 1 write s0+1 client=0 t=1\ncall 2 read s0+1 client=1 t=2\nreturn 2 t=3 saw=zero\nreturn 1 t=4\n", exitHolds, "ok"},
		{"unmatched-return", "disk backing=0\nreturn 9 t=1\n", exitUsage, "unmatched"},
		{"not-a-history", "hello\n", exitUsage, "check-history"},
		{"missing-file", "", exitUsage, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.txt")
			if tc.history != "" {
				if err := os.WriteFile(path, []byte(tc.history), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out, errb bytes.Buffer
			code := run([]string{"check-history", path}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("exit %d, want %d; output %q %q, want %q", code, tc.code, out.String(), errb.String(), tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-history"}, &out, &errb); code != exitUsage {
		t.Errorf("no argument: exit %d", code)
	}
}
