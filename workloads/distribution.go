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
	// Pareto draws block ranks as fio's pareto does: rank (n-1)*u^p for a
	// uniform u in [0, 1) and p = log(h)/log(1-h), h being Theta in (0, 1).
	Pareto DistKind = "pareto"
	// Normal draws as fio's normal (gauss): the mean of 12 uniform draws
	// over the blocks, moved by a uniform deviation of up to Theta percent
	// of the blocks (Theta in [0, 100)).
	Normal DistKind = "normal"
	// Zoned gives each zone of the region (a percentage of it, in order)
	// a percentage of the accesses, uniform within the zone (Spec is
	// "access/size:..." in percent, as fio's zoned).
	Zoned DistKind = "zoned"
	// ZonedAbs is Zoned with zone sizes in bytes (fio's zoned_abs).
	ZonedAbs DistKind = "zoned_abs"
	// Sequence visits a fixed list of block indices in order, again and
	// again (fio's sequence; Spec is the list, "2,0,1"); with
	// random_sequence_stride each repetition moves on by the list's length.
	Sequence DistKind = "sequence"
)

// Defaults of the distributions' parameter, as fio's (FIO_DEF_ZIPF,
// FIO_DEF_PARETO; normal's deviation defaults to 0).
const (
	defaultZipfTheta = 1.1
	defaultParetoH   = 0.2
)

// maxZones bounds a zoned distribution's zones, and maxSequence a
// sequence distribution's elements, as fio's (ZONESPLIT_MAX,
// FIO_SEQ_MAX).
const (
	maxZones    = 256
	maxSequence = 64
)

// Distribution is fio's random_distribution. Theta is the parameter of
// zipf (the exponent, positive and not 1), pareto (the power h, in
// (0, 1)) and normal (the deviation in percent, in [0, 100)). Center, if
// HasCenter, moves the hot spot of zipf, pareto and normal to that
// fraction of the blocks, in [0, 1], as fio's second parameter does.
// Spec holds zoned's and zoned_abs's zones and sequence's indices in
// fio's syntax. A Distribution is comparable, so a Job stays comparable.
type Distribution struct {
	Kind      DistKind
	Theta     float64
	Center    float64
	HasCenter bool
	Spec      string
}

// String renders the distribution as fio writes it: "random",
// "zipf:1.2", "pareto:0.2:0.5", "zoned:60/10:40/90".
func (d Distribution) String() string {
	switch d.Kind {
	case Zipf, Pareto, Normal:
		s := string(d.Kind) + ":" + strconv.FormatFloat(d.Theta, 'g', -1, 64)
		if d.HasCenter {
			s += ":" + strconv.FormatFloat(d.Center, 'g', -1, 64)
		}
		return s
	case Zoned, ZonedAbs, Sequence:
		return string(d.Kind) + ":" + d.Spec
	}
	return string(Uniform)
}

// ParseDistribution parses fio's random_distribution: "random" (or
// "uniform"); "zipf[:THETA[:CENTER]]", "pareto[:H[:CENTER]]",
// "normal[:DEV[:CENTER]]" (or "gauss"), each parameter defaulting as in
// fio; "zoned:ACCESS/SIZE:..." with percentages (a blank SIZE shares what
// the others leave), "zoned_abs:ACCESS/BYTES:..."; "sequence:I,J,...".
// Separate distributions for reads and writes (fio's "," lists) are
// refused.
func ParseDistribution(s string) (Distribution, error) {
	s = strings.TrimSpace(s)
	name, rest, hasRest := strings.Cut(s, ":")
	switch name {
	case "random", "uniform":
		if hasRest {
			return Distribution{}, fmt.Errorf("%s takes no parameter", name)
		}
		return Distribution{Kind: Uniform}, nil
	case "zipf", "pareto", "normal", "gauss":
		return parseSkewed(name, rest, hasRest)
	case "zoned", "zoned_abs":
		kind := Zoned
		if name == "zoned_abs" {
			kind = ZonedAbs
		}
		if !hasRest || rest == "" {
			return Distribution{}, fmt.Errorf("%s needs zones, as in %s:60/10:40/90", name, name)
		}
		if strings.Contains(rest, ",") {
			return Distribution{}, fmt.Errorf("%s: separate zones for reads and writes are not supported", name)
		}
		zones, err := parseZones(rest, kind == ZonedAbs)
		if err != nil {
			return Distribution{}, fmt.Errorf("%s: %w", name, err)
		}
		return Distribution{Kind: kind, Spec: formatZones(zones, kind == ZonedAbs)}, nil
	case "sequence":
		seq, err := parseSequence(rest)
		if err != nil {
			return Distribution{}, fmt.Errorf("sequence: %w", err)
		}
		return Distribution{Kind: Sequence, Spec: formatSequence(seq)}, nil
	}
	return Distribution{}, fmt.Errorf("unknown distribution %q (want random, zipf, pareto, normal, zoned, zoned_abs or sequence)", s)
}

// parseSkewed parses the parameters of zipf, pareto and normal (gauss).
func parseSkewed(name, rest string, hasRest bool) (Distribution, error) {
	d := Distribution{Kind: DistKind(name)}
	switch name {
	case "zipf":
		d.Theta = defaultZipfTheta
	case "pareto":
		d.Theta = defaultParetoH
	case "gauss":
		d.Kind = Normal
	}
	if hasRest {
		if strings.Contains(rest, ",") {
			return Distribution{}, fmt.Errorf("%s: separate distributions for reads and writes are not supported", name)
		}
		param, center, hasCenter := strings.Cut(rest, ":")
		t, err := parseFloat(param)
		if err != nil {
			return Distribution{}, fmt.Errorf("%s parameter %q is not a number", name, param)
		}
		d.Theta = t
		if hasCenter {
			c, err := parseFloat(center)
			if err != nil || c < 0 || c > 1 {
				return Distribution{}, fmt.Errorf("%s center %q: want a number in [0, 1]", name, center)
			}
			d.Center, d.HasCenter = c, true
		}
	}
	if err := d.checkTheta(); err != nil {
		return Distribution{}, err
	}
	return d, nil
}

// checkTheta checks the parameter of zipf, pareto and normal.
func (d Distribution) checkTheta() error {
	t := d.Theta
	switch d.Kind {
	case Zipf:
		if !(t > 0) || t == 1 || math.IsInf(t, 0) {
			return fmt.Errorf("zipf exponent %v must be positive, finite and not 1", t)
		}
	case Pareto:
		if !(t > 0 && t < 1) {
			return fmt.Errorf("pareto power %v must be in (0, 1)", t)
		}
	case Normal:
		if !(t >= 0 && t < 100) {
			return fmt.Errorf("normal deviation %v must be a percentage in [0, 100)", t)
		}
	}
	return nil
}

// parseFloat parses a finite number.
func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number")
	}
	return f, nil
}

// zone is one zone of a zoned distribution: the percentage of accesses
// it gets and its size, in percent of the region (zoned) or in bytes
// (zoned_abs).
type zone struct {
	access int
	size   uint64
}

// parseZones parses "ACCESS/SIZE:..." as fio does: access percentages
// must add up to 100; with percent sizes (abs false), sizes left blank
// share what the others leave evenly, and the sizes add up to at most
// 100; with byte sizes, every size is given.
func parseZones(s string, abs bool) ([]zone, error) {
	var zones []zone
	blank, sumAccess, sumSize := 0, 0, uint64(0)
	for _, part := range strings.Split(s, ":") {
		if part == "" {
			break // fio stops at an empty entry: "60/10:40/90:" ends there
		}
		if len(zones) == maxZones {
			return nil, fmt.Errorf("more than %d zones", maxZones)
		}
		acc, size, hasSize := strings.Cut(part, "/")
		a, err := strconv.Atoi(strings.TrimSpace(acc))
		if err != nil || a < 0 || a > 100 {
			return nil, fmt.Errorf("access percentage %q: want a whole number in [0, 100]", acc)
		}
		z := zone{access: a}
		switch size = strings.TrimSpace(size); {
		case abs && (!hasSize || size == ""):
			return nil, fmt.Errorf("zone %q has no size (want ACCESS/BYTES)", part)
		case abs:
			n, err := ParseSize(size)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("zone %q: size %q is not a positive size", part, size)
			}
			z.size = n
		case !hasSize || size == "":
			blank++
		default:
			n, err := strconv.Atoi(size)
			if err != nil || n < 1 || n > 100 {
				return nil, fmt.Errorf("zone %q: size %q: want a percentage in [1, 100] or blank", part, size)
			}
			z.size = uint64(n)
			sumSize += z.size
		}
		sumAccess += a
		zones = append(zones, z)
	}
	switch {
	case len(zones) == 0:
		return nil, errors.New("no zones")
	case sumAccess != 100:
		return nil, fmt.Errorf("access percentages add up to %d, not 100", sumAccess)
	case !abs && sumSize > 100:
		return nil, fmt.Errorf("zone sizes add up to %d%%, more than 100%%", sumSize)
	}
	if blank > 0 {
		share := (100 - sumSize) / uint64(blank)
		if share == 0 {
			return nil, errors.New("the zones with a blank size get nothing: the others take 100%")
		}
		for i := range zones {
			if zones[i].size == 0 {
				zones[i].size = share
			}
		}
	}
	return zones, nil
}

// formatZones renders zones in fio's syntax, every size given.
func formatZones(zones []zone, abs bool) string {
	parts := make([]string, len(zones))
	for i, z := range zones {
		size := strconv.FormatUint(z.size, 10)
		if abs {
			size = FormatSize(z.size)
		}
		parts[i] = strconv.Itoa(z.access) + "/" + size
	}
	return strings.Join(parts, ":")
}

// parseSequence parses sequence's block indices, "2,0,1".
func parseSequence(s string) ([]uint64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("needs block indices, as in sequence:2,0,1")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxSequence {
		return nil, fmt.Errorf("%d indices, more than %d", len(parts), maxSequence)
	}
	out := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("index %q is not a whole number", p)
		}
		out[i] = n
	}
	return out, nil
}

// formatSequence renders sequence's indices.
func formatSequence(seq []uint64) string {
	parts := make([]string, len(seq))
	for i, n := range seq {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}

// distTable is what a plan computes once for its distribution over n
// blocks (units): zipf's cumulative weights, the zones in blocks, the
// sequence. It is immutable and shared by the plan's streams.
type distTable struct {
	d      Distribution
	n      uint64
	cdf    []float64 // zipf
	pow    float64   // pareto's exponent
	stddev uint64    // normal's deviation in blocks
	zones  []zoneBlocks
	seq    []uint64
	stride bool // sequence: each repetition moves on by len(seq)
}

// zoneBlocks is a zone in blocks: its first block, its count, and the
// cumulative access percentage up to and including it.
type zoneBlocks struct {
	first, n uint64
	upTo     int
}

// newDistTable computes the table of d over n blocks of unit bytes each
// (n > 0). A problem is an error for the key random_distribution.
func newDistTable(d Distribution, n, unit uint64, stride bool) (*distTable, error) {
	t := &distTable{d: d, n: n, stride: stride}
	switch d.Kind {
	case Zipf:
		if n > maxZipfBlocks {
			return nil, fmt.Errorf("zipf draws from at most %d blocks per instance; the region has %d", maxZipfBlocks, n)
		}
		t.cdf = zipfCDF(n, d.Theta)
	case Pareto:
		t.pow = math.Log(d.Theta) / math.Log(1-d.Theta)
	case Normal:
		if d.Theta != 0 {
			t.stddev = min(uint64(math.Ceil(float64(n)*d.Theta/100)), n/2)
		}
	case Zoned, ZonedAbs:
		zones, err := parseZones(d.Spec, d.Kind == ZonedAbs)
		if err != nil {
			return nil, err
		}
		var start, upTo uint64
		acc := 0
		for _, z := range zones {
			var zb zoneBlocks
			if d.Kind == ZonedAbs {
				zb = zoneBlocks{first: upTo / unit, n: z.size / unit}
				upTo += z.size
				if upTo > n*unit {
					return nil, fmt.Errorf("zoned_abs zones end at %s, past the region's %s", FormatSize(upTo), FormatSize(n*unit))
				}
			} else {
				// As fio: the zone starts at start% of the blocks and
				// spans size% of them.
				zb = zoneBlocks{first: start * n / 100, n: n * z.size / 100}
				start += z.size
			}
			zb.n = max(zb.n, 1)
			acc += z.access
			zb.upTo = acc
			t.zones = append(t.zones, zb)
		}
	case Sequence:
		seq, err := parseSequence(d.Spec)
		if err != nil {
			return nil, err
		}
		t.seq = seq
		for _, b := range seq {
			if b >= n {
				return nil, fmt.Errorf("sequence index %d is past the region's %d blocks", b, n)
			}
		}
	}
	return t, nil
}

// sequenceLength returns how many blocks a sequence with stride visits
// before one falls past the region (the stream then ends), or 0 when it
// never does (no stride).
func (t *distTable) sequenceLength() uint64 {
	if t.d.Kind != Sequence || !t.stride {
		return 0
	}
	k := uint64(len(t.seq))
	for g := uint64(0); ; g++ {
		for i, b := range t.seq {
			if g*k+b >= t.n {
				return g*k + uint64(i)
			}
		}
	}
}

// distState is a stream's own state of its plan's distribution: the
// bijection that scatters zipf's, pareto's and normal's hot ranks over
// the region, as fio's hashing does.
type distState struct{ mul, add uint64 }

// newState draws a stream's state from rng. Only zipf, pareto and
// normal draw (zipf as before pareto and normal were added, so zipf
// streams replay).
func (t *distTable) newState(rng *rand.Rand) distState {
	switch t.d.Kind {
	case Zipf, Pareto, Normal:
	default:
		return distState{mul: 1}
	}
	mul, add := scatter(rng, t.n)
	if t.d.HasCenter {
		c := t.d.Center
		if t.d.Kind == Normal {
			c -= 0.5 // fio moves normal's natural center, the middle
		}
		add = uint64(math.Floor(math.Mod(c+1, 1) * float64(t.n)))
	} else if t.d.Kind == Normal {
		add = 0 // fio's normal has no random offset
	}
	return distState{mul, add % max(t.n, 1)}
}

// block draws one of the n blocks; seq is the stream's count of
// operations before this one (for sequence).
func (t *distTable) block(st distState, rng *rand.Rand, seq uint64) uint64 {
	n := t.n
	switch t.d.Kind {
	case Zipf:
		u := rng.Float64() * t.cdf[len(t.cdf)-1]
		rank := min(uint64(sort.SearchFloat64s(t.cdf, u)), n-1)
		return st.scatter(rank, n)
	case Pareto:
		rank := uint64(float64(n-1) * math.Pow(rng.Float64(), t.pow))
		return st.scatter(min(rank, n-1), n)
	case Normal:
		var sum uint64
		for range 12 {
			sum += rng.Uint64N(n + 1)
		}
		sum = (sum + 11) / 12
		if t.stddev > 0 {
			dev := int64(rng.Uint64N(t.stddev)) - int64(t.stddev/2)
			for dev > 0 && sum+uint64(dev) >= n {
				dev /= 2
			}
			if dev < 0 && uint64(-dev) > sum {
				dev = -int64(sum)
			}
			sum = uint64(int64(sum) + dev)
		}
		return st.scatter(sum%n, n)
	case Zoned, ZonedAbs:
		v := rng.IntN(100) + 1
		i := sort.Search(len(t.zones), func(i int) bool { return t.zones[i].upTo >= v })
		i = min(i, len(t.zones)-1)
		z := t.zones[i]
		return min(z.first+rng.Uint64N(z.n), n-1)
	case Sequence:
		k := uint64(len(t.seq))
		b := t.seq[seq%k]
		if t.stride {
			b += seq / k * k
		}
		return min(b, n-1)
	}
	return rng.Uint64N(n)
}

// scatter maps rank to a block by the stream's bijection.
func (st distState) scatter(rank, n uint64) uint64 {
	hi, lo := bits.Mul64(rank, st.mul)
	return (bits.Rem64(hi, lo, n) + st.add) % n
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
