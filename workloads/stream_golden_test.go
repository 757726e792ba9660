package workloads

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// streamGolden pins the exact operations every pattern generates, with
// every rw, distribution and random map setting: fnv-64a over the text of
// each job's ops, from two seeds. A change to a generator must keep every
// random draw in the same order, or the sim figures of a seed change; a
// deliberate change updates the hashes here and says so.
var streamGolden = []struct {
	set  map[string]string
	want string
}{
	{map[string]string{"rw": "write", "size": "1m"}, "26158f4ef8703a92"},
	{map[string]string{"rw": "read", "size": "1m", "bs": "16k", "ops": "100"}, "cf954369380232f2"},
	{map[string]string{"rw": "rw", "size": "1m", "rwmixread": "30", "fsync": "7"}, "c9d1bc0feb865d2e"},
	{map[string]string{"rw": "randwrite", "size": "4m"}, "55519e350c951566"},
	{map[string]string{"rw": "randread", "size": "4m", "norandommap": "1", "numjobs": "2"}, "98bd21e0c458b82d"},
	{map[string]string{"rw": "randrw", "size": "4m", "ops": "3000"}, "c0865568011b4404"},
	{map[string]string{"rw": "randrw", "size": "4m", "random_distribution": "zipf:1.2", "ops": "2000"}, "5df88e056fdc51f4"},
	{map[string]string{"rw": "randwrite", "size": "4m", "random_distribution": "zipf:0.8", "numjobs": "3", "offset": "64k"}, "ce7398597c395187"},
	{map[string]string{"rw": "randwrite", "size": "64m", "cluster_size": "4k", "ops": "5000"}, "4a5758fb949a5f14"},
	{map[string]string{"rw": "write", "pattern": "first-touch", "size": "8m"}, "6a998551182a0adc"},
	{map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "8m", "numjobs": "2"}, "1869ceebf00b8af7"},
	{map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "8m", "bs": "96k", "fsync": "3"}, "3ac730193df799b0"},
	{map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "512m", "cluster_size": "4k", "ops": "4000"}, "4f1bc369c3c872f8"},
	{map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "8m", "random_distribution": "zipf:1.1"}, "b5127d81288a2702"},
	{map[string]string{"rw": "write", "pattern": "same-cluster", "size": "1m"}, "26158f4ef8703a92"},
	{map[string]string{"rw": "randwrite", "pattern": "same-cluster", "size": "2m", "bs": "16k", "numjobs": "2"}, "163d0edda8b310cf"},
	{map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "4m"}, "55519e350c951566"},
	{map[string]string{"rw": "randrw", "pattern": "rewrite", "size": "4m", "random_distribution": "zipf:1.5", "ops": "1000"}, "6ed7c5790aa3ae91"},
	{map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "8m", "runtime": "1"}, "b5127d81288a2702"},
}

func TestStreamsGolden(t *testing.T) {
	for _, g := range streamGolden {
		p := mustPlan(t, "golden", g.set)
		h := fnv.New64a()
		for _, seed := range []int64{1, 42} {
			for i, s := range p.Streams(seed) {
				fmt.Fprintf(h, "seed %d stream %d\n", seed, i)
				for _, op := range drain(s, 20000) {
					fmt.Fprintln(h, op)
				}
			}
		}
		if got := fmt.Sprintf("%016x", h.Sum64()); got != g.want {
			t.Errorf("%v: streams hash to %s, want %s", g.set, got, g.want)
		}
	}
}
