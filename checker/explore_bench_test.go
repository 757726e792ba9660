package checker

import (
	"testing"

	"github.com/qedharness/qedharness/model"
)

// BenchmarkExplore explores every registered policy on the standard
// configuration in each mode and reports states (model) or orders (impl)
// per second alongside the time per exploration.
func BenchmarkExplore(b *testing.B) {
	for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
		for _, reg := range model.Registered() {
			b.Run("mode="+string(mode)+"/policy="+reg.Name, func(b *testing.B) {
				cfg := StandardExploreConfig(mode)
				var res *ExploreResult
				for b.Loop() {
					var err error
					if res, err = Explore(reg, cfg); err != nil {
						b.Fatal(err)
					}
				}
				if mode == ExploreModel {
					b.ReportMetric(float64(res.States)/res.Elapsed.Seconds(), "states/s")
					b.ReportMetric(float64(res.States), "states")
				} else {
					b.ReportMetric(float64(res.Paths)/res.Elapsed.Seconds(), "orders/s")
					b.ReportMetric(float64(res.Paths), "orders")
				}
			})
		}
	}
}

// BenchmarkExploreModelLarge measures the model checker's rate on spaces
// of millions of states: 4 requests over 2 L1 entries x 2 clusters x 2
// sectors, backing file, reopen.
func BenchmarkExploreModelLarge(b *testing.B) {
	for _, sym := range []bool{true, false} {
		for _, name := range []string{"freeze-any", "overlap"} {
			label := "on"
			if !sym {
				label = "off"
			}
			b.Run("requests=4/symmetry="+label+"/policy="+name, func(b *testing.B) {
				cfg := ExploreConfig{Mode: ExploreModel, Requests: 4, L1Entries: 2, Clusters: 2, Sectors: 2, Backing: true, Reopen: true, NoSymmetry: !sym}
				reg, err := model.Lookup(name)
				if err != nil {
					b.Fatal(err)
				}
				var res *ExploreResult
				for b.Loop() {
					if res, err = Explore(reg, cfg); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(res.StatesPerSecond()/1e6, "Mstates/s")
				b.ReportMetric(float64(res.States), "states")
				b.ReportMetric(float64(res.MemoryBytes)/float64(res.States), "B/state")
			})
		}
	}
}
