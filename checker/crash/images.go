package crash

import (
	"math/rand/v2"

	"github.com/qedharness/qedharness/impl"
)

// Unit is one thing that lands or is lost at a crash: a whole unflushed
// write or one sector of it.
type Unit struct {
	// Write indexes the candidate write (Unflushed first, then extra).
	Write int
	// Off and Data give the bytes the unit writes.
	Off  int64
	Data []byte
}

// Units returns the units of the unflushed writes followed by extra
// (writes in flight, which may have landed too): one per write, or with
// torn one per 512-byte sector of each write (a partial sector at either
// end is its own unit).
func (c *Store) Units(extra []Write, torn bool) []Unit {
	var units []Unit
	add := func(i int, w Write) {
		if !torn {
			units = append(units, Unit{Write: i, Off: w.Off, Data: w.Data})
			return
		}
		for p := 0; p < len(w.Data); {
			off := w.Off + int64(p)
			n := min(len(w.Data)-p, int(impl.SectorSize-off%impl.SectorSize))
			units = append(units, Unit{Write: i, Off: off, Data: w.Data[p : p+n]})
			p += n
		}
	}
	for i, w := range c.log {
		add(i, w)
	}
	for i, w := range extra {
		add(len(c.log)+i, w)
	}
	return units
}

// Crash returns the image a crash leaves when exactly the units with
// land[i] set reached the medium, applied in order over the durable
// image. The result is a fresh slice the caller owns.
func (c *Store) Crash(units []Unit, land []bool) []byte {
	img := append([]byte(nil), c.durable...)
	for i, u := range units {
		if land[i] {
			img = writeInto(img, u.Off, u.Data)
		}
	}
	return img
}

// CrashRandom returns the image a crash leaves when each unit of the
// unflushed writes (and extra) lands with probability one half, drawn
// from rng, with land reporting the choice.
func (c *Store) CrashRandom(rng *rand.Rand, extra []Write, torn bool) (img []byte, units []Unit, land []bool) {
	units = c.Units(extra, torn)
	land = make([]bool, len(units))
	for i := range land {
		land[i] = rng.IntN(2) == 1
	}
	return c.Crash(units, land), units, land
}

// Crashes calls visit with every image a crash can leave, one per subset
// of the units of the unflushed writes and extra, while there are at most
// maxUnits units (capped at 20); with more it visits the subsets that
// lose exactly one unit, keep exactly one, keep all and keep none (a
// bounded sample that still covers every single reordering). It stops
// early when visit returns false and returns the number of images
// visited. The images passed to visit are fresh; visit may keep them.
func (c *Store) Crashes(extra []Write, torn bool, maxUnits int, visit func(img []byte, units []Unit, land []bool) bool) int {
	units := c.Units(extra, torn)
	n := len(units)
	land := make([]bool, n)
	count := 0
	maxUnits = min(maxUnits, 20)
	try := func() bool {
		count++
		return visit(c.Crash(units, land), units, land)
	}
	if n <= maxUnits {
		for mask := uint64(0); mask < 1<<n; mask++ {
			for i := range land {
				land[i] = mask&(1<<i) != 0
			}
			if !try() {
				return count
			}
		}
		return count
	}
	for _, all := range []bool{false, true} {
		for i := range land {
			land[i] = all
		}
		if !try() {
			return count
		}
	}
	for k := range n {
		for _, all := range []bool{false, true} {
			for i := range land {
				land[i] = all == (i != k)
			}
			if !try() {
				return count
			}
		}
	}
	return count
}
