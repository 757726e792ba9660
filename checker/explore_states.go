package checker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The states a model-mode shard stored, kept so that a merge can count
// the union exactly: the shards of a search that holds store, between
// them, every state of the whole search, some more than once (a state
// reachable from two shards' parts), and no other.
//
// The file format: statesMagic, the words per state (uint32), the number
// of states (uint64), then each state's packed words, all little-endian.
const statesMagic = "QEDSTATES1\n"

// HasStates reports whether r kept the states its search stored: a
// model-mode shard's result, until it is written out.
func (r *ExploreResult) HasStates() bool { return r.stored != nil }

// WriteStates writes the states r's search stored (HasStates) to w.
func (r *ExploreResult) WriteStates(w io.Writer) error {
	st := r.stored
	if st == nil {
		return errors.New("explore: this result kept no states (only a model-mode shard's does)")
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(statesMagic)
	var hdr [12]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(st.words))
	binary.LittleEndian.PutUint64(hdr[4:], uint64(st.n))
	bw.Write(hdr[:])
	var b [8]byte
	for i := range uint32(st.n) {
		for _, x := range st.state(i) {
			binary.LittleEndian.PutUint64(b[:], x)
			if _, err := bw.Write(b[:]); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// CountUnion returns the number of distinct states in the state files
// (WriteStates) files reads: for the shards of one search that holds,
// the whole search's count. names name the files in errors.
func CountUnion(files []io.Reader, names []string) (int64, error) {
	var st *stateStore
	for i, f := range files {
		br := bufio.NewReaderSize(f, 1<<20)
		magic := make([]byte, len(statesMagic))
		var hdr [12]byte
		if _, err := io.ReadFull(br, magic); err != nil || string(magic) != statesMagic {
			return 0, fmt.Errorf("%s: not a state file (no %q header)", names[i], statesMagic[:len(statesMagic)-1])
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return 0, fmt.Errorf("%s: %w", names[i], err)
		}
		words, n := int(binary.LittleEndian.Uint32(hdr[0:])), binary.LittleEndian.Uint64(hdr[4:])
		switch {
		case words < 1 || words > 1<<10:
			return 0, fmt.Errorf("%s: %d words per state", names[i], words)
		case st == nil:
			st = newStateStore(words)
		case words != st.words:
			return 0, fmt.Errorf("%s: %d words per state, %s %d: not one search's shards", names[i], words, names[0], st.words)
		}
		key := make([]uint64, words)
		buf := make([]byte, 8*words)
		for j := uint64(0); j < n; j++ {
			if _, err := io.ReadFull(br, buf); err != nil {
				return 0, fmt.Errorf("%s: state %d of %d: %w", names[i], j+1, n, err)
			}
			for k := range key {
				key[k] = binary.LittleEndian.Uint64(buf[8*k:])
			}
			st.insert(key, hashWords(key), noParent)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			return 0, fmt.Errorf("%s: more than the %d states its header gives", names[i], n)
		}
	}
	if st == nil {
		return 0, errors.New("no state files")
	}
	return int64(st.Len()), nil
}
