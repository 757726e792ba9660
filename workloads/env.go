package workloads

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/history"
)

// backingName is the backing file's name, beside the image.
const backingName = "backing.raw"

// runEnv is a run's image on its backend: where the image lives (files
// in memory, or a file in the run's own directory), the started backend,
// the open generation of the image, and how to tear it all down.
type runEnv struct {
	spec backends.Spec
	inst backends.Instance
	opts impl.Options // how every generation is opened

	files impl.Files // a Memory backend's storages
	path  string     // a Files backend's image file

	im      *impl.Image
	gen     int // im's generation: 0, then one more per reopen
	clock   func() int64
	close   func() error // closes im (and, on files, its files)
	cleanup func() error // releases the storage; removes the run's directory
}

// setUp creates the image (and backing file) where cfg's backend keeps
// images, prefills it if the job says so, starts the backend and opens
// the image on it. The environment's clock is the backend's, or wall.
func setUp(cfg RunConfig, wall func() int64) (*runEnv, error) {
	spec, err := backends.Lookup(cfg.Backend)
	if err != nil {
		return nil, err
	}
	p := cfg.Plan
	env := &runEnv{
		spec:    spec,
		opts:    impl.Options{Policy: cfg.Policy, Fill: p.job.Fill, Grow: p.job.Grow, Metadata: p.job.Meta},
		cleanup: func() error { return nil },
	}
	switch spec.Storage {
	case backends.Memory:
		err = env.createInMemory(cfg)
	case backends.Files:
		err = env.createFiles(cfg)
	default:
		err = fmt.Errorf("backend %s: unknown storage %d", spec.Name, spec.Storage)
	}
	if err != nil {
		return nil, errors.Join(err, env.cleanup())
	}
	env.inst, err = spec.Start(env.files, backends.Config{Device: cfg.Device, Seed: cfg.Seed ^ simSalt, File: cfg.File})
	if err != nil {
		return nil, errors.Join(err, env.cleanup())
	}
	env.clock = env.inst.Clock()
	if env.clock == nil {
		env.clock = wall
	}
	env.opts.Clock = env.clock
	im, cl, err := env.open()
	if err != nil {
		return nil, errors.Join(err, env.cleanup())
	}
	env.im, env.close = im, cl
	return env, nil
}

// createInMemory creates the image (a copy of the plan's prefilled
// image, if it has one) and backing file in memory.
func (env *runEnv) createInMemory(cfg RunConfig) error {
	p := cfg.Plan
	img := newSparseStorage(cfg.Pages)
	env.files = impl.Files{Image: img}
	env.cleanup = func() error { img.release(); return nil }
	if p.job.Backing {
		env.files.Backing = history.BackingStorage(int64(p.imageSize))
		// The image keeps copy-on-write fills as marks on the backing
		// content, which it regenerates when read.
		img.backing, img.backingSize = history.FillBacking, int64(p.imageSize)
	}
	env.opts.Buffers = cfg.Pages.engineBuffers()
	if p.job.Prefill {
		// Runs of the plan with the same prefill share one prefilled
		// image: copy it.
		tmpl, err := p.prefilledImageFor(env.files.Backing, cfg.Seed, cfg.prefillRegions)
		if err != nil {
			return err
		}
		img.copyFrom(tmpl)
		return nil
	}
	return impl.Create(env.files.Image, p.imageSize, createOptions(p))
}

// createFiles creates the image (prefilled, if the plan says so) and
// backing file in a new directory of the run's own inside cfg.Dir.
func (env *runEnv) createFiles(cfg RunConfig) error {
	p := cfg.Plan
	dir, remove, err := newWorkdir(cfg.Dir)
	if err != nil {
		return err
	}
	env.cleanup = remove
	env.path = filepath.Join(dir, "image.qed")
	if p.job.Backing {
		if err := writeBackingFile(filepath.Join(dir, backingName), p.imageSize); err != nil {
			return fmt.Errorf("backing file: %w", err)
		}
	}
	if err := impl.CreatePath(env.path, p.imageSize, createOptions(p)); err != nil {
		return err
	}
	if p.job.Prefill {
		o, err := impl.OpenPath(env.path, impl.PathOptions{})
		if err != nil {
			return err
		}
		if err := prefill(o.Image, p, p.prefillSpans(cfg.Seed, cfg.prefillRegions)); err != nil {
			o.Close()
			return err
		}
		if err := o.Close(); err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	// The run starts cold, as fio's jobs do: nothing of the setup left
	// to write back or cached.
	if err := file.Cold(env.path); err != nil {
		return err
	}
	if p.job.Backing {
		return file.Cold(filepath.Join(dir, backingName))
	}
	return nil
}

// createOptions returns how to create p's image: its geometry, and the
// backing file's name if it has one.
func createOptions(p *Plan) impl.CreateOptions {
	copts := p.CreateOptions()
	if p.job.Backing {
		copts.BackingFile = backingName
	}
	return copts
}

// open opens a generation of the image on the backend and returns it
// with what closes it.
func (env *runEnv) open() (*impl.Image, func() error, error) {
	if env.spec.Storage == backends.Files {
		o, err := impl.OpenPath(env.path, impl.PathOptions{Options: env.opts, NewBackend: env.inst.Backend})
		if err != nil {
			return nil, nil, err
		}
		return o.Image, o.Close, nil
	}
	be, err := env.inst.Backend(env.files, "")
	if err != nil {
		return nil, nil, err
	}
	im, err := impl.Open(env.files, be, env.opts)
	if err != nil {
		be.Close()
		return nil, nil, err
	}
	return im, im.Close, nil
}

// check checks the image as the run left it.
func (env *runEnv) check() (impl.CheckResult, error) {
	if env.spec.Storage == backends.Memory {
		return impl.Check(env.files.Image, false)
	}
	st, err := impl.OpenFileStorage(env.path, true)
	if err != nil {
		return impl.CheckResult{}, err
	}
	defer st.Close()
	return impl.Check(st, false)
}
