package workloads

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qedharness/qedharness/impl"
)

// This file holds fio's steady-state detection (fio's steadystate.c):
// every check interval of the run's clock a sample of the rate (IOPS,
// bandwidth or mean completion latency) is taken; once a window of
// Duration holds samples, each new one judges the window (the largest
// deviation from its mean, or its least-squares slope) against a limit,
// and the job ends at the first check that meets it.

// SSMetric is what fio's steady-state detection samples.
type SSMetric string

// The steady-state metrics.
const (
	// SSIOPS samples the reads, writes and trims completed per second.
	SSIOPS SSMetric = "iops"
	// SSBW samples the bytes read, written and trimmed per second.
	SSBW SSMetric = "bw"
	// SSLat samples the mean latency of the requests completed in the
	// interval, in nanoseconds (0 when none completed).
	SSLat SSMetric = "lat"
)

// SteadyState is fio's steady-state criterion (keys steadystate,
// steadystate_duration, steadystate_ramp_time,
// steadystate_check_interval). Detection is on when Duration is not 0.
type SteadyState struct {
	// Metric is what is sampled; Slope judges the window by its
	// least-squares slope (per interval) rather than by its largest
	// deviation from its mean.
	Metric SSMetric
	Slope  bool
	// Limit is what the criterion must fall below: in the metric's unit
	// (IOPS, bytes per second, nanoseconds), or, with Percent, a
	// percentage of the window's mean.
	Limit   float64
	Percent bool
	// Duration is the window, a whole number of intervals (more than
	// one); 0 turns detection off. Ramp is how long after the start of
	// the measured phase samples start (the first counts the first whole
	// interval after it); Interval is the time between samples, whole
	// seconds as fio counts them.
	Duration, Ramp, Interval time.Duration
}

// defaultSteadyState is fio's default: iops_slope:0.01%, off.
var defaultSteadyState = SteadyState{Metric: SSIOPS, Slope: true, Limit: 0.01, Percent: true, Interval: time.Second}

// parseSteadyState parses fio's steadystate value, METRIC:LIMIT[%]
// (iops, iops_slope, bw, bw_slope, lat, lat_slope), into ss.
func parseSteadyState(ss *SteadyState, v string) error {
	name, limit, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(limit) == "" {
		return errors.New("want METRIC:LIMIT, a threshold after the criterion (iops:10%, bw_slope:1%), as fio")
	}
	metric, slope := SSMetric(name), false
	if m, ok := strings.CutSuffix(name, "_slope"); ok {
		metric, slope = SSMetric(m), true
	}
	if metric != SSIOPS && metric != SSBW && metric != SSLat {
		return fmt.Errorf("criterion %q: want iops, iops_slope, bw, bw_slope, lat or lat_slope", name)
	}
	limit = strings.TrimSpace(limit)
	out := SteadyState{Metric: metric, Slope: slope, Duration: ss.Duration, Ramp: ss.Ramp, Interval: ss.Interval}
	if num, ok := strings.CutSuffix(limit, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a percentage", limit)
		}
		out.Limit, out.Percent = f, true
		*ss = out
		return nil
	}
	switch metric {
	case SSIOPS:
		f, err := strconv.ParseFloat(limit, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a number of IOPS", limit)
		}
		out.Limit = f
	case SSBW:
		n, err := ParseSize(limit)
		if err != nil {
			return fmt.Errorf("bandwidth limit: %w (bytes per second)", err)
		}
		out.Limit = float64(n)
	case SSLat:
		n, err := strconv.ParseUint(limit, 10, 63)
		if err != nil {
			return fmt.Errorf("%q: want a latency in nanoseconds without a unit (fio reads 5ms as 5000 and compares that with latencies in nanoseconds)", limit)
		}
		out.Limit = float64(n)
	}
	*ss = out
	return nil
}

// String renders the criterion as the steadystate key takes it.
func (ss SteadyState) String() string {
	s := string(ss.Metric)
	if ss.Slope {
		s += "_slope"
	}
	s += ":" + strconv.FormatFloat(ss.Limit, 'f', -1, 64)
	if ss.Percent {
		s += "%"
	}
	return s
}

// check says what is wrong with the durations, as fio's init.c does.
func (ss SteadyState) check() (key string, err error) {
	if ss.Duration == 0 {
		return "", nil
	}
	switch {
	case ss.Interval < time.Second:
		return "steadystate_check_interval", errors.New("must be at least 1s, as in fio")
	case ss.Interval%time.Second != 0:
		return "steadystate_check_interval", errors.New("not supported: a fraction of a second (fio counts a window's samples in whole seconds of interval, so its window would not be the duration)")
	case ss.Duration%ss.Interval != 0 || ss.Duration <= ss.Interval:
		return "steadystate_duration", fmt.Errorf("must be a multiple of steadystate_check_interval (%v), more than one, as in fio", ss.Interval)
	}
	return "", nil
}

// samples returns the number of samples in the window.
func (ss SteadyState) samples() int { return int(ss.Duration / ss.Interval) }

// judge applies the criterion to a full window of samples, oldest first,
// as fio's steadystate_deviation and steadystate_slope do, and returns
// the criterion's value and whether it is met (below the limit).
func (ss SteadyState) judge(w []uint64) (float64, bool) {
	n := uint64(len(w))
	var sumY uint64
	for _, y := range w {
		sumY += y
	}
	if ss.Slope {
		// Least squares over x = 0..n-1, as fio: (sum_xy - sum_x*sum_y/n)
		// / (sum_x2 - sum_x^2/n); the mean of a percentage is sum_y/n
		// in whole units, as fio computes it.
		var sumXY uint64
		for i, y := range w {
			sumXY += uint64(i) * y
		}
		sumX, sumX2 := n*(n-1)/2, (n-1)*n*(2*n-1)/6
		slope := (float64(sumXY) - float64(sumX)*float64(sumY)/float64(n)) /
			(float64(sumX2) - float64(sumX)*float64(sumX)/float64(n))
		c := slope
		if ss.Percent {
			c = 100 * slope / float64(sumY/n)
		}
		if c < 0 {
			c = -c
		}
		return c, c < ss.Limit
	}
	mean := float64(sumY) / float64(n)
	dev := 0.0
	for _, y := range w {
		d := float64(y) - mean
		if d < 0 {
			d = -d
		}
		dev = max(dev, d)
	}
	c := dev
	if ss.Percent {
		c = 100 * dev / mean
	}
	return c, c < ss.Limit
}

// ssMonitor is the steady-state detection of one instance, or of all a
// job's instances with group_reporting (fio's reporting group). It is
// fed completions in the order of the run's clock and checks at every
// interval from the start of the measured phase; it is a pure state
// machine on the times it is given.
type ssMonitor struct {
	ss       SteadyState
	interval int64 // nanoseconds
	next     int64 // the time of the next check
	first    int64 // the first check whose sample counts
	window   []uint64
	filled   int // samples in window (a ring, oldest at head)
	head     int
	// The interval's completions so far.
	ios, bytes, latN uint64
	latSum           int64
	// attained is set at the check that met the criterion, at.
	attained bool
	at       int64
}

// newSSMonitor returns the detection of ss for a measured phase starting
// at start.
func newSSMonitor(ss SteadyState, start int64) *ssMonitor {
	iv := int64(ss.Interval)
	return &ssMonitor{ss: ss, interval: iv, next: start + iv, first: start + int64(ss.Ramp) + iv, window: make([]uint64, ss.samples())}
}

// advance takes the checks due by now.
func (m *ssMonitor) advance(now int64) {
	for !m.attained && now >= m.next {
		m.check()
		m.next += m.interval
	}
}

// ended advances to now and reports whether steady state was attained,
// after which the instances it judges issue nothing more.
func (m *ssMonitor) ended(now int64) bool {
	m.advance(now)
	return m.attained
}

// add counts a completed request of kind op with its bytes and latency;
// flushes count in no sample, as in fio.
func (m *ssMonitor) add(op impl.ReqOp, bytes uint64, lat int64) {
	if op == impl.ReqFlush {
		return
	}
	m.ios++
	m.bytes += bytes
	m.latSum += lat
	m.latN++
}

// check takes the sample of the interval ending at m.next, as fio's
// steadystate_check does with a check exactly one interval after the
// previous one (so its rate_time scaling is 1), and judges the window.
func (m *ssMonitor) check() {
	ms := uint64(m.interval / int64(time.Millisecond))
	var y uint64
	switch m.ss.Metric {
	case SSIOPS:
		y = ms * m.ios / (ms * ms / 1000)
	case SSBW:
		y = ms * m.bytes / (ms * ms / 1000)
	case SSLat:
		if m.latN > 0 {
			y = uint64(float64(m.latSum) / float64(m.latN))
		}
	}
	m.ios, m.bytes, m.latN, m.latSum = 0, 0, 0, 0
	if m.next < m.first {
		return // fio's ss_ramp: not recorded
	}
	n := len(m.window)
	if m.filled < n {
		m.window[m.filled] = y
		m.filled++
		if m.filled < n {
			return
		}
	} else {
		m.window[m.head] = y
		m.head = (m.head + 1) % n
	}
	w := make([]uint64, 0, n)
	w = append(append(w, m.window[m.head:]...), m.window[:m.head]...)
	if _, ok := m.ss.judge(w); ok {
		m.attained, m.at = true, m.next
	}
}
