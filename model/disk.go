package model

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// SectorSize is the unit of the disk specification: 512 bytes, the unit
// of atomicity a disk promises. A multi-sector write need not be atomic.
const SectorSize = 512

// TagKind says where a sector's content came from.
type TagKind uint8

const (
	// TagZero is a sector of zeros: never written, outside the backing file.
	TagZero TagKind = iota
	// TagBacking is a never-written sector inside the backing file, which
	// holds the backing file's content for that sector.
	TagBacking
	// TagWrite is a sector stamped by a write.
	TagWrite
)

// Tag names the content of one sector exactly: which write stamped it (and
// for which sector), or which initial content it is. Tags are comparable;
// equal tags mean the same bytes.
type Tag struct {
	// Kind says where the content came from.
	Kind TagKind
	// Write is the id of the write that stamped the sector (TagWrite
	// only; ids are positive and unique within a history).
	Write uint64
	// Sector is the sector the content was made for (TagWrite and
	// TagBacking; 0 for TagZero). A read of sector s that returns a tag
	// whose Sector is not s saw misplaced data.
	Sector uint64
}

// ZeroTag returns the tag of a sector of zeros.
func ZeroTag() Tag { return Tag{Kind: TagZero} }

// BackingTag returns the tag of the backing file's content of sector s.
func BackingTag(s uint64) Tag { return Tag{Kind: TagBacking, Sector: s} }

// WriteTag returns the tag write w stamps on sector s.
func WriteTag(w, s uint64) Tag { return Tag{Kind: TagWrite, Write: w, Sector: s} }

// String renders the tag for traces: "zero", "backing/s9" or "w12/s9".
func (t Tag) String() string {
	switch t.Kind {
	case TagZero:
		return "zero"
	case TagBacking:
		return fmt.Sprintf("backing/s%d", t.Sector)
	case TagWrite:
		return fmt.Sprintf("w%d/s%d", t.Write, t.Sector)
	}
	return fmt.Sprintf("tag(%d)", t.Kind)
}

// hash mixes the tag's fields (splitmix64 finalizer).
func (t Tag) hash() uint64 {
	x := t.Write*0x9e3779b97f4a7c15 ^ t.Sector*0xbf58476d1ce4e5b9 ^ uint64(t.Kind)<<56
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Disk is the specification of a virtual disk: an array of sectors, each
// a register. A write stamps every sector it covers with its own tag; a
// read of a sector returns the tag of the last write to it, or the
// sector's initial content if none. Only single sectors are atomic, so
// histories are checked per sector: a multi-sector operation becomes one
// single-sector operation per sector it covers.
type Disk struct {
	// BackingSectors is the number of leading sectors that initially hold
	// the backing file's content (TagBacking); every later sector
	// initially reads as zeros (TagZero). 0 means no backing file.
	BackingSectors uint64
}

// Initial returns the tag sector s holds before any write.
func (d Disk) Initial(s uint64) Tag {
	if s < d.BackingSectors {
		return BackingTag(s)
	}
	return ZeroTag()
}

// SectorOpKind is the kind of a single-sector operation.
type SectorOpKind uint8

const (
	// SectorRead returns the sector's tag.
	SectorRead SectorOpKind = iota
	// SectorWrite stamps the sector with a tag.
	SectorWrite
	// SectorAssume declares that the sector holds one of a set of tags,
	// chosen by the disk. A checker uses it to resume a sector's history
	// at a quiescent point where earlier operations may have left any of
	// several values (two concurrent writes, either last).
	SectorAssume
)

var sectorOpNames = [...]string{"read", "write", "assume"}

// String returns "read", "write" or "assume".
func (k SectorOpKind) String() string {
	if int(k) < len(sectorOpNames) {
		return sectorOpNames[k]
	}
	return fmt.Sprintf("sectorop(%d)", k)
}

// SectorInput is the input of a single-sector operation, the Input of a
// porcupine.Operation checked against Disk.Model. The Output of a read is
// the Tag it returned; the Output of a write or an assume is ignored.
type SectorInput struct {
	// Kind is the operation.
	Kind SectorOpKind
	// Sector is the sector addressed; partitions are keyed by it.
	Sector uint64
	// Tag is the tag a write stamps.
	Tag Tag
	// Possible lists the tags an assume allows, without duplicates.
	Possible []Tag
}

// The states of one sector, as porcupine sees them. They are immutable.
type (
	// initialState is a sector never written: it holds Disk.Initial.
	initialState struct{}
	// tagSet is a sector holding one of several tags, sorted by (Kind,
	// Write, Sector), without duplicates; at least two.
	tagSet []Tag
)

// Model returns the disk specification as a porcupine model whose
// partitions are sectors. Operations must carry a SectorInput as Input and,
// for reads, a Tag as Output. Like every porcupine model it is purely
// functional and safe for concurrent use.
func (d Disk) Model() porcupine.Model {
	return porcupine.Model{
		Partition:         PartitionBySector,
		PartitionEvent:    PartitionEventsBySector,
		Init:              func() any { return initialState{} },
		Step:              d.step,
		Equal:             stateEqual,
		Hash:              stateHash,
		DescribeOperation: describeSectorOp,
		DescribeState:     describeState,
	}
}

// step is the sequential specification of one sector.
func (d Disk) step(state, input, output any) (bool, any) {
	in := input.(SectorInput)
	switch in.Kind {
	case SectorWrite:
		return true, in.Tag
	case SectorAssume:
		return len(in.Possible) > 0, possibleState(in.Possible)
	case SectorRead:
		got, ok := output.(Tag)
		if !ok {
			return false, state
		}
		// The next state is the tag read: output itself, already boxed,
		// spares porcupine's search an allocation per step.
		switch s := state.(type) {
		case initialState:
			return got == d.Initial(in.Sector), output
		case Tag:
			return got == s, output
		case tagSet:
			return slices.Contains(s, got), output
		}
	}
	return false, state
}

// possibleState returns the state "one of tags".
func possibleState(tags []Tag) any {
	if len(tags) == 1 {
		return tags[0]
	}
	set := slices.Clone(tags)
	slices.SortFunc(set, compareTags)
	set = slices.Compact(set)
	if len(set) == 1 {
		return set[0]
	}
	return tagSet(set)
}

func compareTags(a, b Tag) int {
	switch {
	case a.Kind != b.Kind:
		return int(a.Kind) - int(b.Kind)
	case a.Write != b.Write:
		if a.Write < b.Write {
			return -1
		}
		return 1
	case a.Sector < b.Sector:
		return -1
	case a.Sector > b.Sector:
		return 1
	}
	return 0
}

func stateEqual(a, b any) bool {
	switch x := a.(type) {
	case tagSet:
		y, ok := b.(tagSet)
		return ok && slices.Equal(x, y)
	case Tag:
		y, ok := b.(Tag)
		return ok && x == y
	case initialState:
		_, ok := b.(initialState)
		return ok
	}
	return false
}

func stateHash(s any) uint64 {
	switch x := s.(type) {
	case Tag:
		return x.hash()
	case tagSet:
		h := uint64(0x5e7)
		for _, t := range x {
			h ^= t.hash()
		}
		return h
	}
	return 0
}

func describeState(s any) string {
	switch x := s.(type) {
	case initialState:
		return "initial"
	case Tag:
		return x.String()
	case tagSet:
		return "one of " + joinTags(x)
	}
	return fmt.Sprint(s)
}

func describeSectorOp(input, output any) string {
	in, ok := input.(SectorInput)
	if !ok {
		return fmt.Sprintf("%v -> %v", input, output)
	}
	switch in.Kind {
	case SectorWrite:
		return fmt.Sprintf("write s%d := %v", in.Sector, in.Tag)
	case SectorAssume:
		return fmt.Sprintf("assume s%d is %s", in.Sector, joinTags(in.Possible))
	}
	return fmt.Sprintf("read s%d -> %v", in.Sector, output)
}

func joinTags(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// PartitionBySector splits a history of single-sector operations into one
// partition per sector, in ascending sector order, keeping each
// partition's operations in history order. Operations whose Input is not a
// SectorInput go to a partition of their own, at the end, so the checker
// rejects them instead of mixing them into a sector.
func PartitionBySector(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[uint64]int{}
	var parts [][]porcupine.Operation
	var sectors []uint64
	var odd []porcupine.Operation
	for _, op := range history {
		in, ok := op.Input.(SectorInput)
		if !ok {
			odd = append(odd, op)
			continue
		}
		i, seen := index[in.Sector]
		if !seen {
			i = len(parts)
			index[in.Sector] = i
			parts = append(parts, nil)
			sectors = append(sectors, in.Sector)
		}
		parts[i] = append(parts[i], op)
	}
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(sectors[a], sectors[b]) })
	out := make([][]porcupine.Operation, 0, len(parts)+1)
	for _, i := range order {
		out = append(out, parts[i])
	}
	if len(odd) > 0 {
		out = append(out, odd)
	}
	return out
}

// PartitionEventsBySector is PartitionBySector for event histories: a
// return event goes to the partition of the call with the same Id.
func PartitionEventsBySector(history []porcupine.Event) [][]porcupine.Event {
	const oddKey = ^uint64(0)
	keyOf := map[int]uint64{}
	index := map[uint64]int{}
	var parts [][]porcupine.Event
	var keys []uint64
	for _, ev := range history {
		key, seen := keyOf[ev.Id]
		if !seen {
			key = oddKey
			if in, ok := ev.Value.(SectorInput); ok && ev.Kind == porcupine.CallEvent {
				key = in.Sector
			}
			keyOf[ev.Id] = key
		}
		i, ok := index[key]
		if !ok {
			i = len(parts)
			index[key] = i
			parts = append(parts, nil)
			keys = append(keys, key)
		}
		parts[i] = append(parts[i], ev)
	}
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
	out := make([][]porcupine.Event, len(parts))
	for j, i := range order {
		out[j] = parts[i]
	}
	return out
}
