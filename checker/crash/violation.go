package crash

import "strings"

// Violation is a broken durability promise: what Recover found on one
// crash image, and, when the explorer found it, where and how.
//
// Recover sets Kind and Detail. Explore adds the policy and workload, the
// class Config.Classify gave it, and the trace that led to the crash.
type Violation struct {
	// Kind names the property: "reopen", "lost-write", "garbage",
	// "corrupt-after-recovery", "repair", "continue".
	Kind string
	// Detail says what was seen.
	Detail string

	// Policy and Workload name the explorer's configuration, or are
	// empty.
	Policy, Workload string
	// Known is the class Config.Classify gave the violation, or "".
	Known string
	// Trace lists the completions before the crash, then what landed
	// (explorer only).
	Trace []string
	// Steps are the trace as data, for a sequence diagram (explorer
	// only): requests submitted and done, I/Os issued and completed, then
	// the crash and each unflushed write landed or lost.
	Steps []Step
}

// Step is one step of a crash trace.
type Step struct {
	// Kind is "submit", "issue", "complete", "done", "crash", "landed" or
	// "lost".
	Kind string
	// Req is the guest request (1-based, in submission order), or 0 for
	// the engine's own I/O and for the crash.
	Req int
	// IO is the I/O issued or completed, or 0.
	IO uint64
	// Text says what happened.
	Text string
}

// Error renders the violation: "kind: detail", preceded by the policy,
// workload and known class when the explorer set them and followed by the
// trace, one indented line a step.
func (v *Violation) Error() string {
	var b strings.Builder
	if v.Policy != "" || v.Workload != "" {
		b.WriteString("policy " + v.Policy + ", workload " + v.Workload)
		if v.Known != "" {
			b.WriteString(" (known issue " + v.Known + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(v.Kind + ": " + v.Detail)
	for _, l := range v.Trace {
		b.WriteString("\n  " + l)
	}
	return b.String()
}
