package calibrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/qedharness/qedharness/impl/sim"
)

// Fitted is a device fitted to a Result, with what the fit could not
// pin down.
type Fitted struct {
	// Device is the fitted device.
	Device sim.Device
	// Notes say, one sentence each, where the measurements bound a field
	// from one side only or the device departs from the model.
	Notes []string
}

// linkBound is the share of the fitted bandwidth above which a cell's
// throughput counts as limited by the link rather than by channels.
const linkBound = 0.8

// Fit fits a sim.Device called name to r, each field from the cells
// that show it best under the model sim.Device states:
//
//   - Bandwidth: the largest of the link rates the queue-depth-1 reads
//     and writes imply (least squares of mean latency against size: a
//     lone I/O takes latency + bytes/Bandwidth) and the best byte rate
//     any read or write cell of the largest size reached, since no cell
//     can pass the link.
//
//   - ReadLatency and WriteLatency: the mean queue-depth-1 latency at the
//     smallest size, less its transfer.
//
//   - Parallelism: the channel count whose simulated throughputs come
//     closest (squared log ratios) to the measured ones of the cells that
//     matter most, among the reads and writes deeper than queue depth 1
//     and below linkBound of the bandwidth: the writes of the smallest
//     size (the harness's requests), else the reads of it, else all;
//     among counts equally close, those closest on all these cells.
//     Counts are tried upward until the errors stop falling. A real
//     device's throughput often bends where the model's breaks, so one
//     count cannot match every cell. A cell that kept nearly its whole
//     queue busy (by Little's law, its throughput times its
//     queue-depth-1 latency) shows at least that many channels, and the
//     counts start there; when that was the deepest queue measured, a
//     note says the device may have more.
//
//   - Scaling: where throughput grew with depth as min(depth, p)^s,
//     s < 1, the channel count p and exponent s (by least squares over
//     the cells Parallelism is fitted to: log throughput over the
//     queue-depth-1 one against log min(depth, p)) that simulate those
//     cells closest, p from 2 to the deepest queue measured, when that
//     is closer than the fixed channels alone by 10% or more (squared log
//     errors), s below 0.95 (fitScaling).
//
//   - Jitter: the interquartile range of the queue-depth-1 latencies at
//     the smallest size over their median less the transfer (a latency
//     uniform in [L(1-J), L(1+J)] has quartiles L(1∓J/2)), reads and
//     writes averaged, capped at 1.
//
//   - FlushLatency: the mean flush.
//
//   - ConvertTime: from the first writes (fitConvert).
//
//   - ExtendTime: from the extend writes the same way, when ConvertTime
//     is set and r has them; 1ns when they cost no more than overwrites
//     (0 would charge them ConvertTime).
//
// Latencies and the bandwidth are rounded to 4 significant digits. Fit
// fails when r lacks queue-depth-1 reads or writes.
func Fit(r Result, name string) (Fitted, error) {
	var f Fitted
	sizes, qds := r.axes()
	if len(sizes) == 0 {
		return f, errors.New("calibrate: fit: no read or write cells")
	}
	small := sizes[0]
	bw, err := fitBandwidth(r, sizes, qds)
	if err != nil {
		return f, err
	}
	d := sim.Device{Name: name, Bandwidth: round4(int64(math.Round(bw))), Parallelism: 1}
	xfer := func(n int) int64 { return int64(math.Ceil(float64(n) * 1e9 / float64(d.Bandwidth))) }
	qd1 := func(k Kind, s int) Cell { c, _ := r.Find(k, s, 1); return c }
	d.ReadLatency = round4(max(0, qd1(Read, small).Mean-xfer(small)))
	d.WriteLatency = round4(max(0, qd1(Write, small).Mean-xfer(small)))
	var note string
	if d.Parallelism, note = fitChannels(d, r, qds); note != "" {
		f.Notes = append(f.Notes, note)
	}
	if scaled, note := fitScaling(d, r, qds); note != "" {
		d = scaled
		f.Notes = append(f.Notes, note)
	}

	var j []float64
	for _, k := range []Kind{Read, Write} {
		c := qd1(k, small)
		if base := c.P50 - xfer(small); base > 0 {
			j = append(j, float64(c.P75-c.P25)/float64(base))
		}
	}
	if len(j) > 0 {
		d.Jitter = math.Round(min(1, (j[0]+j[len(j)-1])/2)*100) / 100
	}
	if c, ok := r.Find(Flush, 0, 0); ok {
		d.FlushLatency = round4(c.Mean)
	}
	if d.ConvertTime, note = fitConvert(r, FirstWrite, small, qds); note != "" {
		f.Notes = append(f.Notes, note)
	}
	d.ConvertTime = round4(d.ConvertTime)
	if _, ok := r.Find(ExtendWrite, small, 1); ok && d.ConvertTime > 0 {
		if d.ExtendTime, note = fitConvert(r, ExtendWrite, small, qds); note != "" {
			f.Notes = append(f.Notes, note)
		}
		if d.ExtendTime = round4(d.ExtendTime); d.ExtendTime == 0 {
			d.ExtendTime = 1
			f.Notes = append(f.Notes, "extend: writes extending written space cost no more than overwrites (1ns)")
		}
	}
	if err := d.Validate(); err != nil {
		return f, fmt.Errorf("calibrate: fit: %w", err)
	}
	f.Device = d
	return f, nil
}

// fitBandwidth returns the link rate in bytes per second (see Fit),
// or an error when r lacks queue-depth-1 reads or writes at the smallest
// size or shows no rate.
func fitBandwidth(r Result, sizes, qds []int) (float64, error) {
	small, large := sizes[0], sizes[len(sizes)-1]
	var bw float64
	for _, k := range []Kind{Read, Write} {
		var xs, ys []float64
		for _, s := range sizes {
			if c, ok := r.Find(k, s, 1); ok && c.Ops > 0 {
				xs, ys = append(xs, float64(s)), append(ys, float64(c.Mean))
			}
		}
		if len(xs) == 0 || xs[0] != float64(small) {
			return 0, fmt.Errorf("calibrate: fit: no %s cell at %s, queue depth 1", k, sizeName(small))
		}
		if _, slope := leastSquares(xs, ys); slope > 0 {
			bw = max(bw, 1e9/slope)
		}
		for _, qd := range qds {
			if c, ok := r.Find(k, large, qd); ok {
				bw = max(bw, c.BytesPerSec())
			}
		}
	}
	if !(bw > 0) || bw > math.MaxInt64/2 {
		return 0, errors.New("calibrate: fit: no bandwidth: latencies do not grow with size and no cell moved bytes")
	}
	return bw, nil
}

// fitChannels returns the channel count for d, whose other fields are
// fitted (see Fit), with a note when the measurements bound it from
// below only.
func fitChannels(d sim.Device, r Result, qds []int) (int, string) {
	sizes, _ := r.axes()
	best, bestQD := 0.0, 0
	var deep []Cell // the cells channels may bound
	for _, c := range r.Cells {
		if c.Kind != Read && c.Kind != Write || c.QD <= 1 || c.Ops == 0 || c.BytesPerSec() >= linkBound*float64(d.Bandwidth) {
			continue
		}
		deep = append(deep, c)
		lone, _ := r.Find(c.Kind, c.Size, 1)
		if busy := c.OpsPerSec() * float64(lone.Mean) / 1e9; busy > best {
			best, bestQD = busy, c.QD
		}
	}
	if len(deep) == 0 {
		return 1, "parallelism: every cell deeper than queue depth 1 was bound by the link, so the channels are unknown; 1 assumed"
	}
	least := 1
	unsaturated := best >= 0.9*float64(bestQD) // it kept nearly its whole queue busy
	if unsaturated {
		least = bestQD
	}
	p := fitParallelism(d, preferred(deep, sizes[0]), deep, least, r.Region)
	if deepest := qds[len(qds)-1]; bestQD == deepest && unsaturated {
		return p, fmt.Sprintf("parallelism: throughput still grew up to queue depth %d, the deepest measured; the device has at least %d channels (measure deeper queues to find more)", deepest, p)
	}
	return p, ""
}

// fitScaling returns d with Scaling and Parallelism fitted (see Fit)
// and a note saying so, or d and "" when the fixed-latency channels of d
// simulate the cells as well.
func fitScaling(d sim.Device, r Result, qds []int) (sim.Device, string) {
	sizes, _ := r.axes()
	var deep []Cell
	for _, c := range r.Cells {
		if (c.Kind == Read || c.Kind == Write) && c.QD > 1 && c.Ops > 0 && c.BytesPerSec() < linkBound*float64(d.Bandwidth) {
			deep = append(deep, c)
		}
	}
	cells := preferred(deep, sizes[0])
	sqErr := func(d sim.Device) float64 {
		e := 0.0
		for _, c := range cells {
			e += math.Pow(math.Log(simulateCell(d, c, r.Region)/c.OpsPerSec()), 2)
		}
		return e
	}
	// A scaled device must beat the fixed channels clearly: within the
	// measurements' noise, the fixed model is the simpler one.
	best, bestErr := d, 0.9*sqErr(d)
	for p := 2; p <= qds[len(qds)-1]; p++ {
		s, ok := scalingExponent(r, cells, p)
		if !ok {
			continue
		}
		scaled := d
		scaled.Scaling, scaled.Parallelism = s, p
		if e := sqErr(scaled); e < bestErr-1e-9*bestErr {
			best, bestErr = scaled, e
		}
	}
	if best.Scaling == 0 {
		return d, ""
	}
	return best, fmt.Sprintf("scaling: throughput grew as depth^%.2f up to %d at once, closer than %d fixed channels: latency rises with the I/Os in service",
		best.Scaling, best.Parallelism, d.Parallelism)
}

// scalingExponent fits, by least squares through the origin, the
// exponent s with which each cell's throughput over its queue-depth-1
// one grows as min(depth, p)^s, rounded to 2 digits; ok is false when
// no cell tells, or s is not in (0, 0.95) (from 0.95 on, latency barely
// rises with load: the fixed channels).
func scalingExponent(r Result, cells []Cell, p int) (s float64, ok bool) {
	var sxy, sxx float64
	for _, c := range cells {
		lone, found := r.Find(c.Kind, c.Size, 1)
		if !found || lone.OpsPerSec() <= 0 {
			continue
		}
		x := math.Log(float64(min(c.QD, p)))
		sxy += x * math.Log(c.OpsPerSec()/lone.OpsPerSec())
		sxx += x * x
	}
	if sxx == 0 {
		return 0, false
	}
	s = math.Round(sxy/sxx*100) / 100
	return s, s > 0 && s < 0.95
}

// fitConvert fits Device.ConvertTime to the first writes (kind
// FirstWrite), or Device.ExtendTime to the extend writes (ExtendWrite),
// of size bytes, with a note saying how. Where those writes at the
// deepest queue depth ran at least 10% slower than overwrites, the
// conversion step is their bound: one per their interval. Otherwise,
// where a lone one took at least 10% longer than a lone overwrite
// (medians, which a few stalls do not move), it is the difference, but
// no more than the interval of the deepest ones, which the one step
// must not bound below what they ran. Otherwise they cost nothing more,
// and it is 0.
func fitConvert(r Result, kind Kind, size int, qds []int) (int64, string) {
	field, what, lone := "convert", "first writes into grown space", "first write into grown space"
	if kind == ExtendWrite {
		field, what, lone = "extend", "writes extending written space into grown space", "write extending written space into grown space"
	}
	deepest := qds[len(qds)-1]
	fw, ok1 := r.Find(kind, size, deepest)
	w, ok2 := r.Find(Write, size, deepest)
	if ok1 && ok2 && fw.Ops > 0 && fw.OpsPerSec() < 0.9*w.OpsPerSec() {
		return int64(math.Round(1e9 / fw.OpsPerSec())), fmt.Sprintf("%s: %s at %s, queue depth %d ran %.0f/s, %.2fx the overwrites (%.0f/s): one conversion per %.1fus",
			field, what, sizeName(size), deepest, fw.OpsPerSec(), fw.OpsPerSec()/w.OpsPerSec(), w.OpsPerSec(), 1e6/fw.OpsPerSec())
	}
	deep, okDeep := fw, ok1 && fw.Ops > 0
	fw, ok1 = r.Find(kind, size, 1)
	w, ok2 = r.Find(Write, size, 1)
	if ok1 && ok2 && fw.Ops > 0 && float64(fw.P50) > 1.1*float64(w.P50) {
		cost, capped := fw.P50-w.P50, ""
		if okDeep {
			// Charged to the one step, the cost must not bound the deep
			// cell below what it ran.
			if bound := int64(math.Round(1e9 / deep.OpsPerSec())); bound < cost {
				cost, capped = bound, fmt.Sprintf("; capped at %.1fus, the interval of the queue-depth-%d ones", float64(bound)/1e3, deepest)
			}
		}
		return cost, fmt.Sprintf("%s: a lone %s at %s took %.1fus (median), %.1fus more than an overwrite%s", field, lone, sizeName(size), float64(fw.P50)/1e3, float64(fw.P50-w.P50)/1e3, capped)
	}
	return 0, ""
}

// preferred returns the cells of deep that Parallelism is fitted to:
// the writes of size bytes, else the reads of it, else all.
func preferred(deep []Cell, size int) []Cell {
	for _, k := range []Kind{Write, Read} {
		var out []Cell
		for _, c := range deep {
			if c.Kind == k && c.Size == size {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return deep
}

// fitParallelism returns the channel count, least or more, with which
// device d simulates the preferred cells closest (squared log ratios of
// throughputs, summed), and among counts equally close, all the cells;
// it tries counts upward until neither error falls.
func fitParallelism(d sim.Device, preferred, all []Cell, least int, region int64) int {
	sqErr := func(cells []Cell) float64 {
		e := 0.0
		for _, c := range cells {
			e += math.Pow(math.Log(simulateCell(d, c, region)/c.OpsPerSec()), 2)
		}
		return e
	}
	better := func(a, b float64) bool { return a < b-1e-9*b-1e-12 }
	d.Parallelism = least
	bestP, bestPref, bestAll := least, sqErr(preferred), sqErr(all)
	for p := least + 1; p < least+1024; p++ {
		d.Parallelism = p
		ePref, eAll := sqErr(preferred), sqErr(all)
		switch {
		case better(ePref, bestPref):
		case !better(bestPref, ePref) && better(eAll, bestAll):
		default:
			return bestP
		}
		bestP, bestPref, bestAll = p, ePref, eAll
	}
	return bestP
}

// simulatedOps is how many I/Os simulateCell simulates.
const simulatedOps = 2000

// simulateCell returns the throughput d gives, on sim, for c's kind,
// size and queue depth (reads or overwrites, at random offsets in a
// region of region bytes).
func simulateCell(d sim.Device, c Cell, region int64) float64 {
	t, err := SimTarget(d, 1)
	if err != nil {
		return 0
	}
	n := max(simulatedOps, 8*c.QD)
	m := &measurer{ctx: context.Background(), t: t, cfg: Config{Seed: 1, Budget: math.MaxInt64, MinOps: n, MaxOps: n}}
	m.bufs = make([][]byte, c.QD)
	for i := range m.bufs {
		m.bufs[i] = make([]byte, c.Size)
	}
	slots := uint64(max(region/int64(c.Size), 1))
	sc, err := m.run(phase{kind: c.Kind, size: c.Size, qd: c.QD, limit: n, next: func(r *rand.PCG) uint64 { return r.Uint64() % slots * uint64(c.Size) }})
	if err != nil {
		return 0
	}
	return sc.OpsPerSec()
}

// round4 rounds n to 4 significant digits: the measurements are not
// finer.
func round4(n int64) int64 {
	if n < 10000 {
		return n
	}
	scale := int64(math.Pow10(int(math.Floor(math.Log10(float64(n)))) - 3))
	return (n + scale/2) / scale * scale
}

// axes returns the sizes and queue depths of r's read and write cells,
// each ascending.
func (r Result) axes() (sizes, qds []int) {
	for _, c := range r.Cells {
		if c.Kind == Read || c.Kind == Write {
			sizes, qds = append(sizes, c.Size), append(qds, c.QD)
		}
	}
	slices.Sort(sizes)
	slices.Sort(qds)
	return slices.Compact(sizes), slices.Compact(qds)
}

// leastSquares fits y = a + b x; with one point, b is 0.
func leastSquares(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	if den := n*sxx - sx*sx; den != 0 {
		b = (n*sxy - sx*sy) / den
	}
	return (sy - b*sx) / n, b
}
