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
	// without touching data.
	table []uint64
	mask  uint64
	sink  uint64 // keeps insertAll's early loads from being optimized away
}

const (
	noParent  = ^uint32(0)
	chunkBits = 16
	chunkMask = 1<<chunkBits - 1
)

func newStateStore(words int) *stateStore {
	const initial = 1 << 16
	return &stateStore{words: words, table: make([]uint64, initial), mask: initial - 1}
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
	for b := h & st.mask; ; b = (b + 1) & st.mask {
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
			sink += st.table[succ[j].hash&st.mask]
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

// grow doubles the table and places every state again, in blocks as
// insertAll does: first the hashes of a block and loads of their
// buckets, which the processor fetches at once, then the placements.
func (st *stateStore) grow() {
	size := uint64(len(st.table)) * 2
	st.table = make([]uint64, size)
	st.mask = size - 1
	var hs [prefetch]uint64
	var sink uint64
	n := uint32(st.n)
	for lo := uint32(0); lo < n; lo += prefetch {
		hi := min(lo+prefetch, n)
		for i := lo; i < hi; i++ {
			h := hashWords(st.state(i))
			hs[i-lo] = h
			sink += st.table[h&st.mask]
		}
		for i := lo; i < hi; i++ {
			h := hs[i-lo]
			b := h & st.mask
			for st.table[b] != 0 {
				b = (b + 1) & st.mask
			}
			st.table[b] = h>>32<<32 | uint64(i+1)
		}
	}
	st.sink += sink
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
