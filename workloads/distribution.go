package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// DistKind is the kind of a random distribution.
type DistKind string

const (
	// Uniform draws every block with equal probability (fio's "random").
	Uniform DistKind = "random"
	// Zipf draws block ranks with probability proportional to 1/rank^Theta.
	Zipf DistKind = "zipf"
)

// Distribution is fio's random_distribution: uniform, or zipf with an
// exponent Theta (positive, not 1).
type Distribution struct {
	Kind  DistKind
	Theta float64
}

// String renders the distribution as fio writes it: "random" or "zipf:1.2".
func (d Distribution) String() string {
	if d.Kind == Zipf {
		return "zipf:" + strconv.FormatFloat(d.Theta, 'g', -1, 64)
	}
	return string(Uniform)
}

// ParseDistribution parses "random", "uniform" or "zipf:THETA".
func ParseDistribution(s string) (Distribution, error) {
	switch s = strings.TrimSpace(s); {
	case s == "random" || s == "uniform":
		return Distribution{Kind: Uniform}, nil
	case strings.HasPrefix(s, "zipf:"):
		t, err := strconv.ParseFloat(s[len("zipf:"):], 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
			return Distribution{}, fmt.Errorf("zipf exponent %q is not a number", s[len("zipf:"):])
		}
		if t <= 0 || t == 1 {
			return Distribution{}, fmt.Errorf("zipf exponent %v must be positive and not 1", t)
		}
		return Distribution{Kind: Zipf, Theta: t}, nil
	case s == "zipf":
		return Distribution{}, errors.New("zipf needs an exponent, as in zipf:1.2")
	}
	return Distribution{}, fmt.Errorf("unknown distribution %q (want random, uniform or zipf:THETA)", s)
}

// zipfCDF tabulates the cumulative weights of ranks 1..n under exponent theta.
func zipfCDF(n uint64, theta float64) []float64 {
	cdf := make([]float64, n)
	var sum float64
	for i := range cdf {
		sum += math.Pow(float64(i+1), -theta)
		cdf[i] = sum
	}
	return cdf
}

// scatter picks an affine bijection of [0, n): rank r maps to
// (r*mul + add) mod n, spreading a zipf job's hot blocks over the region
// as fio's zipf hashing does.
func scatter(rng *rand.Rand, n uint64) (mul, add uint64) {
	if n <= 1 {
		return 1, 0
	}
	for {
		mul = rng.Uint64N(n-1) + 1
		if gcd(mul, n) == 1 {
			return mul, rng.Uint64N(n)
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// zipfScatter draws a stream's blocks under a plan's zipf distribution:
// a rank from the tabulated cumulative weights, mapped to a block by the
// stream's affine bijection (see scatter).
type zipfScatter struct{ mul, add uint64 }

// newZipfScatter picks a stream's bijection of n blocks from rng.
func newZipfScatter(rng *rand.Rand, n uint64) zipfScatter {
	mul, add := scatter(rng, n)
	return zipfScatter{mul, add}
}

// block draws one of the n blocks from rng, cdf being zipfCDF(n, theta).
func (z zipfScatter) block(rng *rand.Rand, cdf []float64, n uint64) uint64 {
	u := rng.Float64() * cdf[len(cdf)-1]
	rank := uint64(sort.SearchFloat64s(cdf, u))
	rank = min(rank, n-1)
	hi, lo := bits.Mul64(rank, z.mul)
	return (bits.Rem64(hi, lo, n) + z.add) % n
}
