package workloads

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// RaceKind names a race-provoking round of a Race run.
type RaceKind uint8

const (
	// RaceSameCluster submits 2 to 4 writes at once to disjoint sectors of
	// one unallocated cluster whose L2 table exists: every one of them
	// must allocate the same cluster, and each must survive the others.
	RaceSameCluster RaceKind = iota
	// RaceNewL2 submits writes at once under L1 entries that have no L2
	// table yet: two under the same entry and one under another, so new
	// tables are allocated at the same time.
	RaceNewL2
	// RaceReadAlloc submits allocating writes to neighbouring unallocated
	// clusters together with reads of the same sectors, and reads them
	// again from the first write's completion, while the others still run.
	RaceReadAlloc
)

var raceKindNames = [...]string{"same-cluster", "new-l2", "read-alloc"}

// String returns the kind's name ("same-cluster").
func (k RaceKind) String() string {
	if int(k) < len(raceKindNames) {
		return raceKindNames[k]
	}
	return fmt.Sprintf("race(%d)", k)
}

// RaceConfig configures a Race. Zero fields take the defaults shown.
type RaceConfig struct {
	// ClusterSize is the image's cluster size in bytes (4096).
	ClusterSize uint32
	// TableSize is the image's table size in clusters (1): with 4 KiB
	// clusters an L2 table then maps 2 MiB.
	TableSize uint32
	// Tables is the number of L1 entries the guest size spans (4).
	Tables int
	// BackingClusters is the size of the backing file in clusters; the
	// default covers the first table's span and half of the clusters the
	// run touches under the second, so fills come from the backing file
	// and from zeros. Negative means no backing file.
	BackingClusters int
	// HotClusters is how many clusters at the start of each table's span
	// the run touches (16); fewer means more contention.
	HotClusters int
	// Rounds is the number of race rounds per run (6). Every run starts
	// with a RaceNewL2 and a RaceSameCluster round; the seed picks the rest.
	Rounds int
	// Device is the sim device; the default is the nvme preset with
	// jitter 0.5, so the seed varies completion order widely.
	Device *sim.Device
}

// Race runs race-provoking workloads on the sim backend, each
// deterministic from its seed: the seed picks the clusters, sectors and
// round kinds, and seeds the sim backend, so it also varies the order in
// which I/Os complete. A Race is safe for concurrent use by Run calls.
type Race struct {
	cfg     RaceConfig
	dev     sim.Device
	size    uint64
	backing []byte // shared, read-only
	spc     uint64 // sectors per cluster
	span    uint64 // bytes per L2 table
}

// NewRace validates cfg and prepares the shared backing file content.
func NewRace(cfg RaceConfig) (*Race, error) {
	if cfg.ClusterSize == 0 {
		cfg.ClusterSize = 4096
	}
	if cfg.TableSize == 0 {
		cfg.TableSize = 1
	}
	if cfg.Tables == 0 {
		cfg.Tables = 4
	}
	if cfg.HotClusters == 0 {
		cfg.HotClusters = 16
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 6
	}
	if err := impl.ValidateGeometry(cfg.ClusterSize, cfg.TableSize, uint64(cfg.ClusterSize)); err != nil {
		return nil, fmt.Errorf("race: %w", err)
	}
	cs := uint64(cfg.ClusterSize)
	span := uint64(cfg.TableSize) * cs / 8 * cs
	if cfg.Tables < 2 || cfg.HotClusters < 4 || uint64(cfg.HotClusters) > span/cs || cfg.Rounds < 2 {
		return nil, fmt.Errorf("race: want at least 2 tables, 4 hot clusters (at most %d), 2 rounds; have %d, %d, %d", span/cs, cfg.Tables, cfg.HotClusters, cfg.Rounds)
	}
	if cfg.BackingClusters == 0 {
		cfg.BackingClusters = int(span/cs) + cfg.HotClusters/2
	}
	dev := sim.Device{}
	if cfg.Device != nil {
		dev = *cfg.Device
	} else {
		var err error
		if dev, err = sim.Preset("nvme"); err != nil {
			return nil, err
		}
		dev.Jitter = 0.5
	}
	if err := dev.Validate(); err != nil {
		return nil, fmt.Errorf("race: %w", err)
	}
	r := &Race{cfg: cfg, dev: dev, size: uint64(cfg.Tables) * span, spc: cs / history.SectorSize, span: span}
	if cfg.BackingClusters > 0 {
		r.backing = history.BackingContent(uint64(cfg.BackingClusters) * r.spc)
	}
	return r, nil
}

// Disk returns the specification runs are judged against.
func (r *Race) Disk() model.Disk {
	return model.Disk{BackingSectors: uint64(len(r.backing)) / history.SectorSize}
}

// RaceRun is the outcome of one run.
type RaceRun struct {
	// Seed is the seed the run used.
	Seed int64
	// History is the recorded history.
	History history.History
	// Rounds lists the kinds of the rounds run, in order.
	Rounds []RaceKind
	// MaxAllocInFlight is the largest number of allocating writes the
	// image had in flight at once.
	MaxAllocInFlight int
	// Requests counts the requests submitted.
	Requests int
	// Errors holds the error of every request that failed.
	Errors []string
	// VirtualNanos is the virtual time the run took, over every generation.
	VirtualNanos int64
}

// Run runs one seeded race against an image using policy, recording
// every operation. It fails only if the image cannot be created or
// opened; requests that fail are listed in RaceRun.Errors.
func (r *Race) Run(policy model.Policy, seed int64) (RaceRun, error) {
	files := impl.Files{Image: impl.NewMemStorage()}
	co := impl.CreateOptions{ClusterSize: r.cfg.ClusterSize, TableSize: r.cfg.TableSize}
	if r.backing != nil {
		files.Backing = impl.ReadOnlyStorage{ReaderAt: bytes.NewReader(r.backing), N: int64(len(r.backing))}
		co.BackingFile = "backing.raw"
	}
	if err := impl.Create(files.Image, r.size, co); err != nil {
		return RaceRun{}, fmt.Errorf("race seed %d: %w", seed, err)
	}
	rec, err := history.NewRecorder(r.Disk(), history.SimOpener(files, r.dev, impl.Options{Policy: policy}, seed))
	if err != nil {
		return RaceRun{}, fmt.Errorf("race seed %d: %w", seed, err)
	}
	d := &raceDriver{r: r, rec: rec, rng: rand.New(rand.NewPCG(uint64(seed), 0x7261636573)), run: RaceRun{Seed: seed}}
	d.allocated = make(map[uint64]bool)
	for i := range r.cfg.Rounds {
		kind := RaceKind(d.rng.IntN(len(raceKindNames)))
		switch i {
		case 0:
			kind = RaceNewL2
		case 1:
			kind = RaceSameCluster
		}
		d.round(kind)
		if i < r.cfg.Rounds-1 && d.rng.IntN(4) == 0 {
			d.reopen()
		}
	}
	d.reopen()
	if err := rec.Close(); err != nil {
		d.run.Errors = append(d.run.Errors, fmt.Sprintf("close: %v", err))
	}
	d.run.History = rec.History()
	d.run.MaxAllocInFlight = rec.MaxAllocInFlight()
	if n := len(d.run.History.Events); n > 0 {
		d.run.VirtualNanos = d.run.History.Events[n-1].Time
	}
	return d.run, nil
}

// raceDriver is the state of one run.
type raceDriver struct {
	r         *Race
	rec       *history.Recorder
	rng       *rand.Rand
	run       RaceRun
	allocated map[uint64]bool // guest clusters written
	tables    map[int]bool    // L1 entries with a table
	touched   []uint64        // clusters written this run, in order
}

func (d *raceDriver) submit(op impl.ReqOp, off, n uint64, done func()) {
	req := &impl.Request{Op: op, Off: off}
	if op != impl.ReqFlush {
		req.Buf = make([]byte, n)
	}
	req.Done = func(q *impl.Request) {
		if q.Err != nil {
			d.run.Errors = append(d.run.Errors, fmt.Sprintf("%s of %d bytes at %d: %v", q.Op, len(q.Buf), q.Off, q.Err))
		}
		if done != nil {
			done()
		}
	}
	d.run.Requests++
	d.rec.Submit(req)
}

// clusterOff returns the guest offset of hot cluster i of table t.
func (d *raceDriver) clusterOff(t, i int) uint64 {
	return uint64(t)*d.r.span + uint64(i)*uint64(d.r.cfg.ClusterSize)
}

// fresh returns up to n unallocated hot clusters of table t, as guest
// cluster indexes, starting at a seeded position, neighbours first.
func (d *raceDriver) fresh(t, n int) []uint64 {
	hot := d.r.cfg.HotClusters
	start := d.rng.IntN(hot)
	var out []uint64
	for k := range hot {
		c := d.clusterOff(t, (start+k)%hot) / uint64(d.r.cfg.ClusterSize)
		if !d.allocated[c] {
			out = append(out, c)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// tablesWith returns the L1 entries that have (want true) or lack a table.
func (d *raceDriver) tablesWith(want bool) []int {
	var out []int
	for t := range d.r.cfg.Tables {
		if d.tables[t] == want {
			out = append(out, t)
		}
	}
	return out
}

// splitCluster writes k disjoint runs of sectors covering cluster c, all
// submitted at once; done runs after each completes.
func (d *raceDriver) splitCluster(c uint64, k int, done func()) {
	spc := d.r.spc
	k = min(k, int(spc))
	// Choose k-1 distinct cut points in 1..spc-1.
	cuts := d.rng.Perm(int(spc) - 1)[:k-1]
	bounds := []uint64{0, spc}
	for _, x := range cuts {
		bounds = append(bounds, uint64(x+1))
	}
	sortU64(bounds)
	base := c * uint64(d.r.cfg.ClusterSize)
	order := d.rng.Perm(k)
	for _, i := range order {
		lo, hi := bounds[i], bounds[i+1]
		// Leave a sector unwritten now and then, so some reads must see
		// the fill, not a write.
		if hi-lo > 1 && d.rng.IntN(3) == 0 {
			hi--
		}
		d.submit(impl.ReqWrite, base+lo*history.SectorSize, (hi-lo)*history.SectorSize, done)
	}
	d.markAllocated(c)
}

func (d *raceDriver) markAllocated(c uint64) {
	if !d.allocated[c] {
		d.allocated[c] = true
		d.touched = append(d.touched, c)
	}
	if d.tables == nil {
		d.tables = map[int]bool{}
	}
	d.tables[int(c*uint64(d.r.cfg.ClusterSize)/d.r.span)] = true
}

// readCluster reads cluster c whole.
func (d *raceDriver) readCluster(c uint64) {
	cs := uint64(d.r.cfg.ClusterSize)
	d.submit(impl.ReqRead, c*cs, cs, nil)
}

// round runs one race round of the given kind, then waits for quiescence
// and reads back every cluster the round wrote.
func (d *raceDriver) round(kind RaceKind) {
	switch {
	case kind == RaceNewL2 && len(d.tablesWith(false)) == 0:
		kind = RaceSameCluster
	case kind != RaceNewL2 && len(d.tablesWith(true)) == 0:
		kind = RaceNewL2
	}
	d.run.Rounds = append(d.run.Rounds, kind)
	var wrote []uint64
	switch kind {
	case RaceNewL2:
		empty := d.tablesWith(false)
		d.rng.Shuffle(len(empty), func(i, j int) { empty[i], empty[j] = empty[j], empty[i] })
		first := d.fresh(empty[0], 2)
		// Two writes under the same new table: to one cluster (split) or
		// to two neighbouring clusters.
		if d.rng.IntN(2) == 0 {
			d.splitCluster(first[0], 2, nil)
			wrote = append(wrote, first[0])
		} else {
			for _, c := range first {
				d.splitCluster(c, 1, nil)
				wrote = append(wrote, c)
			}
		}
		if len(empty) > 1 {
			c := d.fresh(empty[1], 1)[0]
			d.splitCluster(c, 1+d.rng.IntN(2), nil)
			wrote = append(wrote, c)
		}
	case RaceSameCluster, RaceReadAlloc:
		with := d.tablesWith(true)
		t := with[d.rng.IntN(len(with))]
		n := 1
		if kind == RaceReadAlloc {
			n = 2 + d.rng.IntN(2)
		}
		cs := d.fresh(t, n)
		var onFirst func()
		if kind == RaceReadAlloc {
			fired := false
			onFirst = func() {
				if !fired {
					fired = true
					for _, c := range cs {
						d.readCluster(c)
					}
				}
			}
		}
		for _, c := range cs {
			k := 2 + d.rng.IntN(3)
			if kind == RaceReadAlloc {
				k = 1 + d.rng.IntN(2)
			}
			d.splitCluster(c, k, onFirst)
			if kind == RaceReadAlloc {
				d.readCluster(c)
			}
			wrote = append(wrote, c)
		}
	}
	if d.rng.IntN(3) == 0 {
		d.submit(impl.ReqFlush, 0, 0, nil)
	}
	d.rec.Run()
	for _, c := range wrote {
		d.readCluster(c)
	}
	d.rec.Run()
}

// reopen reopens the quiescent image and reads back every cluster written
// so far.
func (d *raceDriver) reopen() {
	if err := d.rec.Reopen(); err != nil {
		d.run.Errors = append(d.run.Errors, err.Error())
		return
	}
	for _, c := range d.touched {
		d.readCluster(c)
	}
	d.rec.Run()
}

func sortU64(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
