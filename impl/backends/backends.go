// Package backends is the registry of the backends an image runs on, by
// name: what each needs (images in memory or in files), which clock it
// keeps (virtual or wall) and how to start it. The runner, the matrix and
// the commands ask the registry instead of switching on names, so a new
// backend is its own package plus one entry in registry below.
package backends

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
)

// Storage says where a backend's images live.
type Storage uint8

const (
	// Memory: the image and backing file are storages in memory
	// (impl.Storage values the caller makes).
	Memory Storage = iota
	// Files: the image and backing file are files in a directory, opened
	// by path (impl.OpenPath).
	Files
)

// Config is what a backend may be started with; each backend reads the
// fields that apply to it (Spec says which).
type Config struct {
	// Device is the device a Virtual backend simulates.
	Device sim.Device
	// Seed seeds a Virtual backend's jitter.
	Seed int64
	// File configures a Files backend.
	File file.Options
}

// Instance is a started backend. It hands each opening of an image its
// impl.Backend (the image's Close closes that), and keeps what outlives
// one opening: a simulated device's clock and counters.
type Instance interface {
	// Backend returns the backend for one opening of the image over
	// files; path is the image file's path (Files backends), or "".
	Backend(files impl.Files, path string) (impl.Backend, error)
	// Clock returns the backend's clock in nanoseconds, or nil when it
	// runs in wall time.
	Clock() func() int64
}

// Device is an Instance that simulates a device: it reports the device's
// counters.
type Device interface {
	Instance
	// DeviceStats returns what the simulated device did so far.
	DeviceStats() sim.Stats
}

// Spec describes a registered backend.
type Spec struct {
	// Name is the backend's name (runbench -backend, results' backend).
	Name string
	// Summary says in a few words what it is, for help texts.
	Summary string
	// Storage says where its images live.
	Storage Storage
	// Virtual says it keeps virtual time (a device model's clock): its
	// figures are the model's, not the machine's, and Config.Device
	// applies.
	Virtual bool
	// Start starts the backend. A Memory backend gets the files the
	// image lives in, a Files backend nil files (each opening brings its
	// own).
	Start func(files impl.Files, cfg Config) (Instance, error)
}

// registry lists the backends in table order.
var registry = []Spec{
	{Name: "sim", Summary: "a simulated device in virtual time, images in memory", Storage: Memory, Virtual: true, Start: startSim},
	{Name: "mem", Summary: "memory, I/O performed at once, wall time", Storage: Memory, Start: startMem},
	{Name: "file", Summary: "real files, many I/Os in flight (threads or io_uring), wall time", Storage: Files, Start: startFile},
}

// All returns every registered backend, in table order.
func All() []Spec { return slices.Clone(registry) }

// Names returns the registered backends' names, in table order.
func Names() []string {
	names := make([]string, len(registry))
	for i, s := range registry {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the backend called name, or an error naming the ones
// there are.
func Lookup(name string) (Spec, error) {
	for _, s := range registry {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown backend %q (want %s)", name, strings.Join(Names(), ", "))
}

// simInstance is one simulated device, shared by every opening of the
// image.
type simInstance struct{ b *sim.Backend }

func startSim(files impl.Files, cfg Config) (Instance, error) {
	b, err := sim.New(files, cfg.Device, cfg.Seed)
	if err != nil {
		return nil, err
	}
	return simInstance{b}, nil
}

// Backend returns the device as one opening sees it: its Close leaves
// the device open, so the clock and counters go on across reopens.
func (s simInstance) Backend(impl.Files, string) (impl.Backend, error) { return keepOpen{s.b}, nil }

// Clock returns the device's virtual clock.
func (s simInstance) Clock() func() int64 { return s.b.Now }

// DeviceStats returns the device's counters.
func (s simInstance) DeviceStats() sim.Stats { return s.b.Stats() }

// keepOpen is a sim device whose Close does nothing: the device outlives
// the image.
type keepOpen struct{ *sim.Backend }

// Close does nothing; see keepOpen.
func (keepOpen) Close() error { return nil }

// memInstance performs each I/O at once on the files.
type memInstance struct{}

func startMem(impl.Files, Config) (Instance, error) { return memInstance{}, nil }

// Backend returns a MemBackend over files.
func (memInstance) Backend(files impl.Files, _ string) (impl.Backend, error) {
	return impl.NewMemBackend(files), nil
}

// Clock returns nil: wall time.
func (memInstance) Clock() func() int64 { return nil }

// fileInstance opens a file backend for each opening of the image.
type fileInstance struct{ opts file.Options }

func startFile(_ impl.Files, cfg Config) (Instance, error) { return fileInstance{cfg.File}, nil }

// Backend returns a file backend over files, the image at path.
func (f fileInstance) Backend(files impl.Files, path string) (impl.Backend, error) {
	return file.New(files, path, f.opts)
}

// Clock returns nil: wall time.
func (fileInstance) Clock() func() int64 { return nil }

// Virtual reports whether the backend called name keeps virtual time;
// false for an unknown name.
func Virtual(name string) bool {
	s, err := Lookup(name)
	return err == nil && s.Virtual
}

// InFiles reports whether the backend called name keeps images in files;
// false for an unknown name.
func InFiles(name string) bool {
	s, err := Lookup(name)
	return err == nil && s.Storage == Files
}
