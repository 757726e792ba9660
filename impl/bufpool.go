package impl

// bufPool recycles byte buffers by size and IO structs, so the engine's
// steady state allocates nothing per request. It is not safe for
// concurrent use; the engine owns it.
type bufPool struct {
	bufs     map[int][][]byte
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
	if n >= 4096 {
		// Aligned, so the file backend's O_DIRECT path needs no bounce copy.
		return AlignedBuffer(n)
	}
	return make([]byte, n)
}

// put returns b for reuse. Pools are bounded so a burst does not pin
// memory forever.
func (p *bufPool) put(b []byte) {
	if p.bufs == nil {
		p.bufs = make(map[int][][]byte)
	}
	n := cap(b)
	if len(p.bufs[n]) < 256 {
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
