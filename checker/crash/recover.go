package crash

import (
	"errors"
	"fmt"
	"sort"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Recovery is what Recover found for one crash image.
type Recovery struct {
	// NeedCheck says the crash image had the need-check bit set, so the
	// reopen checked and repaired it.
	NeedCheck bool
	// Before is Check's finding on the crash image as it was.
	Before impl.CheckResult
	// After is Check's finding after the reopen and a clean close: leaks
	// are allowed only when the reopen did not check.
	After impl.CheckResult
	// LeaksRepaired counts the leaks a final repair removed.
	LeaksRepaired int
	// Seen is the write id each ledger sector read back after the reopen
	// (0: the backing file's content; zeroRead: zeros).
	Seen map[uint64]uint64
}

// Recover reopens the crash image img as a user would (impl.Open checks
// and repairs it when the need-check bit is set, as QEMU does) and checks
// the durability properties against l: every promised write reads back
// (or a later one that may have landed over it), nothing reads as bytes
// no write produced, the image checks free of corruptions (leaks are
// counted and repaired), and the recovered image keeps working: new
// writes to every ledger sector and past it, flushed and reread after a
// clean reopen, read back exactly. It returns a *Violation (never wrapped) for
// a broken promise and another error when the harness itself failed.
func Recover(img, backing []byte, l *Ledger, policy model.Policy) (Recovery, error) {
	var rec Recovery
	files := impl.Files{Image: impl.NewMemStorageFrom(append([]byte(nil), img...))}
	if backing != nil {
		files.Backing = impl.NewMemStorageFrom(backing)
	}
	if len(img) >= impl.HeaderLen {
		if h, err := impl.DecodeHeader(img); err == nil {
			rec.NeedCheck = h.Features&impl.FeatureNeedCheck != 0
		}
	}
	before, err := impl.Check(impl.NewMemStorageFrom(append([]byte(nil), img...)), false)
	if err != nil {
		return rec, &Violation{Kind: "reopen", Detail: fmt.Sprintf("the crash image does not check: %v", err)}
	}
	rec.Before = before
	im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: policy})
	if err != nil {
		return rec, &Violation{Kind: "reopen", Detail: fmt.Sprintf("the crash image does not open: %v", err)}
	}
	rec.Seen = make(map[uint64]uint64)
	buf := make([]byte, impl.SectorSize)
	var lost, broken []error
	for _, s := range l.Sectors() {
		allowed, promised := l.Allowed(s)
		if _, err := im.ReadAt(buf, int64(s*impl.SectorSize)); err != nil {
			err = fmt.Errorf("read of sector %d fails (flushed writes there: %v): %v", s, promised, err)
			if len(promised) > 0 {
				lost = append(lost, err)
			} else {
				broken = append(broken, err)
			}
			continue
		}
		id, err := untag(buf, s, l.Backing)
		if err != nil {
			lost = append(lost, err)
			continue
		}
		rec.Seen[s] = id
		ok := false
		for _, a := range allowed {
			ok = ok || l.Holds(s, a, id)
		}
		if !ok {
			lost = append(lost, fmt.Errorf("sector %d reads %s; flushed writes %v (or one of %v) expected", s, readText(id), promised, allowed))
		}
	}
	if err := im.Close(); err != nil {
		return rec, fmt.Errorf("close recovered image: %w", err)
	}
	if len(lost) > 0 {
		return rec, &Violation{Kind: "lost-write", Detail: fmt.Sprintf("need-check was %v: %v", rec.NeedCheck, errors.Join(lost...))}
	}
	if len(broken) > 0 {
		// The image is corrupt and was not repaired. See whether using it
		// spreads the damage to writes acknowledged and flushed after the
		// crash (a table entry pointing at space the allocator hands out
		// again), which is worse.
		broke := &Violation{Kind: "corrupt-after-recovery", Detail: fmt.Sprintf("need-check was %v, so the reopen did not repair: %v", rec.NeedCheck, errors.Join(broken...))}
		if err := continueAfter(files, l, rec.Seen, policy, false); err != nil {
			var v *Violation
			if errors.As(err, &v) {
				v.Detail += "; before that, " + broke.Error()
			}
			return rec, err
		}
		return rec, broke
	}
	after, err := impl.Check(files.Image, false)
	if err != nil {
		return rec, &Violation{Kind: "corrupt-after-recovery", Detail: fmt.Sprintf("check after reopen: %v", err)}
	}
	rec.After = after
	if after.Corruptions != 0 || after.CheckErrors != 0 || (rec.NeedCheck && after.Leaks != 0) {
		return rec, &Violation{Kind: "corrupt-after-recovery", Detail: fmt.Sprintf("after reopen (need-check was %v) check finds %d corruptions, %d leaks, %d errors: %v",
			rec.NeedCheck, after.Corruptions, after.Leaks, after.CheckErrors, after.Problems)}
	}
	if after.Leaks != 0 {
		rep, err := impl.Check(files.Image, true)
		if err != nil || rep.Leaks != 0 || rep.Corruptions != 0 {
			return rec, &Violation{Kind: "repair", Detail: fmt.Sprintf("leak repair left %+v, %v", rep, err)}
		}
		rec.LeaksRepaired = rep.LeaksFixed
	}
	if err := continueAfter(files, l, rec.Seen, policy, true); err != nil {
		return rec, err
	}
	return rec, nil
}

// continueAfter keeps using the recovered image: it writes new tags
// to fresh clusters (first in the last L2 table's range, so the file
// grows), then over every other ledger sector and fresh clusters of the
// first L2 table's range, flushes, reopens and checks that every sector
// reads what it should: the sectors seen at recovery keep their content,
// every write acknowledged here reads back. On a clean image (clean set)
// every write must succeed and the image must check clean at the end; on
// an image left corrupt, writes that fail are skipped, and only damage
// to acknowledged writes counts. An image recovered wrongly (a table
// entry left pointing at space the allocator hands out again) fails here.
func continueAfter(files impl.Files, l *Ledger, seen map[uint64]uint64, policy model.Policy, clean bool) error {
	im, err := impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: policy})
	if err != nil {
		return &Violation{Kind: "continue", Detail: fmt.Sprintf("the recovered image does not reopen: %v", err)}
	}
	g := im.Geometry()
	want := make(map[uint64]uint64, len(seen))
	for s, id := range seen {
		want[s] = id
	}
	const newID = 1 << 40
	var sectors []uint64
	fresh := func(from uint64, n int) {
		for c := from; c < g.ImageSize/g.ClusterSize && n > 0; c++ {
			s := c * g.ClusterSize / impl.SectorSize
			if _, touched := l.sectors[s]; !touched {
				sectors = append(sectors, s)
				n--
			}
		}
	}
	span := g.TableEntries * g.ClusterSize
	fresh((g.ImageSize-1)/span*span/g.ClusterSize, 4)
	for _, s := range l.Sectors() {
		if s%2 == 1 {
			sectors = append(sectors, s)
		}
	}
	fresh(0, 8)
	for k, s := range sectors {
		id := newID + uint64(k)
		if _, err := im.WriteAt(Data(id, s*impl.SectorSize, impl.SectorSize), int64(s*impl.SectorSize)); err != nil {
			if clean {
				im.Close()
				return &Violation{Kind: "continue", Detail: fmt.Sprintf("write to sector %d after recovery: %v", s, err)}
			}
			delete(want, s)
			continue
		}
		want[s] = id
	}
	if err := im.Flush(); err != nil {
		return &Violation{Kind: "continue", Detail: fmt.Sprintf("flush after recovery: %v", err)}
	}
	if err := im.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	im, err = impl.Open(files, impl.NewMemBackend(files), impl.Options{Policy: policy})
	if err != nil {
		return &Violation{Kind: "continue", Detail: fmt.Sprintf("reopen after writes: %v", err)}
	}
	buf := make([]byte, impl.SectorSize)
	for _, s := range sortedKeys(want) {
		id := want[s]
		if _, err := im.ReadAt(buf, int64(s*impl.SectorSize)); err != nil {
			im.Close()
			return &Violation{Kind: "continue", Detail: fmt.Sprintf("after recovery and new writes (all acknowledged and flushed), sector %d (write %d) does not read: %v", s, id, err)}
		}
		got, err := untag(buf, s, l.Backing)
		if err != nil || got != id {
			im.Close()
			return &Violation{Kind: "continue", Detail: fmt.Sprintf("after recovery and new writes (all acknowledged and flushed), sector %d reads %s (%v), want %s", s, readText(got), err, readText(id))}
		}
	}
	if err := im.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if !clean {
		return nil
	}
	res, err := impl.Check(files.Image, false)
	if err != nil || !res.Clean() {
		return &Violation{Kind: "continue", Detail: fmt.Sprintf("after recovery and new writes check finds %+v, %v", res, err)}
	}
	return nil
}

// sortedKeys returns m's keys, ascending.
func sortedKeys(m map[uint64]uint64) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// readText names what a sector read as: "zeros", or "write N" (0: the
// backing file's content).
func readText(id uint64) string {
	if id == zeroRead {
		return "zeros"
	}
	return fmt.Sprintf("write %d", id)
}
