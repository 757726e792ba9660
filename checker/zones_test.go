package checker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// mutateReads makes up to n reads of h return a different value in one
// sector: the content of another write of that sector, or the sector's
// initial content. Many such histories are not linearizable; some still
// are. The events' Seen slices are replaced, not changed in place.
func mutateReads(h *history.History, rng *rand.Rand, n int) {
	calls := map[uint64]history.Event{}
	writers := map[uint64][]uint64{} // sector -> ids of the writes covering it
	for _, ev := range h.Events {
		if ev.Kind == history.Call {
			calls[ev.ID] = ev
			if ev.Action == history.ActWrite {
				for s := ev.Sector; s < ev.Sector+ev.Sectors; s++ {
					writers[s] = append(writers[s], ev.ID)
				}
			}
		}
	}
	var reads []int
	for i, ev := range h.Events {
		if ev.Kind == history.Return && len(ev.Seen) > 0 {
			reads = append(reads, i)
		}
	}
	for range n {
		if len(reads) == 0 {
			return
		}
		i := reads[rng.IntN(len(reads))]
		ev := &h.Events[i]
		j := rng.IntN(len(ev.Seen))
		s := calls[ev.ID].Sector + uint64(j)
		t := h.Disk.Initial(s)
		if ws := writers[s]; len(ws) > 0 && rng.IntN(4) > 0 {
			t = model.WriteTag(ws[rng.IntN(len(ws))], s)
		}
		ev.Seen = slices.Clone(ev.Seen)
		ev.Seen[j] = history.Decoded{Tag: t}
	}
}

// TestZoneSegment holds zoneSegment to porcupine on every segment of
// histories linearizable by construction and of mutated ones, from every
// kind of assumed start: it may accept only what porcupine accepts, and
// (the characterization being exact) it must accept all of that when it
// has a start value to try. The final values of the segments found
// linearizable must be those porcupine's probes find.
func TestZoneSegment(t *testing.T) {
	counts := map[string]int{}
	for seed := uint64(1); seed <= 60; seed++ {
		cfg := genConfig{ops: 150, sectors: 6, maxLen: 3, depth: 1 + int(seed%12), backing: 3 * (seed % 2), seed: seed, readPct: 30 + int(seed%5)*10}
		h := genHistory(cfg)
		if seed%3 != 0 {
			mutateReads(&h, rand.New(rand.NewPCG(seed, 7)), 1+int(seed%4))
		}
		hist, err := prepare(&h, false)
		if err != nil {
			t.Fatal(err)
		}
		c := &partitionCheck{hist: hist, model: h.Disk.Model()}
		for i, s := range hist.sectors {
			var tags []model.Tag
			for _, k := range hist.secOps[i] {
				if o := &hist.ops[k]; o.action == history.ActWrite {
					tags = append(tags, model.WriteTag(o.id, s))
				}
			}
			starts := [][]model.Tag{nil, {}, {h.Disk.Initial(s)}, {model.ZeroTag()}}
			if len(tags) > 0 {
				starts = append(starts, []model.Tag{tags[0]}, []model.Tag{tags[len(tags)-1], h.Disk.Initial(s)})
			}
			for _, maxSeg := range []int{-1, 5} {
				for _, seg := range c.split(nil, i, maxSeg) {
					written := map[model.Tag]bool{}
					for _, k := range hist.secOps[i][seg.lo:seg.hi] {
						if o := &hist.ops[k]; o.action == history.ActWrite {
							written[model.WriteTag(o.id, s)] = true
						}
					}
					for _, a := range starts {
						got := c.zoneSegment(seg, a)
						want := c.check(c.operations(seg, a))
						// Exact when there is a start value and none is
						// written again in the segment (Check never
						// assumes such a value).
						exact := a == nil || len(a) > 0 && !slices.ContainsFunc(a, func(t model.Tag) bool { return written[t] })
						if got == Illegal || (got == Ok && want != Ok) || (exact && want == Ok && got != Ok) {
							t.Fatalf("seed %d sector %d ops %d..%d from %v: zones %s, porcupine %s", seed, s, seg.lo, seg.hi, a, got, want)
						}
						if c.replaySegment(seg, a) == Unknown {
							counts[fmt.Sprintf("overlapping %s", want)]++
						}
						if want == Ok && (a == nil || len(a) > 0) {
							search := &partitionCheck{hist: hist, model: c.model, noZones: true}
							if fz, fs := c.finals(seg, a), search.finals(seg, a); !slices.Equal(fz, fs) {
								t.Fatalf("seed %d sector %d ops %d..%d from %v: finals %v with zones, %v by search", seed, s, seg.lo, seg.hi, a, fz, fs)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("segments with overlapping operations: %v", counts)
	if counts["overlapping ok"] < 100 || counts["overlapping illegal"] < 100 {
		t.Errorf("too few overlapping segments of each verdict to mean much: %v", counts)
	}
}

// TestCheckSearchOnlyAgrees checks that Check gives the same verdict and
// failing sectors with and without the zone conditions, on linearizable
// and mutated histories (QED_SOAK=N: N times as many).
func TestCheckSearchOnlyAgrees(t *testing.T) {
	verdicts := map[CheckResult]int{}
	seeds := uint64(40 * max(1, envInt(t, "QED_SOAK", 1)))
	for seed := uint64(1); seed <= seeds; seed++ {
		cfg := genConfig{ops: 400, sectors: 24, maxLen: 4, depth: 2 + int(seed%16), backing: 8 * (seed % 2), seed: seed, readPct: 50}
		h := genHistory(cfg)
		if seed%2 == 0 {
			mutateReads(&h, rand.New(rand.NewPCG(seed, 9)), 1+int(seed%3))
		}
		for _, maxSeg := range []int{0, 8} {
			fast, err := Check(h, Options{MaxSegment: maxSeg})
			if err != nil {
				t.Fatal(err)
			}
			slow, err := Check(h, Options{MaxSegment: maxSeg, SearchOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if fast.Verdict != slow.Verdict || !slices.Equal(fast.Failing, slow.Failing) {
				t.Fatalf("seed %d max segment %d: with zones %s %v, search only %s %v", seed, maxSeg, fast.Verdict, fast.Failing, slow.Verdict, slow.Failing)
			}
			verdicts[fast.Verdict]++
		}
	}
	if verdicts[Ok] == 0 || verdicts[Illegal] == 0 {
		t.Errorf("verdicts %v: want both", verdicts)
	}
}

// TestSparseIDs checks a history whose operation ids are far apart (the
// index of ids then is a map, not a slice) is judged as the same history
// with small ids, linearizable or not.
func TestSparseIDs(t *testing.T) {
	verdicts := map[CheckResult]int{}
	for seed := uint64(1); seed <= 6; seed++ {
		h := genHistory(genConfig{ops: 300, sectors: 16, maxLen: 3, depth: 6, seed: seed, readPct: 50})
		if seed%2 == 0 {
			mutateReads(&h, rand.New(rand.NewPCG(seed, 11)), 2)
		}
		const spread = 1 << 33
		sparse := history.History{Disk: h.Disk, Events: slices.Clone(h.Events)}
		for i := range sparse.Events {
			ev := &sparse.Events[i]
			ev.ID *= spread
			if ev.Seen != nil {
				ev.Seen = slices.Clone(ev.Seen)
				for j := range ev.Seen {
					if tag := &ev.Seen[j].Tag; tag.Kind == model.TagWrite {
						tag.Write *= spread
					}
				}
			}
		}
		if x := newOpIndex(sparse.Events); x.byID == nil {
			t.Fatal("sparse ids indexed by a slice")
		}
		if x := newOpIndex(h.Events); x.dense == nil {
			t.Fatal("dense ids indexed by a map")
		}
		a, err := Check(h, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Check(sparse, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Verdict != b.Verdict || !slices.Equal(a.Failing, b.Failing) {
			t.Errorf("seed %d: small ids %s %v, sparse ids %s %v", seed, a.Verdict, a.Failing, b.Verdict, b.Failing)
		}
		verdicts[b.Verdict]++
	}
	if verdicts[Ok] == 0 || verdicts[Illegal] == 0 {
		t.Errorf("verdicts %v: want both", verdicts)
	}
}
