package checker

import (
	"errors"
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Visualize writes porcupine's HTML visualization of the failing
// partition to path: the operations of the counterexample's sector (in the
// piece of its history that failed), each on its client's row, with
// porcupine's partial linearizations and the point where they fail. The
// operations on other sectors that overlapped the counterexample appear
// as annotation rows below, and the stale read is annotated with what it
// saw and what it should have seen. The file opens in any browser. It
// fails if the result is not Illegal.
func (r *Result) Visualize(path string) error {
	if r.Verdict != Illegal || r.failing == nil {
		return errors.New("visualize: the result has no failing partition")
	}
	m := r.disk.Model()
	m.Partition = nil
	m.DescribeOperationMetadata = func(meta any) string {
		if mt, ok := meta.(opMeta); ok && mt.op < 0 {
			return "assumed at a quiescent point"
		}
		return ""
	}
	_, info := porcupine.CheckOperationsVerbose(m, r.failing, 0)
	ce := r.Counterexample
	var notes []porcupine.Annotation
	for _, s := range ce.Concurrent {
		notes = append(notes, porcupine.Annotation{
			Tag:             fmt.Sprintf("op %d: %s s%d+%d", s.ID, s.Action, s.Sector, s.Sectors),
			Start:           s.Call,
			End:             s.Return,
			Description:     fmt.Sprintf("%s s%d+%d", s.Action, s.Sector, s.Sectors),
			Details:         s.String(),
			BackgroundColor: "#e8e8ff",
		})
	}
	stale := ce.Steps[ce.Stale]
	notes = append(notes, porcupine.Annotation{
		Tag:             "verdict",
		Start:           stale.Call,
		End:             stale.Return,
		Description:     fmt.Sprintf("stale: op %d saw %v", stale.ID, ce.Saw),
		Details:         ce.String(),
		BackgroundColor: "#ffd6d6",
	})
	info.AddAnnotations(notes)
	if err := porcupine.VisualizePath(m, info, path); err != nil {
		return fmt.Errorf("visualize: write %s: %w", path, err)
	}
	return nil
}
