package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"
)

// TestBenchOfTwoCommitsIsOneComparison writes bench.txt for two runs
// that differ in commit, date and load, and reads them as benchstat
// does by default (-table .config -row .fullname -col .file): the files'
// configuration keys must be equal, so that `benchstat OLD/bench.txt
// NEW/bench.txt` prints one table with both columns and a comparison
// per row, not a table per file. A different CPU must still split them
// (wall-clock figures of two machines are not one comparison).
func TestBenchOfTwoCommitsIsOneComparison(t *testing.T) {
	var runs []Record
	for _, pol := range []string{"overlap", "freeze-any"} {
		for _, qd := range []int{1, 32} {
			for rep := 1; rep <= 5; rep++ {
				runs = append(runs, Record{Policy: pol, Workload: "first-touch", QD: qd, Backend: "sim", Device: "nvme", Repeat: rep,
					Ops: 1000, Seconds: 0.01 * float64(rep), OpsPerSec: 1e5 / float64(rep)})
			}
		}
	}
	prov := Provenance{Commit: "1111111111111111111111111111111111111111", OS: "linux", Arch: "amd64", CPUModel: "Some CPU",
		Date: "2026-12-01T10:00:00Z", LoadAvg: "0.1 0.1 0.1"}
	write := func(name string, p Provenance) string {
		t.Helper()
		var b strings.Builder
		if err := WriteBench(&b, &p, runs, "freeze-any"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name, "bench.txt")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	other := prov
	other.Commit, other.Date, other.Dirty, other.LoadAvg = "2222222222222222222222222222222222222222", "2026-12-02T10:00:00Z", true, "1.9 1.5 1.2"
	oldPath, newPath := write("old", prov), write("new", other)
	if b, _ := os.ReadFile(newPath); !strings.Contains(string(b), other.Commit) {
		t.Errorf("bench.txt does not name its commit:\n%s", b)
	}

	tables, cols, fileConfig := readAsBenchstat(t, oldPath, newPath)
	if tables != 1 || cols != 2 {
		t.Errorf("benchstat would print %d tables of %d columns, want 1 of 2", tables, cols)
	}
	if fileConfig[oldPath] != fileConfig[newPath] || strings.Contains(fileConfig[oldPath], "commit") {
		t.Errorf("configuration of %s:\n%s\nof %s:\n%s", oldPath, fileConfig[oldPath], newPath, fileConfig[newPath])
	}

	elsewhere := prov
	elsewhere.CPUModel = "Another CPU"
	if tables, _, _ := readAsBenchstat(t, oldPath, write("elsewhere", elsewhere)); tables != 2 {
		t.Errorf("files from two CPUs make %d tables, want 2", tables)
	}
}

// readAsBenchstat reads paths with benchfmt and projects every result
// as benchstat's defaults do, returning the number of distinct tables
// (.config) and columns (.file), and each file's configuration lines
// as "key: value" lines (benchfmt adds .file, the path, and it is left
// out).
func readAsBenchstat(t *testing.T, paths ...string) (tables, cols int, fileConfig map[string]string) {
	t.Helper()
	filter, err := benchproc.NewFilter("*")
	if err != nil {
		t.Fatal(err)
	}
	var parser benchproc.ProjectionParser
	tableBy, err := parser.Parse(".config", filter)
	if err != nil {
		t.Fatal(err)
	}
	colBy, err := parser.Parse(".file", filter)
	if err != nil {
		t.Fatal(err)
	}
	tableKeys, colKeys := map[benchproc.Key]bool{}, map[benchproc.Key]bool{}
	fileConfig = map[string]string{}
	files := benchfmt.Files{Paths: paths}
	n := 0
	for files.Scan() {
		res, ok := files.Result().(*benchfmt.Result)
		if !ok {
			t.Fatalf("%v", files.Result())
		}
		n++
		tableKeys[tableBy.Project(res)] = true
		colKeys[colBy.Project(res)] = true
		var b strings.Builder
		for _, c := range res.Config {
			if c.File && c.Key != ".file" {
				b.WriteString(c.Key + ": " + string(c.Value) + "\n")
			}
		}
		fileConfig[res.GetConfig(".file")] = b.String()
	}
	if err := files.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no benchmark results read")
	}
	return len(tableKeys), len(colKeys), fileConfig
}
