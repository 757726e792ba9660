package plots

import (
	"encoding/xml"
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
