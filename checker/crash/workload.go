package crash

import "github.com/qedharness/qedharness/impl"

// Request is one guest request of a crash workload: a write of Count
// 512-byte sectors at guest sector Sector, with Zero a write-zeroes of
// them (impl.ReqWriteZeroes), or with Flush a flush.
type Request struct {
	Flush         bool
	Zero          bool
	Sector, Count uint64
}

// Workload is a small workload for crash exploration: Setup writes
// are made and the image closed cleanly first (so the crashed session
// rewrites allocated clusters too); then each phase's requests are
// submitted together, the next phase once every request of the one
// before completed.
type Workload struct {
	// Name names the workload in results and traces.
	Name   string
	Setup  []Request
	Phases [][]Request
}

// The image the workloads run on the workloads run on: 4 KiB clusters and
// one-cluster (512-entry) tables, 2 MiB per L2 table, 8 MiB of guest.
const (
	clusterSize   = 4096
	imageSize     = 8 << 20
	secPerCluster = clusterSize / impl.SectorSize
	// backingSize is the backing file's size: it covers the first
	// 16 guest clusters, and the guest reads zeros past it.
	backingSize = 64 << 10
)

// cw is a write of count sectors from sector of guest cluster cluster.
func cw(cluster, sector, count uint64) Request {
	return Request{Sector: cluster*secPerCluster + sector, Count: count}
}

// cz is a write-zeroes of count sectors from sector of guest cluster
// cluster.
func cz(cluster, sector, count uint64) Request {
	r := cw(cluster, sector, count)
	r.Zero = true
	return r
}

// flushRequest is a flush.
var flushRequest = Request{Flush: true}

// Workloads returns the standard crash workloads.
func Workloads() []Workload {
	return []Workload{
		{Name: "alloc-flush-alloc", Phases: [][]Request{
			{cw(0, 0, 8)}, {flushRequest}, {cw(1, 2, 2)}, {flushRequest},
		}},
		{Name: "concurrent-alloc-same-table", Phases: [][]Request{
			{cw(0, 0, 1)}, {flushRequest}, {cw(1, 0, 2), cw(2, 3, 1)}, {flushRequest},
		}},
		{Name: "concurrent-new-tables", Phases: [][]Request{
			{cw(0, 0, 1)}, {flushRequest}, {cw(512, 0, 1), cw(1024, 1, 2)}, {flushRequest},
		}},
		{Name: "same-cluster", Phases: [][]Request{
			{cw(3, 0, 1), cw(3, 4, 1)}, {flushRequest}, {cw(3, 0, 1)},
		}},
		{Name: "same-fresh-cluster", Phases: [][]Request{
			{cw(0, 0, 1)}, {flushRequest}, {cw(3, 0, 1), cw(3, 4, 1)}, {flushRequest},
		}},
		{Name: "rewrite-then-alloc", Setup: []Request{cw(0, 0, 8), cw(512, 0, 8)}, Phases: [][]Request{
			{cw(0, 1, 1)}, {flushRequest}, {cw(1, 0, 1), cw(0, 2, 1), flushRequest}, {cw(513, 0, 1)},
		}},
	}
}

// ZeroWorkloads returns crash workloads with write-zeroes (trims): over
// allocated clusters (zeroed in place), over unallocated ones (zero
// clusters under a backing file, in a table that exists and in a new
// one; nothing without one), unaligned (zero data with a copy-on-write
// fill), and racing a write to the same cluster. They are kept apart
// from Workloads, whose verdicts runbench reports.
func ZeroWorkloads() []Workload {
	return []Workload{
		{Name: "zero-allocated", Setup: []Request{cw(0, 0, 8), cw(1, 0, 8)}, Phases: [][]Request{
			{cz(0, 0, 8), cz(1, 2, 3)}, {flushRequest}, {cw(0, 1, 1)}, {flushRequest},
		}},
		{Name: "zero-unallocated", Phases: [][]Request{
			{cw(0, 0, 1)}, {flushRequest}, {cz(2, 0, 16), cz(512, 0, 8)}, {flushRequest}, {cw(3, 4, 1)},
		}},
		{Name: "zero-unaligned", Phases: [][]Request{
			{cw(0, 0, 1)}, {flushRequest}, {cz(4, 6, 12)}, {flushRequest},
		}},
		{Name: "zero-races-write", Setup: []Request{cw(0, 0, 1)}, Phases: [][]Request{
			{cz(5, 0, 8), cw(5, 3, 2)}, {flushRequest}, {cz(5, 0, 4)},
		}},
	}
}
