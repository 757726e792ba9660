package results

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes sums as an aligned text table: the median throughput
// with its min-max spread over repetitions, latency percentiles, the share
// of request time spent frozen, metadata bytes per data byte, throughput
// relative to the policy named baseline in the same workload, device and
// queue depth (blank if absent), the image check and the linearizability
// verdict. Unsafe configurations are marked with "!" after the policy.
func WriteTable(w io.Writer, sums []Summary, baseline string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	base := map[Config]float64{}
	for _, s := range sums {
		if s.Config.Policy == baseline && s.Runs > 0 {
			c := s.Config
			c.Policy = ""
			base[c] = s.OpsPerSec.Median
		}
	}
	vs := "vs " + baseline
	fmt.Fprintf(tw, "workload\tdevice\tqd\tpolicy\tops/s\tmin-max\tMiB/s\tp50 us\tp99 us\tp999 us\tfrozen\tmeta/data\t%s\tcheck\tlinearizable\t\n", vs)
	for _, s := range sums {
		c := s.Config
		pol := c.Policy
		if s.Unsafe {
			pol += "!"
		}
		dev := c.DeviceLabel()
		if s.Runs == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\tERROR\t\t\t\t\t\t\t\t\t%s\t\t\n", c.Workload, dev, c.QD, pol, shortLine(s.Error))
			continue
		}
		ratio := ""
		bc := c
		bc.Policy = ""
		if b, ok := base[bc]; ok && b > 0 {
			ratio = fmt.Sprintf("%.2fx", s.OpsPerSec.Median/b)
		}
		metaData := "-"
		if s.DataBytes.Median > 0 {
			metaData = fmt.Sprintf("%.1f%%", 100*s.MetaBytes.Median/s.DataBytes.Median)
		}
		check := s.Check
		if s.Errors > 0 {
			check += fmt.Sprintf(" (%d failed)", s.Errors)
		}
		if IsBaseline(c.Policy) {
			// qemu-img bench reports throughput only; fio (runbench nbd)
			// latencies too.
			lat := "-\t-\t-"
			if s.LatP50Us.Median > 0 {
				lat = sig3(s.LatP50Us.Median) + "\t" + sig3(s.LatP99Us.Median) + "\t" + sig3(s.LatP999Us.Median)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s-%s\t%s\t%s\t-\t-\t%s\t%s\t-\t\n",
				c.Workload, dev, c.QD, pol, Human(s.OpsPerSec.Median), Human(s.OpsPerSec.Min), Human(s.OpsPerSec.Max),
				sig3(s.MiBPerSec.Median), lat, ratio, check)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s-%s\t%s\t%s\t%s\t%s\t%.1f%%\t%s\t%s\t%s\t%s\t\n",
			c.Workload, dev, c.QD, pol, Human(s.OpsPerSec.Median), Human(s.OpsPerSec.Min), Human(s.OpsPerSec.Max),
			sig3(s.MiBPerSec.Median), sig3(s.LatP50Us.Median), sig3(s.LatP99Us.Median), sig3(s.LatP999Us.Median),
			100*s.FrozenShare.Median, metaData, ratio, check, s.LinearizableLabel())
	}
	return tw.Flush()
}

// shortLine returns the first line of s, cut to 60 characters, for a
// table cell.
func shortLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// Human renders a rate with three significant digits and a k or M
// suffix: 37714 is "37.7k".
func Human(x float64) string {
	switch ax := math.Abs(x); {
	case ax >= 1e6:
		return sig3(x/1e6) + "M"
	case ax >= 1e3:
		return sig3(x/1e3) + "k"
	}
	return sig3(x)
}

// sig3 renders x with three significant digits, without exponent.
func sig3(x float64) string {
	ax := math.Abs(x)
	switch {
	case ax == 0:
		return "0"
	case ax >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case ax >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}
