package checker

import (
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// VerdictRow is one policy's row of the verdict table: what the policy
// declares and what the explorer found in each mode.
type VerdictRow struct {
	// Registration is the policy and its declared verdict.
	Registration model.Registration
	// Model and Impl are the explorations in each mode; either may be nil
	// if that mode was not run.
	Model, Impl *ExploreResult
}

// Problems lists every way the row disagrees with what the policy
// declares: a declared-safe policy that does not hold (violated, or only
// incomplete), a declared-unsafe policy with no violation, or a policy
// declared parallel whose exploration never had two allocating writes in
// flight (a vacuous pass). Empty means the row agrees.
func (r VerdictRow) Problems() []string {
	var out []string
	reg := r.Registration
	for _, res := range []*ExploreResult{r.Model, r.Impl} {
		if res == nil {
			continue
		}
		mode := res.Config.Mode
		switch claim := reg.Claim(res.Config.TableWrites()); {
		case claim == model.Safe && res.Verdict == Violated:
			out = append(out, fmt.Sprintf("%s declares safe, but %s mode finds %s: %s", reg.Name, mode, res.Violation.Invariant, firstLine(res.Violation.Message)))
		case claim == model.Safe && res.Verdict == Incomplete:
			out = append(out, fmt.Sprintf("%s declares safe, but %s mode is incomplete (%s)", reg.Name, mode, res.Reason))
		case claim == model.Unsafe && res.Verdict != Violated:
			out = append(out, fmt.Sprintf("%s declares unsafe, but %s mode finds no violation (%s)", reg.Name, mode, res.Verdict))
		}
		if reg.Parallel && res.Facts.MaxAllocInFlight < 2 {
			out = append(out, fmt.Sprintf("%s declares parallel, but %s mode never had two allocating writes in flight: its verdict proves nothing", reg.Name, mode))
		}
	}
	return out
}

// BuildVerdictTable explores every registration in both modes, the model
// under modelCfg and the engine under implCfg (their Mode fields are
// set here), and returns one row per policy, in registry order.
func BuildVerdictTable(regs []model.Registration, modelCfg, implCfg ExploreConfig) ([]VerdictRow, error) {
	modelCfg.Mode, implCfg.Mode = ExploreModel, ExploreImpl
	rows := make([]VerdictRow, len(regs))
	for i, reg := range regs {
		rows[i].Registration = reg
		var err error
		if rows[i].Model, err = Explore(reg, modelCfg); err != nil {
			return nil, err
		}
		if rows[i].Impl, err = Explore(reg, implCfg); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// WriteVerdictTable writes rows as a Markdown table (verdict per mode
// with its size, the concurrency explored, and the shortest
// counterexample's length), then each counterexample's first steps.
func WriteVerdictTable(w io.Writer, rows []VerdictRow) {
	fmt.Fprintln(w, "| policy | declared | model | impl | allocating writes in flight (model/impl) | woken and restarted (model/impl) | shortest counterexample | agrees |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		agrees := "yes"
		if len(r.Problems()) > 0 {
			agrees = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Registration.Name, r.Registration.Expect,
			cell(r.Model), cell(r.Impl), pair(r, func(x *ExploreResult) string { return fmt.Sprint(x.Facts.MaxAllocInFlight) }),
			pair(r, func(x *ExploreResult) string { return yesNo(x.Facts.Restart) }), shortest(r), agrees)
	}
	for _, r := range rows {
		for _, res := range []*ExploreResult{r.Model, r.Impl} {
			if res == nil || res.Violation == nil {
				continue
			}
			v := res.Violation
			fmt.Fprintf(w, "\n%s, %s mode: %s: %s\n", r.Registration.Name, res.Config.Mode, v.Invariant, firstLine(v.Message))
			if v.Schedule != "" {
				fmt.Fprintf(w, "schedule: %s\n", v.Schedule)
			}
			for _, l := range v.Trace {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, r := range rows {
		for _, p := range r.Problems() {
			fmt.Fprintf(w, "\nDISAGREEMENT: %s\n", p)
		}
	}
}

func cell(r *ExploreResult) string {
	if r == nil {
		return "-"
	}
	size := fmt.Sprintf("%d states", r.States)
	if r.Config.Mode == ExploreImpl {
		size = fmt.Sprintf("%d orders", r.Paths)
	}
	return fmt.Sprintf("%s (%s, %s)", r.Verdict, size, fmtDuration(r.Elapsed))
}

func pair(r VerdictRow, f func(*ExploreResult) string) string {
	a, b := "-", "-"
	if r.Model != nil {
		a = f(r.Model)
	}
	if r.Impl != nil {
		b = f(r.Impl)
	}
	return a + "/" + b
}

func shortest(r VerdictRow) string {
	var parts []string
	for _, res := range []*ExploreResult{r.Model, r.Impl} {
		if res != nil && res.Violation != nil {
			parts = append(parts, fmt.Sprintf("%s: %d steps, %s, workload %s", res.Config.Mode, res.Violation.Steps, res.Violation.Invariant, formatWorkload(res.Violation.Workload)))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
