package history

import (
	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/sim"
)

// Opener opens the image of a run from its files: the first time with
// generation 0, and after each Recorder.Reopen with the next generation
// (a sim opener may seed its new backend from it). It returns the image
// and a clock reading the backend's time in nanoseconds (virtual time for
// sim); the clock of a new generation may restart from zero.
type Opener func(generation int) (*impl.Image, func() int64, error)

// SimOpener returns an Opener of the image in files on the sim backend:
// each generation g opens the files with opts on a new sim.Backend
// simulating dev, seeded seed + g<<40 so that every generation draws its
// own latencies, and returns that backend's virtual clock (which opts.Clock
// is set to as well). The files must hold an image already (impl.Create).
func SimOpener(files impl.Files, dev sim.Device, opts impl.Options, seed int64) Opener {
	return func(gen int) (*impl.Image, func() int64, error) {
		sim, err := sim.New(files, dev, seed+int64(gen)<<40)
		if err != nil {
			return nil, nil, err
		}
		o := opts
		o.Clock = sim.Now
		im, err := impl.Open(files, sim, o)
		if err != nil {
			return nil, nil, err
		}
		return im, sim.Now, nil
	}
}
