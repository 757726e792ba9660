package results

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// fioPercentiles are the percentiles fio lists for completion latency by
// default (its percentile_list).
var fioPercentiles = [...]float64{1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99}

// FocusQD returns the queue depth that figures and tables single out
// among the depths of sums: want if some summary has it (want > 0), else
// 32 if some has it, else the deepest.
func FocusQD(sums []Summary, want int) int {
	best := 0
	for _, s := range sums {
		if s.Config.QD == want && want > 0 {
			return want
		}
		if s.Config.QD == 32 && want == 0 {
			return 32
		}
		best = max(best, s.Config.QD)
	}
	return best
}

// WriteLatencyPercentiles writes, for every configuration at its
// backend and device's focus queue depth (FocusQD, as the figures) whose
// runs kept latency histograms, the latency percentiles of every request
// of its repetitions (Summary.Latency) as fio lists them: a line naming
// the configuration, then fio's "clat percentiles" block, its units
// chosen as fio does. Configurations are in the order of sums. It writes
// nothing when no run kept a histogram (a runs.json from before they
// were kept); an error is a histogram that does not decode, or w's.
func WriteLatencyPercentiles(w io.Writer, sums []Summary) error {
	type device struct{ backend, device string }
	groups := map[device][]Summary{}
	for _, s := range sums {
		d := device{s.Config.Backend, s.Config.Device}
		groups[d] = append(groups[d], s)
	}
	focus := map[device]int{}
	for d, g := range groups {
		focus[d] = FocusQD(g, 0)
	}
	bw := bufio.NewWriter(w)
	first := true
	for i := range sums {
		s := &sums[i]
		c := s.Config
		if c.QD != focus[device{c.Backend, c.Device}] || s.Runs == 0 || len(s.LatencyHDR) == 0 {
			continue
		}
		h, err := s.Latency()
		if err != nil {
			return err
		}
		if first {
			fmt.Fprintf(bw, "Latency percentiles at the focus queue depth, of every request of the repetitions (HDR histograms, %d significant digits), as fio lists them; from submission to completion:\n", LatencySigFigs)
			first = false
		}
		vals := make([]int64, len(fioPercentiles))
		for j, p := range fioPercentiles {
			vals[j] = h.ValueAtPercentile(p)
		}
		fmt.Fprintf(bw, "\n%s %s qd=%d %s: %d of %d runs, %d requests\n", c.Workload, c.DeviceLabel(), c.QD, c.Policy,
			len(s.LatencyHDR), s.Runs, h.TotalCount())
		writeFioPercentiles(bw, "clat", fioPercentiles[:], vals)
	}
	return bw.Flush()
}

// writeFioPercentiles writes the values vals (nanoseconds; vals[j] at
// the percentile ps[j]) as fio's show_clat_percentiles does: a header naming the
// unit, then "|"-led rows of " P.PPth=[V]," entries, as many as fit 80
// columns. As fio, it writes nanoseconds unless the smallest and largest
// values call for microseconds (over 2000 and 99999 ns) or milliseconds
// (over 2 ms and 99999999 ns), rounding up to the unit, and makes the
// value column wide enough for the largest value (at least 5).
func writeFioPercentiles(w io.Writer, pre string, ps []float64, vals []int64) {
	if len(vals) == 0 {
		return
	}
	minv, maxv := vals[0], vals[0]
	for _, v := range vals {
		minv, maxv = min(minv, v), max(maxv, v)
	}
	unit, scale := "nsec", 0
	switch {
	case minv > 2000000 && maxv > 99999999:
		unit, scale = "msec", 2
	case minv > 2000 && maxv > 99999:
		unit, scale = "usec", 1
	}
	divisor := int64(1)
	for range scale {
		divisor *= 1000
	}
	const precision = 2 // fio's percentile_list precision: two decimals
	width := max(5, len(strconv.FormatInt(maxv/divisor, 10)))
	perLine := (80 - 7) / (precision + 10 + width)
	fmt.Fprintf(w, "    %s percentiles (%s):\n     |", pre, unit)
	for j, p := range ps {
		if j != 0 && j%perLine == 0 {
			io.WriteString(w, "     |")
		}
		v := vals[j]
		for range scale {
			v = (v + 999) / 1000
		}
		end := ','
		if j == len(ps)-1 {
			end = '\n'
		}
		fmt.Fprintf(w, " %*.*fth=[%*d]%c", precision+3, precision, p, width, v, end)
		if j == len(ps)-1 {
			break
		}
		if j%perLine == perLine-1 {
			io.WriteString(w, "\n")
		}
	}
}
