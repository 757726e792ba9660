package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A device spec names a Device on a command line: a preset name
// ("nvme") or a preset file ("dev.json", any path ending in .json),
// optionally followed by a colon and overrides, key=value separated by
// commas ("nvme:read=50us,bandwidth=1.5GB/s"). The keys are specKeys;
// values are durations (50us, 1.5ms: time.ParseDuration), rates (2GB/s,
// 800MiB/s, 1000000B/s), whole numbers, or for jitter a fraction (0.1)
// or a percentage (10%).

// specKey is one override key: its name, its aliases, and how it sets
// a Device field.
type specKey struct {
	name    string
	aliases []string
	what    string // the value's form, for errors
	set     func(d *Device, v string) error
}

// specKeys lists the override keys in the order Spec writes them.
var specKeys = []specKey{
	{"read", []string{"read_latency"}, "a duration such as 50us or 1.5ms", func(d *Device, v string) error { return parseNs(v, &d.ReadLatency) }},
	{"write", []string{"write_latency"}, "a duration such as 20us or 1.5ms", func(d *Device, v string) error { return parseNs(v, &d.WriteLatency) }},
	{"flush", []string{"flush_latency"}, "a duration such as 500us or 2ms", func(d *Device, v string) error { return parseNs(v, &d.FlushLatency) }},
	{"bandwidth", []string{"bw"}, "a rate such as 2GB/s, 550MB/s or 800MiB/s", func(d *Device, v string) (err error) {
		d.Bandwidth, err = ParseRate(v)
		return err
	}},
	{"parallelism", []string{"channels"}, "a whole number of channels, at least 1", func(d *Device, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("not a whole number >= 1")
		}
		d.Parallelism = n
		return nil
	}},
	{"jitter", nil, "a fraction in [0, 1] such as 0.1, or a percentage such as 10%", func(d *Device, v string) error {
		pct := strings.HasSuffix(v, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if pct {
			f /= 100
		}
		if err != nil || !(f >= 0 && f <= 1) {
			return errors.New("not a fraction in [0, 1]")
		}
		d.Jitter = f
		return nil
	}},
	{"scaling", nil, "an exponent in [0, 1] such as 0.5: n I/Os at once run n^scaling times as fast as one (0 or 1: fixed latency)", func(d *Device, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return errors.New("not an exponent in [0, 1]")
		}
		d.Scaling = f
		return nil
	}},
	{"convert", []string{"convert_time"}, "a duration such as 25us (0 turns it off)", func(d *Device, v string) error {
		if v == "0" {
			d.ConvertTime = 0
			return nil
		}
		return parseNs(v, &d.ConvertTime)
	}},
	{"extend", []string{"extend_time"}, "a duration such as 8us (0 charges extensions the convert time)", func(d *Device, v string) error {
		if v == "0" {
			d.ExtendTime = 0
			return nil
		}
		return parseNs(v, &d.ExtendTime)
	}},
	{"name", nil, "a name for reports", func(d *Device, v string) error {
		if strings.ContainsAny(v, " \t,:=/") {
			return errors.New("a name has no spaces, commas, colons, equals signs or slashes")
		}
		d.Name = v
		return nil
	}},
}

// lookupKey returns the key called k or one of its aliases.
func lookupKey(k string) (specKey, bool) {
	for _, sk := range specKeys {
		if sk.name == k || slices.Contains(sk.aliases, k) {
			return sk, true
		}
	}
	return specKey{}, false
}

// keyNames lists the keys for errors.
func keyNames() string {
	names := make([]string, len(specKeys))
	for i, k := range specKeys {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// parseNs parses a non-negative duration into nanoseconds.
func parseNs(v string, ns *int64) error {
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return errors.New("no unit")
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration")
	}
	if d < 0 {
		return errors.New("negative")
	}
	*ns = int64(d)
	return nil
}

// rateUnits are the units ParseRate accepts, longest first so that a
// suffix match finds the whole unit.
var rateUnits = []struct {
	unit  string
	bytes float64
}{
	{"KiB/s", 1 << 10}, {"MiB/s", 1 << 20}, {"GiB/s", 1 << 30}, {"TiB/s", 1 << 40},
	{"kB/s", 1e3}, {"KB/s", 1e3}, {"MB/s", 1e6}, {"GB/s", 1e9}, {"TB/s", 1e12},
	{"B/s", 1},
}

// ParseRate parses a transfer rate, a number and a unit: "2GB/s",
// "1.5GiB/s", "550MB/s", "800MiB/s", "4096B/s" (decimal units are powers
// of 1000, binary ones of 1024). It returns bytes per second, rounded,
// at least 1.
func ParseRate(s string) (int64, error) {
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(s, u.unit)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", num)
		}
		bps := math.Round(f * u.bytes)
		if !(bps >= 1 && bps < math.MaxInt64/2) {
			return 0, errors.New("out of range (want at least 1B/s)")
		}
		return int64(bps), nil
	}
	return 0, errors.New("no unit (B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s)")
}

// FormatRate renders bytes per second in the largest decimal unit that
// keeps it exact, so that ParseRate gives it back: "2.5GB/s", "550MB/s",
// "1234567B/s".
func FormatRate(bps int64) string {
	for _, u := range []struct {
		unit string
		div  int64
	}{{"GB/s", 1e9}, {"MB/s", 1e6}, {"kB/s", 1e3}} {
		if bps >= u.div && bps%max(u.div/1000, 1000) == 0 {
			return strconv.FormatFloat(float64(bps)/float64(u.div), 'f', -1, 64) + u.unit
		}
	}
	return strconv.FormatInt(bps, 10) + "B/s"
}

// Spec renders d's parameters as overrides, every key but name (and
// scaling, convert and extend when 0), so that ParseDevice("nvme:"+d.Spec()) gives d's
// parameters back exactly:
// "read=77µs,write=18µs,flush=20µs,bandwidth=2.5GB/s,parallelism=64,jitter=0.1".
func (d Device) Spec() string {
	s := fmt.Sprintf("read=%v,write=%v,flush=%v,bandwidth=%s,parallelism=%d,jitter=%s",
		time.Duration(d.ReadLatency), time.Duration(d.WriteLatency), time.Duration(d.FlushLatency),
		FormatRate(d.Bandwidth), d.Parallelism, strconv.FormatFloat(d.Jitter, 'f', -1, 64))
	if d.Scaling != 0 {
		s += ",scaling=" + strconv.FormatFloat(d.Scaling, 'f', -1, 64)
	}
	if d.ConvertTime != 0 {
		s += fmt.Sprintf(",convert=%v", time.Duration(d.ConvertTime))
	}
	if d.ExtendTime != 0 {
		s += fmt.Sprintf(",extend=%v", time.Duration(d.ExtendTime))
	}
	return s
}

// ParseDevice returns the device spec names (see above): a preset, or
// the Device in a preset file (LoadDevice), with the overrides applied.
// With overrides and no name= among them, the device is named by the
// base's name and the overrides as given ("nvme:read=50us"), so a
// preset's spec is its name. The error names the spec and the key or
// value at fault; the device is validated.
func ParseDevice(spec string) (Device, error) {
	spec = strings.TrimSpace(spec)
	base, overrides, hasOverrides := cutSpec(spec)
	var d Device
	var err error
	if strings.HasSuffix(base, ".json") {
		d, err = LoadDevice(base)
	} else if d, err = Preset(base); err != nil {
		err = fmt.Errorf("%w, or a preset file PATH.json", err)
	}
	if !hasOverrides || err != nil {
		if err != nil && hasOverrides {
			err = fmt.Errorf("device %q: %w", spec, err)
		}
		return d, err
	}
	var given []string
	named := false
	parts := strings.Split(overrides, ",")
	for i, kv := range parts {
		kv = strings.TrimSpace(kv)
		parts[i] = kv
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Device{}, fmt.Errorf("device %q: override %q is not key=value (keys: %s)", spec, kv, keyNames())
		}
		sk, ok := lookupKey(k)
		if !ok {
			return Device{}, fmt.Errorf("device %q: unknown key %q (keys: %s)", spec, k, keyNames())
		}
		if slices.Contains(given, sk.name) {
			return Device{}, fmt.Errorf("device %q: %s given twice", spec, sk.name)
		}
		given = append(given, sk.name)
		if err := sk.set(&d, v); err != nil {
			return Device{}, fmt.Errorf("device %q: %s=%s: %v (want %s)", spec, k, v, err, sk.what)
		}
		named = named || sk.name == "name"
	}
	if !named {
		d.Name += ":" + strings.Join(parts, ",")
	}
	if err := d.Validate(); err != nil {
		return Device{}, fmt.Errorf("device %q: %w", spec, err)
	}
	return d, nil
}

// cutSpec splits a spec into its base and its overrides. A base ending
// in .json may hold colons (a path); otherwise the first colon ends it.
func cutSpec(spec string) (base, overrides string, found bool) {
	if i := strings.Index(spec, ".json:"); i >= 0 {
		return spec[:i+len(".json")], spec[i+len(".json:"):], true
	}
	if strings.HasSuffix(spec, ".json") {
		return spec, "", false
	}
	return strings.Cut(spec, ":")
}

// ParseDeviceList parses a comma-separated list of device specs
// ("nvme,ssd:read=80us,jitter=0,dev.json"): an element of the form
// key=value continues the spec before it. Two devices may not share a
// name, since results tell devices apart by name.
func ParseDeviceList(s string) ([]Device, error) {
	var specs []string
	els := strings.Split(s, ",")
	for i, el := range els {
		el = strings.TrimSpace(el)
		if el == "" {
			return nil, fmt.Errorf("%q: element %d of %d is empty", s, i+1, len(els))
		}
		k, _, isKV := strings.Cut(el, "=")
		if isKV && !strings.Contains(k, ":") {
			if len(specs) == 0 || !strings.Contains(specs[len(specs)-1], ":") {
				return nil, fmt.Errorf("%q: override %q follows no device:key=value (write nvme:%s)", s, el, el)
			}
			specs[len(specs)-1] += "," + el
			continue
		}
		specs = append(specs, el)
	}
	var devs []Device
	for _, spec := range specs {
		d, err := ParseDevice(spec)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(devs, func(o Device) bool { return o.Name == d.Name }) {
			return nil, fmt.Errorf("device %q: a device called %s is listed already (give one name=)", spec, d.Name)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// deviceKeys are the keys of a preset file, as Device's JSON tags spell
// them (and runs.json's provenance records each device): name, then
// those that must be there, then the optional ones.
var deviceKeys = []string{"name", "read_latency_ns", "write_latency_ns", "flush_latency_ns", "bandwidth_bytes_per_sec", "parallelism", "jitter", "scaling", "convert_ns", "extend_ns"}

// requiredKeys is how many keys of deviceKeys after name a preset file
// must have.
const requiredKeys = 6

// DecodeDevice decodes a preset file's content: one JSON object with
// every key of Device's JSON encoding (name may be left out or empty,
// and scaling, convert_ns and extend_ns, 0 then),
// as json.Marshal of a Device writes it and as runs.json's provenance
// records each device. An unknown or missing key is an error naming it;
// the device is validated unless its name is empty (LoadDevice names it
// first).
func DecodeDevice(data []byte) (Device, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return Device{}, err
	}
	for k := range keys {
		if !slices.Contains(deviceKeys, k) {
			return Device{}, fmt.Errorf("unknown key %q (keys: %s)", k, strings.Join(deviceKeys, ", "))
		}
	}
	for _, k := range deviceKeys[1 : 1+requiredKeys] {
		if _, ok := keys[k]; !ok {
			return Device{}, fmt.Errorf("missing key %q", k)
		}
	}
	var d Device
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Device{}, err
	}
	if d.Name == "" {
		return d, nil
	}
	return d, d.Validate()
}

// LoadDevice reads the preset file at path (DecodeDevice). A device
// with no name takes the file's name less .json.
func LoadDevice(path string) (Device, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Device{}, err
	}
	d, err := DecodeDevice(data)
	if err == nil && d.Name == "" {
		d.Name = strings.TrimSuffix(filepath.Base(path), ".json")
		err = d.Validate()
	}
	if err != nil {
		return Device{}, fmt.Errorf("preset file %s: %w", path, err)
	}
	return d, nil
}

// EncodeDevice returns d as a preset file's content (indented JSON, a
// final newline), which LoadDevice reads back exactly.
func EncodeDevice(d Device) []byte {
	b, _ := json.MarshalIndent(d, "", "  ") // a Device always marshals
	return append(b, '\n')
}
