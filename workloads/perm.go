package workloads

import (
	"errors"
	"math/rand/v2"
)

// lazyPerm draws a uniformly random permutation of [0, n) one element at
// a time: a Fisher-Yates shuffle that stores only the swapped positions,
// so its memory grows with the draws, not with n. After n draws it starts
// a new permutation, as fio's random map starts a new pass. Up to
// densePermMax elements it keeps the swapped positions in an array
// rather than a map: the same draws and values, at a fraction of the
// cost of map updates.
type lazyPerm struct {
	n, i  uint64
	swaps map[uint64]uint64
	dense []uint32 // n <= densePermMax: value+1 at each swapped position, 0 elsewhere
}

// densePermMax is the largest permutation lazyPerm keeps in an array
// (256 KiB).
const densePermMax = 1 << 16

// reset starts a new permutation.
func (p *lazyPerm) reset() {
	p.i = 0
	clear(p.swaps)
	clear(p.dense)
}

func (p *lazyPerm) next(rng *rand.Rand) uint64 {
	if p.n == 0 {
		panic(errors.New("workloads: permutation of nothing"))
	}
	if p.n <= densePermMax {
		return p.nextDense(rng)
	}
	if p.i == p.n {
		p.i = 0
		clear(p.swaps)
	}
	if p.swaps == nil {
		p.swaps = make(map[uint64]uint64)
	}
	j := p.i + rng.Uint64N(p.n-p.i)
	at := func(k uint64) uint64 {
		if v, ok := p.swaps[k]; ok {
			return v
		}
		return k
	}
	vj := at(j)
	if j != p.i {
		p.swaps[j] = at(p.i)
	}
	delete(p.swaps, p.i)
	p.i++
	return vj
}

// nextDense is next with the swapped positions in p.dense.
func (p *lazyPerm) nextDense(rng *rand.Rand) uint64 {
	if p.i == p.n {
		p.i = 0
		clear(p.dense)
	}
	if p.dense == nil {
		p.dense = make([]uint32, p.n)
	}
	j := p.i + rng.Uint64N(p.n-p.i)
	at := func(k uint64) uint64 {
		if v := p.dense[k]; v != 0 {
			return uint64(v - 1)
		}
		return k
	}
	vj := at(j)
	if j != p.i {
		p.dense[j] = uint32(at(p.i) + 1)
	}
	p.dense[p.i] = 0
	p.i++
	return vj
}
