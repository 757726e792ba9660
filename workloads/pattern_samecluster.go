package workloads

import "fmt"

// SameCluster writes every block of one fresh cluster before moving to
// the next, so at a queue depth above one several partial writes
// allocate the same cluster at once. Blocks within a cluster go in order
// (rw=write) or shuffled, with clusters in random order (rw=randwrite).
const SameCluster PatternName = "same-cluster"

func init() { registerPattern(4, sameCluster{}) }

// sameCluster is the SameCluster pattern.
type sameCluster struct{}

// Name returns SameCluster.
func (sameCluster) Name() PatternName { return SameCluster }

// Summary says what SameCluster does.
func (sameCluster) Summary() string { return "concurrent partial writes to one fresh cluster" }

// layout divides the region into block slots of fresh clusters, bs
// dividing the cluster size.
func (sameCluster) layout(j *Job) (layout, error) {
	if err := checkFresh(j); err != nil {
		return layout{}, err
	}
	cs := uint64(j.ClusterSize)
	if j.BlockSize >= cs || cs%j.BlockSize != 0 {
		return layout{}, j.keyError("bs", fmt.Errorf("pattern=same-cluster writes parts of a cluster: bs must divide cluster_size=%s and be smaller", FormatSize(cs)))
	}
	return layout{units: j.Size / cs * (cs / j.BlockSize), unitBytes: j.BlockSize, fresh: true}, nil
}

// newGen starts a stream over the region's clusters.
func (sameCluster) newGen(s *Stream) opGen {
	k := uint64(s.p.job.ClusterSize) / s.p.job.BlockSize
	return &sameClusterGen{perm: lazyPerm{n: s.p.lay.units / k}, slots: make([]uint64, k)}
}

// sameClusterGen writes the block slots of one cluster after another.
type sameClusterGen struct {
	perm    lazyPerm // the random order of clusters
	slots   []uint64 // block order within the cluster
	cluster uint64   // the current cluster of the region
}

func (g *sameClusterGen) next(s *Stream) Op {
	j := &s.p.job
	k := uint64(len(g.slots))
	i := s.seq % k
	if i == 0 {
		g.cluster = s.seq / k
		for b := range g.slots {
			g.slots[b] = uint64(b)
		}
		if j.RW.Random() {
			g.cluster = g.perm.next(s.rng)
			s.rng.Shuffle(len(g.slots), func(a, b int) { g.slots[a], g.slots[b] = g.slots[b], g.slots[a] })
		}
	}
	return Op{Kind: OpWrite, Off: s.base + g.cluster*uint64(j.ClusterSize) + g.slots[i]*j.BlockSize, Len: j.BlockSize}
}
