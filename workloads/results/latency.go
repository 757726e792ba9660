package results

import (
	"errors"
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The geometry of every latency histogram (NewLatencyHistogram): values
// in nanoseconds from LatencyLowestNs to LatencyHighestNs, kept to
// LatencySigFigs significant decimal digits, so a recorded value and the
// one the histogram reports for it differ by less than 0.1%.
const (
	LatencyLowestNs  = 1
	LatencyHighestNs = int64(time.Hour)
	LatencySigFigs   = 3
)

// NewLatencyHistogram returns an empty HDR histogram of request latencies
// in nanoseconds, of the geometry above (about 270 KiB in memory; its
// encoded form, EncodeLatency, holds only the buckets used). It is not
// safe for concurrent use.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LatencyLowestNs, LatencyHighestNs, LatencySigFigs)
}

// RecordLatency records one latency of ns nanoseconds in h, clamped to
// [0, LatencyHighestNs]: a request slower than an hour counts as an hour
// (the exact maximum stays in Record.LatMaxUs).
func RecordLatency(h *hdrhistogram.Histogram, ns int64) {
	// The value is in range after the clamp, so RecordValue cannot fail.
	_ = h.RecordValue(min(max(ns, 0), LatencyHighestNs))
}

// EncodeLatency returns h in HdrHistogram's V2 compressed encoding, in
// base64: the form of HdrHistogram's interval logs and of Record.LatencyHDR.
func EncodeLatency(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode latency histogram: %w", err)
	}
	return string(b), nil
}

// DecodeLatency reads a histogram written by EncodeLatency (or by any
// HdrHistogram implementation's V2 compressed encoding, in base64).
func DecodeLatency(s string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode latency histogram: %w", err)
	}
	return h, nil
}

// LatencyHistogram returns the run's latency histogram (LatencyHDR,
// decoded), or nil without an error when the record has none: a run
// that failed, a qemu-img baseline, or a runs.json written before
// runs kept one.
func (r *Record) LatencyHistogram() (*hdrhistogram.Histogram, error) {
	if r.LatencyHDR == "" {
		return nil, nil
	}
	h, err := DecodeLatency(r.LatencyHDR)
	if err != nil {
		return nil, fmt.Errorf("%s repeat %d: %w", r.Config().Name(), r.Repeat, err)
	}
	return h, nil
}

// Latency returns the latencies of every request of the configuration's
// completed repetitions: their histograms (LatencyHDR) merged into one of
// the geometry of NewLatencyHistogram. It returns nil without an error
// when no repetition kept a histogram.
func (s *Summary) Latency() (*hdrhistogram.Histogram, error) {
	if len(s.LatencyHDR) == 0 {
		return nil, nil
	}
	var errs []error
	all := NewLatencyHistogram()
	for _, enc := range s.LatencyHDR {
		h, err := DecodeLatency(enc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dropped := all.Merge(h); dropped > 0 {
			errs = append(errs, fmt.Errorf("%d latencies out of range", dropped))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Config.Name(), err)
	}
	return all, nil
}
