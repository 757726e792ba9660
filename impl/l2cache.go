package impl

import "encoding/binary"

// l2Table is a cached L2 table: its decoded entries and what holds it.
type l2Table struct {
	off     uint64   // file offset of the table
	entries []uint64 // decoded entries; valid once loading is false
	loading bool     // a read of the table is in flight
	waiters []*request
	pins    int // requests and pending metadata writes using the table
	// LRU list links; the cache's head is most recently used.
	prev, next *l2Table
}

// l2Cache is an LRU cache of L2 tables keyed by file offset. A pinned or
// loading table is never evicted, so the cache may briefly exceed its
// capacity when every table is in use.
type l2Cache struct {
	tables     map[uint64]*l2Table
	capacity   int
	head, tail *l2Table
}

func newL2Cache(capacity int) l2Cache {
	return l2Cache{tables: make(map[uint64]*l2Table), capacity: capacity}
}

// get returns the table at off and marks it most recently used.
func (c *l2Cache) get(off uint64) *l2Table {
	t := c.tables[off]
	if t != nil && c.head != t {
		c.unlink(t)
		c.pushFront(t)
	}
	return t
}

// insert adds t, evicting least recently used tables that are unpinned.
func (c *l2Cache) insert(t *l2Table) {
	c.tables[t.off] = t
	c.pushFront(t)
	c.trim()
}

// unpin drops one pin of t and evicts if the cache is over capacity.
func (c *l2Cache) unpin(t *l2Table) {
	t.pins--
	if t.pins == 0 && len(c.tables) > c.capacity {
		c.trim()
	}
}

// trim evicts least recently used unpinned tables down to capacity.
func (c *l2Cache) trim() {
	for victim := c.tail; len(c.tables) > c.capacity && victim != nil; {
		prev := victim.prev
		if victim.pins == 0 && !victim.loading {
			c.remove(victim)
		}
		victim = prev
	}
}

// remove drops t from the cache.
func (c *l2Cache) remove(t *l2Table) {
	delete(c.tables, t.off)
	c.unlink(t)
}

func (c *l2Cache) pushFront(t *l2Table) {
	t.prev, t.next = nil, c.head
	if c.head != nil {
		c.head.prev = t
	}
	c.head = t
	if c.tail == nil {
		c.tail = t
	}
}

func (c *l2Cache) unlink(t *l2Table) {
	if t.prev != nil {
		t.prev.next = t.next
	} else if c.head == t {
		c.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else if c.tail == t {
		c.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

// readTable reads the table at off in st into dst, through a buffer of
// at most 4 KiB rather than one of the table's size (an L1 table of 64
// KiB clusters is 256 KiB, read at every open). Bytes past the end of the
// file read as zeros, as QEMU's block layer pads a file to a whole sector.
func readTable(st Storage, dst []uint64, off int64) error {
	buf := make([]byte, min(len(dst)*8, 4096))
	for i := 0; i < len(dst); {
		n := min(len(dst)-i, len(buf)/8)
		b := buf[:n*8]
		if err := checkRead(st, b, uint64(off)+uint64(i)*8); err != nil {
			return err
		}
		decodeTable(dst[i:i+n], b)
		i += n
	}
	return nil
}

// decodeTable decodes little-endian entries from b into dst.
func decodeTable(dst []uint64, b []byte) {
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
}

// encodeTable encodes src into b as little-endian entries.
func encodeTable(b []byte, src []uint64) {
	for i, v := range src {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
}
