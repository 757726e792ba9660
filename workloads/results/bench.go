package results

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteBench writes one Go benchmark line per run, preceded by the
// configuration lines benchstat reads (goos, goarch, cpu, pkg), so
// `benchstat -col /policy bench.txt` compares policies and
// `benchstat OLD/bench.txt NEW/bench.txt` compares two results as one
// table. The iteration count is the run's ops, ns/op its time per op
// (virtual on sim); the other figures are custom units. Lines come
// sorted by policy, the one named first leading (benchstat takes the
// first column as its base), then by configuration and repetition.
//
// The commit is on a comment line ("# commit ..."), not a configuration
// line: benchstat puts results whose configuration lines differ in
// separate tables, so a "commit:" key would keep two commits from ever
// being compared. runs.json holds the whole provenance.
func WriteBench(w io.Writer, prov *Provenance, runs []Record, first string) error {
	runs = slices.Clone(runs)
	slices.SortStableFunc(runs, func(a, b Record) int {
		ra, rb := policyRank(a.Policy), policyRank(b.Policy)
		if a.Policy == first {
			ra = -1
		}
		if b.Policy == first {
			rb = -1
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		if c := cmp.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		return cmp.Or(compareConfigs(a.Config(), b.Config()), cmp.Compare(a.Repeat, b.Repeat))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\n", prov.OS, prov.Arch)
	if prov.CPUModel != "" {
		fmt.Fprintf(&b, "cpu: %s\n", prov.CPUModel)
	}
	fmt.Fprintf(&b, "pkg: github.com/qedharness/qedharness/workloads\n# commit %s (runs.json has the provenance)\n", prov.Commit)
	for i := range runs {
		r := &runs[i]
		if r.Error != "" || r.Ops == 0 {
			continue
		}
		fmt.Fprintf(&b, "BenchmarkRun/%s \t%d\t%s ns/op\t%s ops/s\t%s MiB/s\t%s p50-us\t%s p99-us\t%s p999-us\t%s frozen-share\t%s meta-B/op\t%s hostIOs/op\n",
			r.Config().Name(), r.Ops, bf(r.Seconds*1e9/float64(r.Ops)), bf(r.OpsPerSec), bf(r.MiBPerSec),
			bf(r.LatP50Us), bf(r.LatP99Us), bf(r.LatP999Us), bf(r.FrozenShare()),
			bf(float64(r.MetaBytes)/float64(r.Ops)), bf(r.HostIOsPerOp))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func bf(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
