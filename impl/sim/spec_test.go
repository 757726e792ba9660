package sim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseDevice checks good specs give the devices they say and bad
// ones an error naming the key or value at fault.
func TestParseDevice(t *testing.T) {
	dir := t.TempDir()
	preset := filepath.Join(dir, "mine.json")
	mine := Device{Name: "mine", ReadLatency: 60_000, WriteLatency: 30_000, FlushLatency: 200_000, Bandwidth: 1_200_000_000, Parallelism: 8, Jitter: 0.25, ConvertTime: 25_000}
	if err := os.WriteFile(preset, EncodeDevice(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	unnamed := filepath.Join(dir, "unnamed.json")
	os.WriteFile(unnamed, []byte(`{"read_latency_ns":1000,"write_latency_ns":2000,"flush_latency_ns":3000,"bandwidth_bytes_per_sec":1000000,"parallelism":2,"jitter":0}`), 0o644)
	nvme, _ := Preset("nvme")
	with := func(d Device, f func(*Device)) Device { f(&d); return d }
	good := []struct {
		spec string
		want Device
	}{
		{"nvme", nvme},
		{" ssd ", func() Device { d, _ := Preset("ssd"); return d }()},
		{"nvme:read=50us", with(nvme, func(d *Device) { d.Name, d.ReadLatency = "nvme:read=50us", 50_000 })},
		{"nvme:read=1.5ms,write=20µs,flush=2ms", with(nvme, func(d *Device) {
			d.Name, d.ReadLatency, d.WriteLatency, d.FlushLatency = "nvme:read=1.5ms,write=20µs,flush=2ms", 1_500_000, 20_000, 2_000_000
		})},
		{"nvme:bandwidth=2GB/s,parallelism=16,jitter=0", with(nvme, func(d *Device) {
			d.Name, d.Bandwidth, d.Parallelism, d.Jitter = "nvme:bandwidth=2GB/s,parallelism=16,jitter=0", 2_000_000_000, 16, 0
		})},
		{"nvme:bw=800MiB/s,channels=4,jitter=10%", with(nvme, func(d *Device) {
			d.Name, d.Bandwidth, d.Parallelism, d.Jitter = "nvme:bw=800MiB/s,channels=4,jitter=10%", 800<<20, 4, 0.1
		})},
		{"nvme:convert=25us", with(nvme, func(d *Device) { d.Name, d.ConvertTime = "nvme:convert=25us", 25_000 })},
		{"nvme:scaling=0.5", with(nvme, func(d *Device) { d.Name, d.Scaling = "nvme:scaling=0.5", 0.5 })},
		{"nvme:convert=25us,extend=8us", with(nvme, func(d *Device) {
			d.Name, d.ConvertTime, d.ExtendTime = "nvme:convert=25us,extend=8us", 25_000, 8_000
		})},
		{"nvme:read=0s,name=fast", with(nvme, func(d *Device) { d.Name, d.ReadLatency = "fast", 0 })},
		{"nvme: read = 50us , write=20us", with(nvme, func(d *Device) { d.Name, d.ReadLatency, d.WriteLatency = "nvme:read = 50us,write=20us", 50_000, 20_000 })},
		{preset, mine},
		{preset + ":jitter=0,name=mine0", with(mine, func(d *Device) { d.Name, d.Jitter = "mine0", 0 })},
		{unnamed, Device{Name: "unnamed", ReadLatency: 1000, WriteLatency: 2000, FlushLatency: 3000, Bandwidth: 1_000_000, Parallelism: 2}},
	}
	for _, tc := range good {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseDevice(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	bad := []struct{ spec, want string }{
		{"floppy", `unknown device preset "floppy" (valid: nvme, ssd, hdd), or a preset file PATH.json`},
		{"floppy:read=1us", `device "floppy:read=1us": unknown device preset "floppy"`},
		{"nvme:reed=50us", `device "nvme:reed=50us": unknown key "reed" (keys: read, write, flush, bandwidth, parallelism, jitter, scaling, convert, extend, name)`},
		{"nvme:read=50", `device "nvme:read=50": read=50: no unit (want a duration such as 50us or 1.5ms)`},
		{"nvme:read=fast", `read=fast: not a duration`},
		{"nvme:write=-1us", `write=-1us: negative`},
		{"nvme:read", `override "read" is not key=value`},
		{"nvme:read=", `override "read=" is not key=value`},
		{"nvme:", `override "" is not key=value`},
		{"nvme:read=1us,read=2us", `read given twice`},
		{"nvme:read=1us,read_latency=2us", `read given twice`},
		{"nvme:bandwidth=2GB", `bandwidth=2GB: no unit (B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s)`},
		{"nvme:bandwidth=xGB/s", `bandwidth=xGB/s: "x" is not a number`},
		{"nvme:bandwidth=0GB/s", `bandwidth=0GB/s: out of range`},
		{"nvme:parallelism=0", `parallelism=0: not a whole number >= 1`},
		{"nvme:parallelism=2.5", `parallelism=2.5: not a whole number >= 1`},
		{"nvme:jitter=1.5", `jitter=1.5: not a fraction in [0, 1]`},
		{"nvme:jitter=150%", `jitter=150%: not a fraction in [0, 1]`},
		{"nvme:scaling=1.2", `scaling=1.2: not an exponent in [0, 1]`},
		{"nvme:scaling=x", `scaling=x: not an exponent in [0, 1]`},
		{"nvme:name=a/b", `name=a/b: a name has no spaces`},
		{filepath.Join(dir, "none.json"), "no such file"},
		{filepath.Join(dir, "none.json") + ":read=1us", "none.json:read=1us\": open"},
	}
	for _, tc := range bad {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := ParseDevice(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseDevice(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
			}
		})
	}
}

// TestParseDeviceList checks a list's overrides attach to the spec
// before them and that two devices may not share a name.
func TestParseDeviceList(t *testing.T) {
	for _, tc := range []struct {
		list  string
		names []string
		err   string
	}{
		{list: "nvme", names: []string{"nvme"}},
		{list: "nvme,ssd,hdd", names: []string{"nvme", "ssd", "hdd"}},
		{list: "nvme,ssd:read=80us,jitter=0,hdd", names: []string{"nvme", "ssd:read=80us,jitter=0", "hdd"}},
		{list: "nvme:parallelism=8,nvme:parallelism=16", names: []string{"nvme:parallelism=8", "nvme:parallelism=16"}},
		{list: "nvme,read=50us", err: `override "read=50us" follows no device:key=value (write nvme:read=50us)`},
		{list: "read=50us", err: `override "read=50us" follows no device`},
		{list: "nvme,nvme", err: `device "nvme": a device called nvme is listed already`},
		{list: "nvme:name=x,ssd:name=x", err: "a device called x is listed already"},
		{list: ",nvme", err: `",nvme": element 1 of 2 is empty`},
		{list: "nvme:read=1us,,ssd", err: "element 2 of 3 is empty"},
		{list: "nvme:read=1us,bogus=2", err: `unknown key "bogus"`},
	} {
		t.Run(tc.list, func(t *testing.T) {
			devs, err := ParseDeviceList(tc.list)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range devs {
				names = append(names, d.Name)
			}
			if !reflect.DeepEqual(names, tc.names) {
				t.Errorf("names %q, want %q", names, tc.names)
			}
		})
	}
}

// TestDeviceSpecRoundTrip checks a device's spec, as overrides, and its
// preset file both give it back exactly, for every preset and for
// devices with awkward figures.
func TestDeviceSpecRoundTrip(t *testing.T) {
	devs := []Device{
		{Name: "odd", ReadLatency: 76_803, WriteLatency: 1, FlushLatency: 8_333_333, Bandwidth: 2_499_902_191, Parallelism: 31, Jitter: 0.137, ConvertTime: 28_670},
		{Name: "odd-extend", ReadLatency: 76_803, WriteLatency: 1, FlushLatency: 8_333_333, Bandwidth: 2_499_902_191, Parallelism: 31, Jitter: 0.137, ConvertTime: 28_670, ExtendTime: 7_501, Scaling: 0.537},
		{Name: "zero", Bandwidth: 1, Parallelism: 1},
		{Name: "kilo", ReadLatency: 5, Bandwidth: 123_000, Parallelism: 1, Jitter: 1},
	}
	for _, name := range Presets() {
		d, _ := Preset(name)
		devs = append(devs, d)
	}
	dir := t.TempDir()
	for _, d := range devs {
		t.Run(d.Name, func(t *testing.T) {
			got, err := ParseDevice("nvme:" + d.Spec() + ",name=" + d.Name)
			if err != nil {
				t.Fatalf("spec %s: %v", d.Spec(), err)
			}
			if got != d {
				t.Errorf("spec %s gives\n%+v, want\n%+v", d.Spec(), got, d)
			}
			path := filepath.Join(dir, d.Name+".json")
			if err := os.WriteFile(path, EncodeDevice(d), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := LoadDevice(path); err != nil || got != d {
				t.Errorf("preset file gives %+v, %v; want %+v", got, err, d)
			}
		})
	}
}

// TestDecodeDevice checks a preset file's keys: unknown and missing ones
// are errors naming them, convert_ns may be left out, and an invalid
// device is refused.
func TestDecodeDevice(t *testing.T) {
	const full = `"read_latency_ns":1,"write_latency_ns":2,"flush_latency_ns":3,"bandwidth_bytes_per_sec":4,"parallelism":5,"jitter":0.5`
	for _, tc := range []struct {
		name, json, err string
		want            Device
	}{
		{name: "every key", json: `{"name":"a",` + full + `,"scaling":0.25,"convert_ns":6,"extend_ns":7}`, want: Device{Name: "a", ReadLatency: 1, WriteLatency: 2, FlushLatency: 3, Bandwidth: 4, Parallelism: 5, Jitter: 0.5, Scaling: 0.25, ConvertTime: 6, ExtendTime: 7}},
		{name: "no convert", json: `{"name":"a",` + full + `}`, want: Device{Name: "a", ReadLatency: 1, WriteLatency: 2, FlushLatency: 3, Bandwidth: 4, Parallelism: 5, Jitter: 0.5}},
		{name: "no name", json: `{` + full + `}`, want: Device{ReadLatency: 1, WriteLatency: 2, FlushLatency: 3, Bandwidth: 4, Parallelism: 5, Jitter: 0.5}},
		{name: "unknown key", json: `{"name":"a","latency":1,` + full + `}`, err: `unknown key "latency" (keys: name, read_latency_ns`},
		{name: "missing key", json: `{"name":"a","read_latency_ns":1}`, err: `missing key "write_latency_ns"`},
		{name: "wrong type", json: `{"name":"a",` + strings.Replace(full, `"parallelism":5`, `"parallelism":"5"`, 1) + `}`, err: "cannot unmarshal string"},
		{name: "invalid", json: `{"name":"a",` + strings.Replace(full, `"parallelism":5`, `"parallelism":0`, 1) + `}`, err: "device a: parallelism 0, want >= 1"},
		{name: "not an object", json: `[1]`, err: "cannot unmarshal array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeDevice([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestRate checks ParseRate's units and that FormatRate's output parses
// back to the same rate.
func TestRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"2GB/s", 2_000_000_000}, {"1.5GiB/s", 3 << 29}, {"550MB/s", 550_000_000}, {"800MiB/s", 800 << 20},
		{"4KiB/s", 4096}, {"3kB/s", 3000}, {"3KB/s", 3000}, {"4096B/s", 4096}, {"1TB/s", 1e12},
	} {
		if got, err := ParseRate(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bps := range []int64{1, 999, 1000, 123_000, 123_456, 550_000_000, 2_152_000_000, 2_499_902_191, 1 << 30} {
		s := FormatRate(bps)
		if got, err := ParseRate(s); err != nil || got != bps {
			t.Errorf("FormatRate(%d) = %q, which parses to %d, %v", bps, s, got, err)
		}
	}
}
