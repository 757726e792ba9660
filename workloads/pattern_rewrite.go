package workloads

// Rewrite allocates the whole region before the run (untimed), so every
// write hits an allocated cluster and no write allocates. Its operations
// are Plain's.
const Rewrite PatternName = "rewrite"

func init() { registerPattern(3, rewrite{}) }

// rewrite is the Rewrite pattern: Plain over a prefilled region.
type rewrite struct{ plain }

// Name returns Rewrite.
func (rewrite) Name() PatternName { return Rewrite }

// Summary says what Rewrite does.
func (rewrite) Summary() string { return "only allocated clusters" }

// layout is Plain's, with the region prefilled.
func (r rewrite) layout(j *Job) (layout, error) {
	l, err := r.plain.layout(j)
	l.prefill = true
	return l, err
}
