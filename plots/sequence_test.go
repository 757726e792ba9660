package plots

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// TestSequenceDiagram: a lane per request, the engine and the disk; an
// arrow per I/O issued and completed; the lost write's request marked;
// well-formed XML.
func TestSequenceDiagram(t *testing.T) {
	steps := []results.Step{
		{Kind: "submit", Req: 1, Text: "write sector 0"},
		{Kind: "issue", Req: 0, IO: 1, Text: "header write setting the need-check bit"},
		{Kind: "complete", Req: 0, IO: 1, Text: "header write"},
		{Kind: "issue", Req: 1, IO: 2, Text: "data write <new cluster>"},
		{Kind: "submit", Req: 2, Text: "write sector 4"},
		{Kind: "frozen", Req: 2, Text: "frozen"},
		{Kind: "complete", Req: 1, IO: 2, Text: "data write"},
		{Kind: "done", Req: 1, Text: "done"},
		{Kind: "end", Text: "read back"},
	}
	svg := string(SequenceDiagram("overlap, snapshot", "reopen-content: sector 4 reads zero, before it read w2", steps))
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, svg)
	}
	for _, want := range []string{">request 1<", ">request 2 (lost)<", ">engine<", ">disk<", "io 2 issued: data write &lt;new cluster&gt;", "fill=\"#c00\""} {
		if !strings.Contains(svg, want) {
			t.Errorf("diagram lacks %q", want)
		}
	}
	if n := strings.Count(svg, "marker-end"); n != 4 {
		t.Errorf("%d arrows, want 4 (2 I/Os issued and completed)", n)
	}
}

// TestSequenceDiagramLostWrite: each explorer's way of naming the lost
// write marks that request's lane, and nothing else is marked.
func TestSequenceDiagramLostWrite(t *testing.T) {
	steps := []results.Step{
		{Kind: "submit", Req: 1, Text: "write sector 0"},
		{Kind: "note", Req: 1, Text: "request 1 looks up: L1[0] is empty"},
		{Kind: "submit", Req: 2, Text: "write sector 1"},
		{Kind: "submit", Req: 3, Text: "read sector 1"},
	}
	for _, tc := range []struct {
		violation string
		lost      int
	}{
		{"linearizability: sector 1 reads zeros, before it read w2", 2},
		{"reopen-content: with every request done, sector 4 reads request 2's data through the cached tables but zeros through the tables on disk", 2},
		{"reopen-content: after the reopen sector 1 reads zeros, before it read request 1's data", 1},
		{"linearizability: request 3's read of sector 1 saw zeros, but request 2's write of it completed before the read started", 2},
		{"deadlock: request 3 is frozen, but no request is in flight to wake it", 0},
	} {
		svg := string(SequenceDiagram("t", tc.violation, steps))
		for r := 1; r <= 3; r++ {
			marked := strings.Contains(svg, fmt.Sprintf(">request %d (lost)<", r))
			if marked != (r == tc.lost) {
				t.Errorf("%q: request %d marked lost: %v", tc.violation, r, marked)
			}
		}
		if !strings.Contains(svg, "2. request 1 looks up: L1[0] is empty<") {
			t.Errorf("a note's words are missing or decorated")
		}
	}
}
