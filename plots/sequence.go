package plots

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strconv"

	"github.com/qedharness/qedharness/workloads/results"
)

// Geometry of a sequence diagram, in pixels.
const (
	seqLaneGap  = 110 // between lanes
	seqLeft     = 60  // left margin to the first lane
	seqTop      = 70  // title and lane headers
	seqRow      = 24  // one step
	seqTextGap  = 40  // from the disk lane to the step text
	seqTextWide = 760 // room for the step text
)

// lostWrite finds the writes a violation says were lost: "before it read
// w3" (the implementation and crash explorers) names request 3's write,
// and so do the model explorer's "request 3's write of it completed
// before the read", "reads request 3's data through the cached tables"
// and "before it read request 3's data".
var lostWrite = regexp.MustCompile(`\bw(\d+)\b|request (\d+)'s (?:write of it completed|data through the cached)|before it read request (\d+)'s data`)

// SequenceDiagram renders a counterexample's steps as a self-contained
// SVG: a lane per request, one for the engine's own I/O and one for the
// disk. An I/O issued is an arrow from its lane to the disk, its
// completion an arrow back; submissions, freezes, wake-ups and
// completions are marks on their lane, a reopen or crash a bar across,
// and each step's words run beside the lanes (a crash's lost writes in
// red). The requests whose writes violation says were lost ("w3")
// have their lane header in red, and the violation closes the diagram.
func SequenceDiagram(title, violation string, steps []results.Step) []byte {
	reqs, engine := 0, false
	for _, s := range steps {
		reqs = max(reqs, s.Req)
		if s.Req == 0 && (s.Kind == "issue" || s.Kind == "complete") {
			engine = true
		}
	}
	lost := map[int]bool{}
	for _, m := range lostWrite.FindAllStringSubmatch(violation, -1) {
		for _, g := range m[1:] {
			if n, err := strconv.Atoi(g); err == nil {
				lost[n] = true
			}
		}
	}
	lanes := reqs
	if engine {
		lanes++
	}
	laneX := func(req int) int {
		if req == 0 {
			return seqLeft + reqs*seqLaneGap // the engine's lane
		}
		return seqLeft + (req-1)*seqLaneGap
	}
	diskX := seqLeft + lanes*seqLaneGap
	textX := diskX + seqTextGap
	width := textX + seqTextWide
	height := seqTop + (len(steps)+2)*seqRow + 20

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	bottom := seqTop + (len(steps)+1)*seqRow
	lane := func(x int, name string, red bool) {
		color := "#333"
		if red {
			color = "#c00"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold" fill="%s">%s</text>`+"\n", x, seqTop-20, color, html.EscapeString(name))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#bbb" stroke-dasharray="4 3"/>`+"\n", x, seqTop-12, x, bottom)
	}
	for r := 1; r <= reqs; r++ {
		name := fmt.Sprintf("request %d", r)
		if lost[r] {
			name += " (lost)"
		}
		lane(laneX(r), name, lost[r])
	}
	if engine {
		lane(laneX(0), "engine", false)
	}
	lane(diskX, "disk", false)

	for i, s := range steps {
		y := seqTop + i*seqRow
		x := laneX(s.Req)
		label := s.Text
		switch s.Kind {
		case "issue":
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#36c" marker-end="url(#arrow)"/>`+"\n", x, y, diskX, y)
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#36c" font-size="10">io %d</text>`+"\n", x+6, y-3, s.IO)
			label = fmt.Sprintf("io %d issued: %s", s.IO, s.Text)
		case "complete":
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#393" marker-end="url(#arrow)"/>`+"\n", diskX, y, x, y)
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#393" font-size="10" text-anchor="end">io %d</text>`+"\n", diskX-6, y-3, s.IO)
			label = fmt.Sprintf("io %d completes: %s", s.IO, s.Text)
		case "landed", "lost":
			// What a crash kept of an unflushed write: words only.
			if s.Kind == "lost" {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#c00">%d. lost: %s</text>`+"\n", textX, y+4, i+1, html.EscapeString(s.Text))
			} else {
				fmt.Fprintf(&b, `<text x="%d" y="%d">%d. landed: %s</text>`+"\n", textX, y+4, i+1, html.EscapeString(s.Text))
			}
			continue
		case "note":
			// A decision with no I/O (a lookup, an allocation): words only.
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%d. %s</text>`+"\n", textX, y+4, i+1, html.EscapeString(s.Text))
			continue
		case "reopen", "end", "crash":
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="2"/>`+"\n", seqLeft-20, y, diskX+10, y)
		default: // submit, frozen, woken, done: a mark on the lane
			fill := map[string]string{"submit": "#333", "frozen": "#c80", "woken": "#c80", "done": "#393"}[s.Kind]
			fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="5" fill="%s"/>`+"\n", x, y, fill)
			who := "the engine"
			if s.Req > 0 {
				who = fmt.Sprintf("request %d", s.Req)
			}
			label = fmt.Sprintf("%s %s: %s", who, s.Kind, s.Text)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d. %s</text>`+"\n", textX, y+4, i+1, html.EscapeString(label))
	}
	if violation != "" {
		y := bottom + seqRow/2
		fmt.Fprintf(&b, `<text x="10" y="%d" fill="#c00" font-weight="bold">%s</text>`+"\n", y, html.EscapeString(violation))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
