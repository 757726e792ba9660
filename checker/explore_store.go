package checker

// stateStore is the explorer's visited set and BFS queue in one: packed
// states of a fixed number of words stored back to back in insertion
// order (in chunks, so growing never copies them), each with the index of
// the state it was first reached from, and an open-addressing hash table
// of indices. Breadth-first insertion order
// makes every level a contiguous range, so the queue needs no memory of
// its own, and the parent indices give a shortest path to every state.
// It is not safe for concurrent use.
type stateStore struct {
	words  int
	n      int
	chunks [][]uint64 // state i at chunks[i>>chunkBits][(i&chunkMask)*words:]
	parent []uint32   // parent[i]: index of the state i was reached from
	// table holds, per bucket, 0 (empty) or tag<<32 | (index+1), where tag
	// is the high half of the state's hash, to skip most mismatches
	// without touching data. A state's home bucket is the top bits of its
	// hash (h >> shift), which are the top bits of its tag: grow reads
	// every entry's new home from the entry itself, so it rebuilds the
	// table in one pass in bucket order, touching no state.
	table []uint64
	mask  uint64
	shift uint   // 64 - log2(len(table))
	sink  uint64 // keeps insertAll's early loads from being optimized away
}

const (
	noParent  = ^uint32(0)
	chunkBits = 16
	chunkMask = 1<<chunkBits - 1
)

func newStateStore(words int) *stateStore {
	const initialBits = 16
	return &stateStore{words: words, table: make([]uint64, 1<<initialBits), mask: 1<<initialBits - 1, shift: 64 - initialBits}
}

// Len returns the number of states stored.
func (st *stateStore) Len() int { return st.n }

// state returns state i's words; the slice aliases the store.
func (st *stateStore) state(i uint32) []uint64 {
	o := int(i&chunkMask) * st.words
	return st.chunks[i>>chunkBits][o : o+st.words]
}

// add appends a state and returns its index.
func (st *stateStore) add(key []uint64, parent uint32) uint32 {
	idx := uint32(st.n)
	if idx&chunkMask == 0 {
		st.chunks = append(st.chunks, make([]uint64, 0, (chunkMask+1)*st.words))
	}
	c := &st.chunks[len(st.chunks)-1]
	*c = append(*c, key...)
	st.parent = append(st.parent, parent)
	st.n++
	return idx
}

// hashWords mixes a packed state into 64 bits.
func hashWords(w []uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15) ^ uint64(len(w))
	for _, x := range w {
		h ^= x
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	h ^= h >> 29
	h *= 0x94d049bb133111eb
	return h ^ h>>32
}

// insert adds key unless present. It returns the index of the state and
// whether it was new.
func (st *stateStore) insert(key []uint64, h uint64, parent uint32) (uint32, bool) {
	if uint64(st.n)*4 >= uint64(len(st.table))*3 {
		st.grow()
	}
	tag := h >> 32
	for b := h >> st.shift; ; b = (b + 1) & st.mask {
		e := st.table[b]
		if e == 0 {
			idx := st.add(key, parent)
			st.table[b] = tag<<32 | uint64(idx+1)
			return idx, true
		}
		if e>>32 != tag {
			continue
		}
		idx := uint32(e) - 1
		if equalWords(st.state(idx), key) {
			return idx, false
		}
	}
}

// prefetch is the size of the blocks in which insertAll fetches buckets.
const prefetch = 8

// insertAll inserts a batch of successors in order (keys holds their
// packed forms back to back, succ their hashes and facts), noting each
// in res, until one violates an invariant (returned, with its key) or
// the store reaches limit. It works in blocks: it first loads the
// buckets of a block's successors, loads that do not depend on one
// another, so the processor fetches them from memory at once, and then
// inserts them, each finding its bucket cached, instead of waiting for
// each bucket in turn.
func (st *stateStore) insertAll(keys []uint64, succ []modelSucc, res *ExploreResult, limit int64) (*modelSucc, []uint64, bool) {
	var sink uint64
	for lo := 0; lo < len(succ); lo += prefetch {
		hi := min(lo+prefetch, len(succ))
		for j := lo; j < hi; j++ {
			sink += st.table[succ[j].hash>>st.shift]
		}
		for j := lo; j < hi; j++ {
			sc := &succ[j]
			key := keys[j*st.words : (j+1)*st.words]
			res.Transitions++
			if sc.out.Violation != nil {
				return sc, append([]uint64(nil), key...), false
			}
			_, fresh := st.insert(key, sc.hash, sc.parent)
			if admitted(res, st, sc, fresh, limit) {
				return nil, nil, true
			}
		}
	}
	st.sink += sink
	return nil, nil, false
}

// grow doubles the table. The entries are taken in bucket order and each
// one's new home, 2b or 2b+1 for an entry whose home was b, is the next
// bit of its tag, so the new table is written nearly in order rather than
// at random, and no state is read. (Linear probing finds every entry
// whatever the order they were placed in.) Only a table beyond 2^32
// buckets, whose home needs more bits than the tag holds, hashes states
// again.
func (st *stateStore) grow() {
	old := st.table
	size := uint64(len(old)) * 2
	st.table = make([]uint64, size)
	st.mask = size - 1
	st.shift--
	for _, e := range old {
		if e == 0 {
			continue
		}
		var b uint64
		if st.shift >= 32 {
			b = e >> 32 >> (st.shift - 32)
		} else {
			b = hashWords(st.state(uint32(e)-1)) >> st.shift
		}
		for st.table[b] != 0 {
			b = (b + 1) & st.mask
		}
		st.table[b] = e
	}
}

// bytes returns the memory the store holds, in bytes.
func (st *stateStore) bytes() int64 {
	return int64(len(st.chunks))*(chunkMask+1)*int64(st.words)*8 + int64(cap(st.parent))*4 + int64(len(st.table))*8
}

func equalWords(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
