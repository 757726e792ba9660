package model

import (
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
)

// wr, rd and assume build single-sector operations for the model.
func wr(s, w uint64, call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: SectorInput{Kind: SectorWrite, Sector: s, Tag: WriteTag(w, s)}, Call: call, Return: ret}
}

func rd(s uint64, saw Tag, call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: SectorInput{Kind: SectorRead, Sector: s}, Output: saw, Call: call, Return: ret}
}

func assume(s uint64, possible []Tag, at int64) porcupine.Operation {
	return porcupine.Operation{Input: SectorInput{Kind: SectorAssume, Sector: s, Possible: possible}, Call: at, Return: at}
}

// TestDiskModel checks small histories, in -ok and -bad pairs, against
// the disk specification through porcupine.
func TestDiskModel(t *testing.T) {
	disk := Disk{BackingSectors: 4}
	tests := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"read-after-write-ok", []porcupine.Operation{wr(9, 1, 0, 10), rd(9, WriteTag(1, 9), 20, 30)}, true},
		{"read-after-write-bad", []porcupine.Operation{wr(9, 1, 0, 10), rd(9, ZeroTag(), 20, 30)}, false},
		{"initial-backing-ok", []porcupine.Operation{rd(2, BackingTag(2), 0, 10), rd(4, ZeroTag(), 0, 10)}, true},
		{"initial-backing-bad", []porcupine.Operation{rd(2, ZeroTag(), 0, 10)}, false},
		{"initial-zero-bad", []porcupine.Operation{rd(4, BackingTag(4), 0, 10)}, false},
		{"misplaced-backing-bad", []porcupine.Operation{rd(2, BackingTag(3), 0, 10)}, false},
		{"misplaced-write-bad", []porcupine.Operation{wr(1, 1, 0, 10), wr(2, 1, 0, 10), rd(2, WriteTag(1, 1), 20, 30)}, false},
		{"concurrent-read-ok", []porcupine.Operation{wr(9, 1, 0, 30), rd(9, ZeroTag(), 10, 20), rd(9, WriteTag(1, 9), 21, 25)}, true},
		{"new-old-inversion-bad", []porcupine.Operation{wr(9, 1, 0, 30), rd(9, WriteTag(1, 9), 10, 20), rd(9, ZeroTag(), 21, 25)}, false},
		{"closed-interval-ok", []porcupine.Operation{wr(9, 1, 0, 10), rd(9, ZeroTag(), 10, 20)}, true},
		{"overlapping-writes-ok", []porcupine.Operation{wr(9, 1, 0, 10), wr(9, 2, 5, 15), rd(9, WriteTag(1, 9), 20, 30)}, true},
		{"overlapping-writes-bad", []porcupine.Operation{wr(9, 1, 0, 10), wr(9, 2, 5, 15), rd(9, WriteTag(1, 9), 20, 30), rd(9, WriteTag(2, 9), 31, 40), rd(9, WriteTag(1, 9), 41, 50)}, false},
		{"assume-ok", []porcupine.Operation{assume(9, []Tag{WriteTag(1, 9), WriteTag(2, 9)}, 0), rd(9, WriteTag(2, 9), 1, 2), rd(9, WriteTag(2, 9), 3, 4)}, true},
		{"assume-bad", []porcupine.Operation{assume(9, []Tag{WriteTag(1, 9), WriteTag(2, 9)}, 0), rd(9, WriteTag(3, 9), 1, 2)}, false},
		{"assume-then-flip-bad", []porcupine.Operation{assume(9, []Tag{WriteTag(1, 9), WriteTag(2, 9)}, 0), rd(9, WriteTag(2, 9), 1, 2), rd(9, WriteTag(1, 9), 3, 4)}, false},
		{"assume-empty-bad", []porcupine.Operation{assume(9, nil, 0)}, false},
		{"read-without-tag-bad", []porcupine.Operation{rd(9, ZeroTag(), 0, 1), {Input: SectorInput{Kind: SectorRead, Sector: 9}, Output: "zero", Call: 2, Return: 3}}, false},
		{"sectors-independent-ok", []porcupine.Operation{wr(8, 1, 0, 10), rd(9, ZeroTag(), 20, 30), rd(8, WriteTag(1, 8), 20, 30)}, true},
	}
	for _, tc := range tests {
		if got := porcupine.CheckOperations(disk.Model(), tc.ops); got != tc.ok {
			t.Errorf("%s: linearizable = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestPartitionBySector(t *testing.T) {
	ops := []porcupine.Operation{wr(9, 1, 0, 1), rd(3, ZeroTag(), 0, 1), wr(9, 2, 2, 3), {Input: "odd"}, rd(3, ZeroTag(), 4, 5)}
	parts := PartitionBySector(ops)
	var got [][]int64
	for _, p := range parts {
		var calls []int64
		for _, op := range p {
			calls = append(calls, op.Call)
		}
		got = append(got, calls)
	}
	want := [][]int64{{0, 4}, {0, 2}, {0}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("partition calls %v, want %v (sector 3, sector 9, odd)", got, want)
	}
	if len(parts[0]) != 2 || parts[0][0].Input.(SectorInput).Sector != 3 {
		t.Errorf("first partition is not sector 3: %v", parts[0])
	}

	events := []porcupine.Event{
		{Kind: porcupine.CallEvent, Id: 0, Value: SectorInput{Kind: SectorWrite, Sector: 9, Tag: WriteTag(1, 9)}},
		{Kind: porcupine.CallEvent, Id: 1, Value: SectorInput{Kind: SectorRead, Sector: 3}},
		{Kind: porcupine.ReturnEvent, Id: 0},
		{Kind: porcupine.ReturnEvent, Id: 1, Value: ZeroTag()},
	}
	ep := PartitionEventsBySector(events)
	if len(ep) != 2 || len(ep[0]) != 2 || ep[0][0].Id != 1 || ep[1][1].Id != 0 {
		t.Errorf("event partitions %v, want sector 3's call and return, then sector 9's", ep)
	}
	if !porcupine.CheckEvents(Disk{}.Model(), events) {
		t.Error("event history not linearizable")
	}
}

func TestTagStrings(t *testing.T) {
	tests := []struct {
		tag  Tag
		want string
	}{
		{ZeroTag(), "zero"},
		{BackingTag(9), "backing/s9"},
		{WriteTag(12, 9), "w12/s9"},
		{Tag{Kind: 7}, "tag(7)"},
	}
	for _, tc := range tests {
		if got := tc.tag.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.tag, got, tc.want)
		}
	}
	m := Disk{}.Model()
	if got := m.DescribeOperation(SectorInput{Kind: SectorWrite, Sector: 3, Tag: WriteTag(1, 3)}, nil); got != "write s3 := w1/s3" {
		t.Errorf("DescribeOperation(write) = %q", got)
	}
	if got := m.DescribeState(possibleState([]Tag{WriteTag(2, 3), WriteTag(1, 3), WriteTag(2, 3)})); got != "one of {w1/s3, w2/s3}" {
		t.Errorf("DescribeState(set) = %q", got)
	}
}
