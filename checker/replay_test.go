package checker

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// TestIndexDenseMatchesMap checks the counting-sort index and the map
// index group a history's operations alike.
func TestIndexDenseMatchesMap(t *testing.T) {
	tests := []genConfig{
		{ops: 300, sectors: 40, maxLen: 8, depth: 8, seed: 1, readPct: 50},
		{ops: 500, sectors: 5000, maxLen: 128, depth: 32, backing: 100, seed: 2, readPct: 30},
		{ops: 50, sectors: 3, maxLen: 3, depth: 4, seed: 3, readPct: 70},
	}
	for _, cfg := range tests {
		t.Run(fmt.Sprintf("ops=%d/sectors=%d", cfg.ops, cfg.sectors), func(t *testing.T) {
			h := genHistory(cfg)
			hist, err := prepare(&h, false)
			if err != nil {
				t.Fatal(err)
			}
			byMap := &prepared{ops: hist.ops}
			byMap.indexMap()
			if len(hist.sectors) == 0 || !reflect.DeepEqual(hist.sectors, byMap.sectors) || !reflect.DeepEqual(hist.secOps, byMap.secOps) {
				t.Errorf("indexes differ: %d sectors and %d", len(hist.sectors), len(byMap.sectors))
			}
		})
	}
}

// TestReplaySegment checks replaySegment judges every segment, from
// every kind of assumed values, as replay judges the porcupine partition
// of the same segment.
func TestReplaySegment(t *testing.T) {
	tests := []genConfig{
		{ops: 400, sectors: 30, maxLen: 4, depth: 1, backing: 10, seed: 4, readPct: 50}, // sequential
		{ops: 400, sectors: 30, maxLen: 4, depth: 6, backing: 10, seed: 5, readPct: 50}, // overlapping
	}
	for _, cfg := range tests {
		t.Run(fmt.Sprintf("depth=%d", cfg.depth), func(t *testing.T) {
			h := genHistory(cfg)
			hist, err := prepare(&h, false)
			if err != nil {
				t.Fatal(err)
			}
			c := &partitionCheck{hist: hist, model: h.Disk.Model()}
			counts := map[CheckResult]int{}
			for i, s := range hist.sectors {
				var seen []model.Tag // tags reads of the sector returned
				for _, k := range hist.secOps[i] {
					if o := &hist.ops[k]; o.seen != nil {
						seen = append(seen, o.seen[s-o.sector].Tag)
					}
				}
				assumptions := [][]model.Tag{nil, {}, {model.WriteTag(999999, s)}, {h.Disk.Initial(s)}}
				if len(seen) > 0 {
					assumptions = append(assumptions, []model.Tag{seen[0]}, []model.Tag{seen[0], model.WriteTag(999999, s), seen[0]})
				}
				for _, seg := range c.split(nil, i, 3) {
					for _, a := range assumptions {
						got := c.replaySegment(seg, a)
						want := c.replay(c.operations(seg, a))
						if got != want {
							t.Fatalf("sector %d ops %d..%d assuming %v: replaySegment %s, replay %s", s, seg.lo, seg.hi, a, got, want)
						}
						counts[got]++
					}
				}
			}
			if cfg.depth == 1 && (counts[Ok] == 0 || counts[Illegal] == 0) {
				t.Errorf("verdicts %v: want both ok and illegal segments", counts)
			}
			if cfg.depth > 1 && counts[Unknown] == 0 {
				t.Errorf("verdicts %v: want overlapping segments", counts)
			}
		})
	}
}
