package crash

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
)

// crashAll crashes r in every way the bounds allow and judges each new
// crash state. With the reduction on, a crash state crashed before is
// skipped.
func (x *explorer) crashAll(r *run) error {
	ledgerKey := ledgerHash(r.l)
	orders, every := inFlightOrders(r.inFlight())
	if len(orders) > 1 {
		x.stats.Reordered++
	}
	if !x.cfg.NoReduction {
		// With every order of the overlapping in-flight writes tried, the
		// images depend only on which writes are in flight, so they enter
		// the key in a canonical order.
		extra := orders[0]
		if every {
			extra = canonicalWrites(extra)
		}
		key := r.cs.Fingerprint(extra)*0x100000001b3 ^ ledgerKey
		if x.states[key] {
			x.stats.DupCrashStates++
			return nil
		}
		x.states[key] = true
	}
	for _, extra := range orders {
		if err := x.crashWith(r, extra, ledgerKey); err != nil {
			return err
		}
	}
	return nil
}

// crashWith crashes r with extra as the writes in flight, landing in that
// order, and judges each crash image not judged before.
func (x *explorer) crashWith(r *run, extra []Write, ledgerKey uint64) error {
	var herr error
	x.stats.Images += r.cs.Crashes(extra, x.cfg.Torn, x.cfg.MaxUnits, func(img []byte, units []Unit, land []bool) bool {
		h := fnv.New64a()
		h.Write(img)
		key := h.Sum64() ^ ledgerKey
		if x.seen[key] {
			return true
		}
		x.seen[key] = true
		x.stats.Recovered++
		rec, err := Recover(img, x.backing, r.l, x.reg.Policy)
		if rec.NeedCheck {
			x.stats.NeedCheck++
		}
		x.stats.Leaks += rec.Before.Leaks
		var v *Violation
		if err != nil && !errors.As(err, &v) {
			herr = err
			return false
		}
		if err == nil {
			return true
		}
		// v is Recover's own: it becomes the explorer's report.
		if x.cfg.Classify != nil {
			v.Known = x.cfg.Classify(v, rec, img)
		}
		v.Policy, v.Workload = x.reg.Name, x.w.Name
		v.Trace = append(append([]string(nil), r.trace...), describeLanding(r, units, land)...)
		v.Steps = append(append([]Step(nil), r.steps...), landingSteps(r, units, land)...)
		if v.Known != "" {
			if x.stats.Known == nil {
				x.stats.Known = map[string]int{}
			}
			x.stats.Known[v.Known]++
			if x.res.FirstKnown == nil || len(v.Trace) < len(x.res.FirstKnown.Trace) {
				x.res.FirstKnown = v
			}
			return true
		}
		x.stats.Violations++
		if x.res.Shortest == nil || len(v.Trace) < len(x.res.Shortest.Trace) {
			x.res.Shortest = v
		}
		return true
	})
	return herr
}

// describeLanding says which units of the crash landed.
func describeLanding(r *run, units []Unit, land []bool) []string {
	out := []string{"CRASH; of the writes not covered by a completed flush:"}
	nlog := len(r.cs.Unflushed())
	for i, u := range units {
		where := "completed"
		if u.Write >= nlog {
			where = "in flight"
		}
		verb := "lost"
		if land[i] {
			verb = "landed"
		}
		out = append(out, fmt.Sprintf("  %s write at %#x+%d (%s)", where, u.Off, len(u.Data), verb))
	}
	return out
}

// landingSteps is describeLanding as steps: the crash, then each unit
// landed or lost.
func landingSteps(r *run, units []Unit, land []bool) []Step {
	out := []Step{{Kind: "crash", Text: "CRASH: the writes not covered by a completed flush land or are lost"}}
	nlog := len(r.cs.Unflushed())
	for i, u := range units {
		where, kind := "completed", "lost"
		if u.Write >= nlog {
			where = "in flight"
		}
		if land[i] {
			kind = "landed"
		}
		out = append(out, Step{Kind: kind, Text: fmt.Sprintf("%s write at %#x+%d", where, u.Off, len(u.Data))})
	}
	return out
}

// ledgerHash hashes what the ledger allows per sector, so the same image
// under different promises is judged again.
func ledgerHash(l *Ledger) uint64 {
	h := fnv.New64a()
	for _, s := range l.Sectors() {
		allowed, promised := l.Allowed(s)
		sort.Slice(allowed, func(i, j int) bool { return allowed[i] < allowed[j] })
		fmt.Fprint(h, s, allowed, promised, ";")
	}
	return h.Sum64()
}

// inFlightOrders returns the orders in which the in-flight writes ws
// (oldest first) are to be tried as landing: ws itself, and when some of
// them overlap, also every other order of the overlapping ones (the
// others keep their places; their order changes no image). Past six
// overlapping writes (720 orders) only ws and the reverse order of the
// overlapping ones are tried, and every is false.
func inFlightOrders(ws []Write) (orders [][]Write, every bool) {
	var idx []int
	for i, a := range ws {
		for j, b := range ws {
			if i != j && a.Off < b.Off+int64(len(b.Data)) && b.Off < a.Off+int64(len(a.Data)) {
				idx = append(idx, i)
				break
			}
		}
	}
	if len(idx) < 2 {
		return [][]Write{ws}, true
	}
	if len(idx) > 6 {
		rev := slices.Clone(ws)
		for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
			rev[idx[i]], rev[idx[j]] = ws[idx[j]], ws[idx[i]]
		}
		return [][]Write{ws, rev}, false
	}
	var out [][]Write
	perm := slices.Clone(idx)
	var gen func(k int)
	gen = func(k int) {
		if k == len(perm) {
			o := slices.Clone(ws)
			for i, p := range perm {
				o[idx[i]] = ws[p]
			}
			out = append(out, o)
			return
		}
		for i := k; i < len(perm); i++ {
			perm[k], perm[i] = perm[i], perm[k]
			gen(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	gen(0)
	return out, true
}

// canonicalWrites returns ws sorted by offset, length and bytes.
func canonicalWrites(ws []Write) []Write {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b Write) int {
		return cmp.Or(cmp.Compare(a.Off, b.Off), cmp.Compare(len(a.Data), len(b.Data)), bytes.Compare(a.Data, b.Data))
	})
	return out
}
