package checker

import (
	"math/rand/v2"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// genConfig shapes a synthetic history.
type genConfig struct {
	ops        int    // operations (reads and writes)
	sectors    uint64 // sectors addressed, from 0
	maxLen     uint64 // sectors per operation, 1..maxLen
	depth      int    // operations in flight at most
	backing    uint64 // backing sectors
	seed       uint64
	readPct    int // percent of reads
	flushEvery int // a flush every this many operations (0: none)
}

// genHistory returns a linearizable history by construction: each
// operation takes effect, sector by sector all at once, at a moment
// between its call and its return, against a reference disk.
func genHistory(cfg genConfig) history.History {
	rng := rand.New(rand.NewPCG(cfg.seed, 0x67656e))
	disk := model.Disk{BackingSectors: cfg.backing}
	h := history.History{Disk: disk, Events: make([]history.Event, 0, 2*cfg.ops)}
	state := map[uint64]model.Tag{}
	type active struct {
		call    history.Event
		applied bool
		seen    []history.Decoded
	}
	var act []*active
	slots := make([]bool, cfg.depth)
	nextID, started := uint64(0), 0
	for started < cfg.ops || len(act) > 0 {
		// Start an operation when there is room, more often than not.
		if started < cfg.ops && len(act) < cfg.depth && (len(act) == 0 || rng.IntN(3) > 0) {
			nextID++
			started++
			slot := 0
			for slots[slot] {
				slot++
			}
			slots[slot] = true
			ev := history.Event{Kind: history.Call, ID: nextID, Time: int64(len(h.Events)) * 100, Client: slot}
			switch {
			case cfg.flushEvery > 0 && started%cfg.flushEvery == 0:
				ev.Action = history.ActFlush
			case rng.IntN(100) < cfg.readPct:
				ev.Action = history.ActRead
			default:
				ev.Action = history.ActWrite
			}
			if ev.Action != history.ActFlush {
				n := 1 + rng.Uint64N(cfg.maxLen)
				ev.Sector, ev.Sectors = rng.Uint64N(cfg.sectors-n+1), n
			}
			h.Events = append(h.Events, ev)
			act = append(act, &active{call: ev})
			continue
		}
		a := act[rng.IntN(len(act))]
		if !a.applied {
			a.applied = true
			c := a.call
			for s := c.Sector; s < c.Sector+c.Sectors; s++ {
				switch c.Action {
				case history.ActWrite:
					state[s] = model.WriteTag(c.ID, s)
				case history.ActRead:
					t, ok := state[s]
					if !ok {
						t = disk.Initial(s)
					}
					a.seen = append(a.seen, history.Decoded{Tag: t})
				}
			}
			continue
		}
		ret := history.Event{Kind: history.Return, ID: a.call.ID, Time: int64(len(h.Events)) * 100, Seen: a.seen}
		h.Events = append(h.Events, ret)
		slots[a.call.Client] = false
		for i, b := range act {
			if b == a {
				act = append(act[:i], act[i+1:]...)
				break
			}
		}
	}
	return h
}

// breakHistory makes h non-linearizable: the last read that covers a
// sector some write had finished writing before the read was called now
// returns that sector's initial content. It returns the sector, or false
// if no read qualifies.
func breakHistory(h *history.History) (uint64, bool) {
	finished := map[uint64]bool{} // sectors written by a returned write
	calls := map[uint64]*history.Event{}
	type cand struct {
		ret    int
		sector uint64
		idx    int
	}
	var best *cand
	snapshot := map[uint64]map[uint64]bool{} // read id -> finished sectors at call
	for i := range h.Events {
		ev := &h.Events[i]
		if ev.Kind == history.Call {
			calls[ev.ID] = ev
			if ev.Action == history.ActRead {
				m := map[uint64]bool{}
				for s := ev.Sector; s < ev.Sector+ev.Sectors; s++ {
					if finished[s] {
						m[s] = true
					}
				}
				snapshot[ev.ID] = m
			}
			continue
		}
		c := calls[ev.ID]
		switch c.Action {
		case history.ActWrite:
			for s := c.Sector; s < c.Sector+c.Sectors; s++ {
				finished[s] = true
			}
		case history.ActRead:
			first, any := ^uint64(0), false
			for s := range snapshot[ev.ID] {
				first, any = min(first, s), true
			}
			if any {
				best = &cand{ret: i, sector: first, idx: int(first - c.Sector)}
			}
		}
	}
	if best == nil {
		return 0, false
	}
	ev := &h.Events[best.ret]
	seen := append([]history.Decoded(nil), ev.Seen...)
	seen[best.idx] = history.Decoded{Tag: h.Disk.Initial(best.sector)}
	ev.Seen = seen
	return best.sector, true
}
