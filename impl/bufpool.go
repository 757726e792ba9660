package impl

import "sync"

// bufPool recycles byte buffers by size and IO structs, so the engine's
// steady state allocates nothing per request. It is not safe for
// concurrent use; the engine owns it.
type bufPool struct {
	bufs     map[int][][]byte
	zeroed   map[int][][]byte // buffers known to hold only zeros
	ios      freeList[IO]
	requests freeList[request]
	sectors  freeList[metaSector]
	writes   freeList[metaWrite]
}

// get returns a buffer of exactly n bytes with unspecified content.
func (p *bufPool) get(n int) []byte {
	if free := p.bufs[n]; len(free) > 0 {
		b := free[len(free)-1]
		p.bufs[n] = free[:len(free)-1]
		return b
	}
	return newBuf(n)
}

// newBuf returns n bytes of new memory, all zeros.
func newBuf(n int) []byte {
	if n >= 4096 {
		// Aligned, so the file backend's O_DIRECT path needs no bounce copy.
		return AlignedBuffer(n)
	}
	return make([]byte, n)
}

// getZeroed returns a buffer of exactly n bytes holding only zeros.
func (p *bufPool) getZeroed(n int) []byte {
	if free := p.zeroed[n]; len(free) > 0 {
		b := free[len(free)-1]
		p.zeroed[n] = free[:len(free)-1]
		return b
	}
	if free := p.bufs[n]; len(free) > 0 {
		b := free[len(free)-1]
		p.bufs[n] = free[:len(free)-1]
		clear(b)
		return b
	}
	return newBuf(n)
}

// putZeroed returns b, which must hold only zeros, for reuse by
// getZeroed.
func (p *bufPool) putZeroed(b []byte) {
	if p.zeroed == nil {
		p.zeroed = make(map[int][][]byte)
	}
	n := cap(b)
	if len(p.zeroed[n]) < maxPooled {
		p.zeroed[n] = append(p.zeroed[n], b[:n])
	}
}

// maxPooled bounds the buffers of one size a bufPool keeps.
const maxPooled = 256

// put returns b for reuse. Pools are bounded so a burst does not pin
// memory forever.
func (p *bufPool) put(b []byte) {
	if p.bufs == nil {
		p.bufs = make(map[int][][]byte)
	}
	n := cap(b)
	if len(p.bufs[n]) < maxPooled {
		p.bufs[n] = append(p.bufs[n], b[:n])
	}
}

// freeList recycles values of one type. Callers reset what they put
// back; the list is bounded so a burst does not pin memory forever.
type freeList[T any] struct{ items []*T }

func (f *freeList[T]) get() *T {
	if n := len(f.items); n > 0 {
		v := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		return v
	}
	return new(T)
}

func (f *freeList[T]) put(v *T) {
	if len(f.items) < 1024 {
		f.items = append(f.items, v)
	}
}

func (p *bufPool) getIO() *IO { return p.ios.get() }

func (p *bufPool) putIO(io *IO) {
	*io = IO{}
	p.ios.put(io)
}

func (p *bufPool) getRequest() *request { return p.requests.get() }

func (p *bufPool) putRequest(rq *request) {
	*rq = request{}
	p.requests.put(rq)
}

func (p *bufPool) getSector() *metaSector { return p.sectors.get() }

func (p *bufPool) putSector(ms *metaSector) {
	*ms = metaSector{waiters: ms.waiters[:0]}
	p.sectors.put(ms)
}

func (p *bufPool) getWrite() *metaWrite { return p.writes.get() }

func (p *bufPool) putWrite(mw *metaWrite) {
	mw.gens = mw.gens[:0]
	p.writes.put(mw)
}

// BufferPool keeps the I/O buffers and L1 tables of closed images for
// images opened after them (Options.Buffers): an image takes everything
// the pool holds when it opens and gives its buffers back when it closes.
// It is safe for concurrent use; images open at once do not share buffers
// (the first to open takes them all). The zero value is an empty pool.
type BufferPool struct {
	mu           sync.Mutex
	bufs, zeroed map[int][][]byte
	tables       [][]uint64 // L1 tables, content stale, at most maxPooledTables
}

// maxPooledTables bounds the L1 tables a BufferPool keeps.
const maxPooledTables = 4

// table returns a table of n entries, content stale: one the pool holds,
// else new memory. A nil pool allocates.
func (bp *BufferPool) table(n uint64) []uint64 {
	if bp != nil {
		bp.mu.Lock()
		defer bp.mu.Unlock()
		for i, t := range bp.tables {
			if uint64(len(t)) == n {
				last := len(bp.tables) - 1
				bp.tables[i] = bp.tables[last]
				bp.tables[last] = nil
				bp.tables = bp.tables[:last]
				return t
			}
		}
	}
	return make([]uint64, n)
}

// putTable gives back a table no image uses any more.
func (bp *BufferPool) putTable(t []uint64) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if len(bp.tables) < maxPooledTables {
		bp.tables = append(bp.tables, t)
	} else {
		bp.tables[0] = t // the newest geometry is the likeliest next
	}
}

// take moves the pool's buffers into p, an engine's empty pool.
func (bp *BufferPool) take(p *bufPool) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	p.bufs, p.zeroed = bp.bufs, bp.zeroed
	bp.bufs, bp.zeroed = nil, nil
}

// give moves p's buffers back into the pool, within the bound of a
// bufPool per size, and leaves p without any.
func (bp *BufferPool) give(p *bufPool) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.bufs = mergeBufs(bp.bufs, p.bufs)
	bp.zeroed = mergeBufs(bp.zeroed, p.zeroed)
	p.bufs, p.zeroed = nil, nil
}

// mergeBufs adds src's buffers to dst's, at most maxPooled per size.
func mergeBufs(dst, src map[int][][]byte) map[int][][]byte {
	if dst == nil {
		return src
	}
	for n, list := range src {
		room := max(maxPooled-len(dst[n]), 0)
		dst[n] = append(dst[n], list[:min(room, len(list))]...)
	}
	return dst
}
