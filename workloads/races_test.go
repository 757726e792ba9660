package workloads

import (
	"reflect"
	"testing"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// TestRaceDeterministic requires the same seed to give the same history,
// and different seeds to give different ones.
func TestRaceDeterministic(t *testing.T) {
	race, err := NewRace(RaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range model.Registered() {
		a, err := race.Run(reg.Policy, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, err := race.Run(reg.Policy, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: seed 7 gave two different runs", reg.Name)
		}
		c, err := race.Run(reg.Policy, 8)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(a.History, c.History) {
			t.Errorf("%s: seeds 7 and 8 gave the same history", reg.Name)
		}
	}
}

// TestRaceCoverage runs a few seeds and requires every round kind, a
// reopen, overlapping allocating writes under a parallel policy, and no
// failed request.
func TestRaceCoverage(t *testing.T) {
	race, err := NewRace(RaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[RaceKind]int{}
	reopens, maxAlloc := 0, 0
	for seed := int64(1); seed <= 20; seed++ {
		run, err := race.Run(model.Overlap{}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Errors) > 0 {
			t.Fatalf("seed %d: %v", seed, run.Errors)
		}
		for _, k := range run.Rounds {
			kinds[k]++
		}
		for _, ev := range run.History.Events {
			if ev.Kind == history.Call && ev.Action == history.ActReopen {
				reopens++
			}
		}
		maxAlloc = max(maxAlloc, run.MaxAllocInFlight)
		if run.VirtualNanos <= 0 || run.Requests == 0 {
			t.Errorf("seed %d: %d requests in %dns", seed, run.Requests, run.VirtualNanos)
		}
	}
	for k := range RaceKind(len(raceKindNames)) {
		if kinds[k] == 0 {
			t.Errorf("no %v round in 20 seeds (%v)", k, kinds)
		}
	}
	if reopens < 20 || maxAlloc < 2 {
		t.Errorf("%d reopens, max allocating writes in flight %d", reopens, maxAlloc)
	}
}

func TestNewRaceRejects(t *testing.T) {
	bad := []RaceConfig{
		{ClusterSize: 1000},
		{Tables: 1},
		{HotClusters: 2},
		{HotClusters: 1 << 20},
		{Rounds: 1},
		{Device: &sim.Device{Name: "broken"}},
	}
	for _, cfg := range bad {
		if _, err := NewRace(cfg); err == nil {
			t.Errorf("NewRace(%+v) succeeded", cfg)
		}
	}
}
