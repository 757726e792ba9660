package workloads

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// maxSplit bounds the block sizes of one direction of a bssplit, as
// fio's BSSPLIT_MAX.
const maxSplit = 64

// sizeShare is one block size of a split with its share of requests, in
// percent.
type sizeShare struct {
	size uint64
	perc int
}

// bsSplit is a parsed bssplit: the shares for reads and for writes.
type bsSplit [2][]sizeShare

// parseBSSplit parses fio's bssplit: "SIZE/PERCENT:..." for reads and
// writes, or "READS,WRITES[,TRIMS]" (the third is ignored: trims take
// the writes' sizes). A blank PERCENT shares what the others leave evenly; the
// percentages add up to 100.
func parseBSSplit(v string) (bsSplit, error) {
	dirs, err := perDirection(v, "SPLIT")
	if err != nil {
		return bsSplit{}, err
	}
	var s bsSplit
	for dir, text := range dirs {
		shares, err := parseShares(text)
		if err != nil {
			return bsSplit{}, err
		}
		s[dir] = shares
	}
	return s, nil
}

// perDirection splits fio's "READS,WRITES[,TRIMS]" (or one value for
// both) into the reads' and the writes' text; the trims' is ignored
// (trims take the writes' sizes). what names one value in the error.
func perDirection(v, what string) ([2]string, error) {
	parts := strings.Split(v, ",")
	if len(parts) > 3 {
		return [2]string{}, fmt.Errorf("want %s or READS,WRITES[,TRIMS]", what)
	}
	if len(parts) == 1 {
		return [2]string{v, v}, nil
	}
	return [2]string{parts[0], parts[1]}, nil
}

// canonBSSplit parses a bssplit and renders it as Job.BSSplit holds it.
func canonBSSplit(v string) (string, error) {
	s, err := parseBSSplit(v)
	return s.String(), err
}

// canonBSRange parses a bsrange and renders it as Job.BSRange holds it.
func canonBSRange(v string) (string, error) {
	r, err := parseBSRange(v)
	return r.String(), err
}

// parseShares parses one direction of a bssplit.
func parseShares(text string) ([]sizeShare, error) {
	var shares []sizeShare
	blank, sum := 0, 0
	for _, part := range strings.Split(text, ":") {
		if part == "" {
			continue
		}
		if len(shares) == maxSplit {
			return nil, fmt.Errorf("more than %d block sizes", maxSplit)
		}
		size, perc, hasPerc := strings.Cut(part, "/")
		n, err := ParseSize(size)
		if err != nil {
			return nil, err
		}
		sh := sizeShare{size: n, perc: -1}
		if hasPerc && strings.TrimSpace(perc) != "" {
			p, err := strconv.Atoi(strings.TrimSpace(perc))
			if err != nil || p < 0 || p > 100 {
				return nil, fmt.Errorf("%q: the percentage must be a whole number in [0, 100]", part)
			}
			sh.perc = p
			sum += p
		} else {
			blank++
		}
		shares = append(shares, sh)
	}
	switch {
	case len(shares) == 0:
		return nil, errors.New("no block sizes (want SIZE/PERCENT:SIZE/PERCENT...)")
	case sum > 100:
		return nil, fmt.Errorf("percentages add up to %d, more than 100", sum)
	case blank == 0 && sum != 100:
		return nil, fmt.Errorf("percentages add up to %d, not 100", sum)
	}
	for i := range shares {
		if shares[i].perc < 0 {
			shares[i].perc = (100 - sum) / blank
		}
	}
	return shares, nil
}

// String renders the split as bssplit takes it, one direction if both
// are the same.
func (s bsSplit) String() string {
	dir := func(shares []sizeShare) string {
		parts := make([]string, len(shares))
		for i, sh := range shares {
			parts[i] = FormatSize(sh.size) + "/" + strconv.Itoa(sh.perc)
		}
		return strings.Join(parts, ":")
	}
	r, w := dir(s[0]), dir(s[1])
	if r == w {
		return r
	}
	return r + "," + w
}

// bsRange is a parsed bsrange: [min, max] for reads and for writes.
type bsRange [2][2]uint64

// parseBSRange parses fio's bsrange: "MIN-MAX" (or "MIN:MAX") for reads
// and writes, or "READS,WRITES[,TRIMS]"; reversed bounds are swapped, as
// in fio.
func parseBSRange(v string) (bsRange, error) {
	dirs, err := perDirection(v, "MIN-MAX")
	if err != nil {
		return bsRange{}, err
	}
	var r bsRange
	for dir, text := range dirs {
		lo, hi, ok := strings.Cut(text, "-")
		if !ok {
			lo, hi, ok = strings.Cut(text, ":")
		}
		if !ok {
			return bsRange{}, fmt.Errorf("%q is not a range (want MIN-MAX)", text)
		}
		a, err := ParseSize(lo)
		if err != nil {
			return bsRange{}, err
		}
		b, err := ParseSize(hi)
		if err != nil {
			return bsRange{}, err
		}
		r[dir] = [2]uint64{min(a, b), max(a, b)}
	}
	return r, nil
}

// String renders the range as bsrange takes it.
func (r bsRange) String() string {
	dir := func(d [2]uint64) string { return FormatSize(d[0]) + "-" + FormatSize(d[1]) }
	if r[0] == r[1] {
		return dir(r[0])
	}
	return dir(r[0]) + "," + dir(r[1])
}

// blockSizes is how a plan sizes each request when the sizes vary: by a
// split, a range, or bs=READ,WRITE[,TRIM]. Trims take the writes' sizes
// unless trimSize, from bs=READ,WRITE,TRIM, is set. It is immutable.
type blockSizes struct {
	split    bsSplit
	rng      bsRange
	hasSplit bool
	trimSize uint64
	// smallest and largest size over both directions
	min, max uint64
}

// newBlockSizes returns the job's variable block sizes, or nil when every
// request is bs. A problem is a *KeyError for the key to change.
func newBlockSizes(j *Job) (*blockSizes, error) {
	b := &blockSizes{}
	key := ""
	switch {
	case j.BSSplit != "":
		s, err := parseBSSplit(j.BSSplit)
		if err != nil {
			return nil, j.keyError("bssplit", err)
		}
		b.split, b.hasSplit, key = s, true, "bssplit"
	case j.BSRange != "":
		r, err := parseBSRange(j.BSRange)
		if err != nil {
			return nil, j.keyError("bsrange", err)
		}
		if r[0][0] == r[0][1] && r[1][0] == r[1][1] && r[0] == r[1] {
			return nil, nil // one size: as bs (the caller sets it)
		}
		b.rng, key = r, "bsrange"
	case j.WriteBlockSize != 0 && j.WriteBlockSize != j.BlockSize || j.TrimBlockSize != 0:
		b.split = bsSplit{{{j.BlockSize, 100}}, {{j.writeSize(), 100}}}
		b.hasSplit, b.trimSize, key = true, j.TrimBlockSize, "bs"
	default:
		return nil, nil
	}
	b.min = ^uint64(0)
	for dir := range 3 {
		if dir == 2 {
			if b.trimSize == 0 {
				break
			}
			if n := b.trimSize; n%impl.SectorSize != 0 {
				return nil, j.keyError(key, fmt.Errorf("block size %s is not a positive multiple of %d bytes", FormatSize(n), impl.SectorSize))
			}
			b.min, b.max = min(b.min, b.trimSize), max(b.max, b.trimSize)
			break
		}
		sizes := []uint64{b.rng[dir][0], b.rng[dir][1]}
		if b.hasSplit {
			sizes = sizes[:0]
			for _, sh := range b.split[dir] {
				if sh.perc > 0 {
					sizes = append(sizes, sh.size)
				}
			}
		}
		for _, n := range sizes {
			if n == 0 || n%impl.SectorSize != 0 {
				return nil, j.keyError(key, fmt.Errorf("block size %s is not a positive multiple of %d bytes", FormatSize(n), impl.SectorSize))
			}
			b.min, b.max = min(b.min, n), max(b.max, n)
		}
	}
	return b, nil
}

// singleRange returns the one size of a bsrange whose bounds are all
// equal (bsrange=4k-4k), as bs.
func singleRange(j *Job) (uint64, bool) {
	if j.BSSplit != "" || j.BSRange == "" {
		return 0, false
	}
	r, err := parseBSRange(j.BSRange)
	if err != nil || r[0][0] != r[0][1] || r[0] != r[1] {
		return 0, false
	}
	return r[0][0], true
}

// pick draws the size of a request of kind k from rng, as fio's
// get_next_buflen: a split's sizes by their shares; a range's sizes
// min + max*u rounded down to a multiple of min and at most max.
func (b *blockSizes) pick(rng *rand.Rand, k OpKind) uint64 {
	if k == OpTrim && b.trimSize != 0 {
		return b.trimSize
	}
	dir := 0
	if k == OpWrite || k == OpTrim {
		dir = 1
	}
	if b.hasSplit {
		shares := b.split[dir]
		if len(shares) == 1 {
			return shares[0].size
		}
		u := rng.IntN(100)
		acc := 0
		for _, sh := range shares {
			acc += sh.perc
			if u < acc {
				return sh.size
			}
		}
		return shares[len(shares)-1].size
	}
	lo, hi := b.rng[dir][0], b.rng[dir][1]
	n := lo + uint64(float64(hi)*rng.Float64())
	return min(n/lo*lo, hi)
}
