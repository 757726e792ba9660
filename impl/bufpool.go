package impl

// bufPool recycles byte buffers by size and IO structs, so the engine's
// steady state allocates nothing per request. It is not safe for
// concurrent use; the engine owns it.
type bufPool struct {
	bufs     map[int][][]byte
	ios      []*IO
	requests []*request
	sectors  []*metaSector
	writes   []*metaWrite
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

func (p *bufPool) getIO() *IO {
	if n := len(p.ios); n > 0 {
		io := p.ios[n-1]
		p.ios = p.ios[:n-1]
		return io
	}
	return new(IO)
}

func (p *bufPool) putIO(io *IO) {
	*io = IO{}
	if len(p.ios) < 1024 {
		p.ios = append(p.ios, io)
	}
}

func (p *bufPool) getRequest() *request {
	if n := len(p.requests); n > 0 {
		rq := p.requests[n-1]
		p.requests = p.requests[:n-1]
		return rq
	}
	return new(request)
}

func (p *bufPool) putRequest(rq *request) {
	*rq = request{}
	if len(p.requests) < 1024 {
		p.requests = append(p.requests, rq)
	}
}

func (p *bufPool) getSector() *metaSector {
	if n := len(p.sectors); n > 0 {
		ms := p.sectors[n-1]
		p.sectors = p.sectors[:n-1]
		return ms
	}
	return new(metaSector)
}

func (p *bufPool) putSector(ms *metaSector) {
	w := ms.waiters[:0]
	*ms = metaSector{waiters: w}
	if len(p.sectors) < 1024 {
		p.sectors = append(p.sectors, ms)
	}
}

func (p *bufPool) getWrite() *metaWrite {
	if n := len(p.writes); n > 0 {
		mw := p.writes[n-1]
		p.writes = p.writes[:n-1]
		return mw
	}
	return new(metaWrite)
}

func (p *bufPool) putWrite(mw *metaWrite) {
	mw.gens = mw.gens[:0]
	if len(p.writes) < 1024 {
		p.writes = append(p.writes, mw)
	}
}
