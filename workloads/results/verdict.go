package results

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Checker names, in the order verdict tables show them.
const (
	// CheckerModel is the exhaustive explorer over the protocol model.
	CheckerModel = "model-explorer"
	// CheckerImpl is the explorer over every completion order of the
	// real engine.
	CheckerImpl = "impl-explorer"
	// CheckerCrash is the crash explorer: crashes at every completion
	// boundary of bounded completion orders of the real engine.
	CheckerCrash = "crash-explorer"
	// CheckerZeroes is the exhaustive explorer over the protocol model on
	// mixes of a write, a write-zeroes and a read over a backing file,
	// where write-zeroes allocate: zero-cluster entries and zero data.
	CheckerZeroes = "zeroes-explorer"
	// CheckerLinearizability is porcupine over the histories of the
	// measured runs.
	CheckerLinearizability = "linearizability"
)

// Checkers lists the checker names, in table order.
func Checkers() []string {
	return []string{CheckerModel, CheckerImpl, CheckerCrash, CheckerZeroes, CheckerLinearizability}
}

// CheckersIn returns the checkers with a verdict in vs, in table order.
func CheckersIn(vs []Verdict) []string {
	var out []string
	for _, c := range Checkers() {
		if slices.ContainsFunc(vs, func(v Verdict) bool { return v.Checker == c }) {
			out = append(out, c)
		}
	}
	return out
}

// Outcomes of a Verdict.
const (
	// OutcomeHolds: every invariant held over everything the checker
	// covered.
	OutcomeHolds = "holds"
	// OutcomeViolated: an invariant broke; Counterexample says how.
	OutcomeViolated = "violated"
	// OutcomeIncomplete: a bound stopped the checker before it covered
	// everything or found a violation; never a pass.
	OutcomeIncomplete = "incomplete"
	// OutcomeNotRun: the checker cannot check this combination (Note
	// says why).
	OutcomeNotRun = "not run"
)

// Verdict is one checker's finding for one policy under one table-write
// scheme, compared with what the policy claims for that scheme.
type Verdict struct {
	Policy  string `json:"policy"`
	Checker string `json:"checker"`
	// Config names the configuration checked, as the checker prints it.
	Config string `json:"config"`
	// TableWrites is "ordered" or "snapshot" (model.TableWrites).
	TableWrites string `json:"table_writes"`
	// Claim is what the policy claims under TableWrites: "safe" or
	// "unsafe".
	Claim string `json:"claim"`
	// Outcome is OutcomeHolds, OutcomeViolated, OutcomeIncomplete or
	// OutcomeNotRun.
	Outcome string `json:"outcome"`
	// Agrees says the outcome is what the claim predicts: holds for a
	// safe claim, violated for an unsafe one. A checker that was not run
	// agrees vacuously.
	Agrees bool `json:"agrees"`
	// The checker's counts, where it has them: states (model), orders run
	// to the end and engine states (impl, crash), crash points (crash),
	// runs checked (linearizability).
	States      int64 `json:"states,omitempty"`
	Orders      int64 `json:"orders,omitempty"`
	CrashPoints int64 `json:"crash_points,omitempty"`
	Runs        int   `json:"runs,omitempty"`
	// Seconds is the checker's wall time.
	Seconds float64 `json:"seconds"`
	// Violation names the broken invariant and its first line.
	Violation string `json:"violation,omitempty"`
	// Counterexample is the shortest counterexample found, one numbered
	// step per line.
	Counterexample []string `json:"counterexample,omitempty"`
	// Replay is a command that replays the counterexample, if there is
	// one.
	Replay string `json:"replay,omitempty"`
	// Note says why a checker was not run, or what bounded it.
	Note string `json:"note,omitempty"`
	// Steps are the counterexample as data, where the checker gives them
	// (the explorers and the crash explorer), for a sequence diagram; Diagram
	// names its SVG file in the results directory.
	Steps   []Step `json:"steps,omitempty"`
	Diagram string `json:"diagram,omitempty"`
}

// Step is one step of a counterexample: a request submitted, frozen,
// woken or done, an I/O issued or completed, a reopen, or the end.
type Step struct {
	// Kind is "submit", "issue", "complete", "frozen", "woken", "done",
	// "reopen", "end" or "note" (explorers), or "crash", "landed" or "lost" (the
	// crash explorer's crash and what it kept of each unflushed write).
	Kind string `json:"kind"`
	// Req is the request (1-based), or 0 for the engine's own I/O.
	Req int `json:"req,omitempty"`
	// IO is the I/O's number, or 0.
	IO uint64 `json:"io,omitempty"`
	// Text says what happened.
	Text string `json:"text"`
}

// Disagreements returns the verdicts that disagree with their claim.
func Disagreements(vs []Verdict) []Verdict {
	var out []Verdict
	for _, v := range vs {
		if !v.Agrees {
			out = append(out, v)
		}
	}
	return out
}

// Cell renders the verdict for a table: its outcome, counts and time, and
// a mark when it disagrees with the claim.
func (v Verdict) Cell() string {
	var parts []string
	switch {
	case v.States > 0 && (v.Checker == CheckerModel || v.Checker == CheckerZeroes):
		parts = append(parts, fmt.Sprintf("%d states", v.States))
	case v.CrashPoints > 0:
		parts = append(parts, fmt.Sprintf("%d crash points", v.CrashPoints))
	case v.Orders > 0:
		parts = append(parts, fmt.Sprintf("%d orders", v.Orders))
	case v.Runs > 0:
		parts = append(parts, fmt.Sprintf("%d runs", v.Runs))
	}
	if v.Outcome != OutcomeNotRun {
		parts = append(parts, fmt.Sprintf("%.2fs", v.Seconds))
	}
	s := v.Outcome
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if !v.Agrees {
		s += " DISAGREES"
	}
	return s
}

// WriteVerdicts writes vs as a table: one row per policy and scheme, one
// column per checker, then each violation's counterexample and every
// disagreement.
func WriteVerdicts(w io.Writer, vs []Verdict) error { return writeVerdicts(w, vs, true) }

// WriteVerdictTable writes the table of WriteVerdicts and the
// disagreements, without the counterexamples.
func WriteVerdictTable(w io.Writer, vs []Verdict) error { return writeVerdicts(w, vs, false) }

func writeVerdicts(w io.Writer, vs []Verdict, counterexamples bool) error {
	type key struct{ policy, scheme string }
	var keys []key
	cells := map[key]map[string]Verdict{}
	for _, v := range vs {
		k := key{v.Policy, v.TableWrites}
		if cells[k] == nil {
			keys = append(keys, k)
			cells[k] = map[string]Verdict{}
		}
		cells[k][v.Checker] = v
	}
	checkers := CheckersIn(vs)
	width := map[string]int{}
	for _, c := range checkers {
		width[c] = len(c)
		for _, k := range keys {
			if v, ok := cells[k][c]; ok {
				width[c] = max(width[c], len(v.Cell()))
			}
		}
	}
	var b strings.Builder
	row := func(cols ...string) {
		line := fmt.Sprintf("%-12s %-9s %-7s", cols[0], cols[1], cols[2])
		for i, c := range checkers {
			line += fmt.Sprintf("  %-*s", width[c], cols[3+i])
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	row(append([]string{"policy", "tables", "claims"}, checkers...)...)
	for _, k := range keys {
		claim := ""
		for _, v := range cells[k] {
			claim = v.Claim
		}
		cols := []string{k.policy, k.scheme, claim}
		for _, c := range checkers {
			cell := "-"
			if v, ok := cells[k][c]; ok {
				cell = v.Cell()
			}
			cols = append(cols, cell)
		}
		row(cols...)
	}
	for _, v := range vs {
		if !counterexamples || v.Outcome != OutcomeViolated {
			continue
		}
		fmt.Fprintf(&b, "\n%s, %s table writes, %s (%s): %s\n", v.Policy, v.TableWrites, v.Checker, v.Config, v.Violation)
		for _, l := range v.Counterexample {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		if v.Replay != "" {
			fmt.Fprintf(&b, "    replay: %s\n", v.Replay)
		}
	}
	for _, v := range Disagreements(vs) {
		fmt.Fprintf(&b, "\nDISAGREEMENT: %s claims %s with %s table writes, but %s finds it %s (%s)\n", v.Policy, v.Claim, v.TableWrites, v.Checker, v.Outcome, v.Config)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteVerdictSummary writes vs in a few lines: a row per policy, its
// claims with ordered/snapshot table writes, and per checker the
// outcomes under each ("-" where it did not run); "!" marks an outcome
// that disagrees with its claim. The counts, times and counterexamples
// are WriteVerdicts' (and the report's).
func WriteVerdictSummary(w io.Writer, vs []Verdict) error {
	var policies []string
	checkers := CheckersIn(vs)
	type key struct{ policy, checker, scheme string }
	got := map[key]Verdict{}
	claims := map[[2]string]string{}
	for _, v := range vs {
		if !slices.Contains(policies, v.Policy) {
			policies = append(policies, v.Policy)
		}
		got[key{v.Policy, v.Checker, v.TableWrites}] = v
		claims[[2]string{v.Policy, v.TableWrites}] = v.Claim
	}
	outcome := func(k key) string {
		v, ok := got[k]
		if !ok {
			return "-"
		}
		if !v.Agrees {
			return v.Outcome + "!"
		}
		return v.Outcome
	}
	short := map[string]string{CheckerModel: "model", CheckerImpl: "impl", CheckerCrash: "crash", CheckerZeroes: "zeroes", CheckerLinearizability: "runs"}
	names := make([]string, len(checkers))
	for i, c := range checkers {
		names[i] = short[c]
	}
	if len(vs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "verdicts, ordered/snapshot table writes (! disagrees with the claim):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "policy\tclaims\t%s\n", strings.Join(names, "\t"))
	for _, p := range policies {
		row := []string{p, orDash(claims[[2]string{p, "ordered"}]) + "/" + orDash(claims[[2]string{p, "snapshot"}])}
		for _, c := range checkers {
			row = append(row, outcome(key{p, c, "ordered"})+"/"+outcome(key{p, c, "snapshot"}))
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if bad := Disagreements(vs); len(bad) > 0 {
		fmt.Fprintf(w, "%d verdicts DISAGREE with their claim (!)\n", len(bad))
	}
	return nil
}

// orDash returns s, or "-" if it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
