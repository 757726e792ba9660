package plots

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// ReportInput is what a report summarizes.
type ReportInput struct {
	// Results are the runs and their provenance.
	Results *results.Results
	// Summaries are the runs summarized, in table order.
	Summaries []results.Summary
	// Figures were written by Write into the report's directory.
	Figures []Figure
	// Policies are the policies compared, with their claims.
	Policies []model.Registration
	// Baseline is the policy throughput is compared with ("freeze-any").
	Baseline string
	// Command regenerates the results.
	Command string
	// BaselineNotes say how baselines differ from the workloads, or why
	// some were left out; BaselineSkip why none ran, if none did.
	BaselineNotes []string
	BaselineSkip  string
}

// report is the content shared by the Markdown and HTML renderings.
type report struct {
	Title      string
	Provenance []string
	Command    string
	Verdicts   []verdictRow
	// Checkers name the columns of CheckerRows: the checkers with a
	// verdict; CheckerRows one row per policy and table-write scheme;
	// Counterexamples each violation's steps.
	Checkers        []string
	CheckerRows     []checkerRow
	CheckersText    template.HTML // checkersText, a constant of ours
	Counterexamples []counterexampleView
	Headlines       []string
	Throughput      []throughputTable
	Figures         []figureView
	Baselines       string
	BaseTables      []throughputTable
	BaseNotes       []string
	Notes           []string
	Full            string // the full summary table, as text
}

type verdictRow struct {
	Policy, Summary, Claims, ImageCheck, Linearizable, Verdict string
	// Counterexample is the text file of the shortest counterexample
	// found, Visualization porcupine's HTML beside it, "" if none.
	Counterexample, Visualization, Where string
	Bad                                  bool
}

// checkerRow is one policy's verdicts under one table-write scheme.
type checkerRow struct {
	Policy, TableWrites, Claim string
	Cells                      []checkerCell
	Bad                        bool
}

type checkerCell struct {
	Text string
	Bad  bool
}

// counterexampleView is one violation a checker found, with its steps.
type counterexampleView struct {
	Title, Replay string
	Steps         []string
	// Diagram is the sequence diagram's file, SVG its content inline.
	Diagram string
	SVG     template.HTML
}

type throughputTable struct {
	Device   string
	QD       int
	Policies []string
	Rows     []throughputRow
}

type throughputRow struct {
	Workload string
	Cells    []throughputCell
}

type throughputCell struct {
	Text, Ratio string
	Best, Bad   bool
}

type figureView struct {
	Figure
	DataURI template.URL
}

// WriteReport writes report.md and a self-contained report.html (figures
// embedded as PNG) into dir, where Write put the figures.
func WriteReport(dir string, in ReportInput) error {
	r, err := buildReport(dir, in)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	writeMarkdown(&md, r)
	if err := os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, r); err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "report.html"), html.Bytes(), 0o644)
}

func buildReport(dir string, in ReportInput) (*report, error) {
	p := in.Results.Provenance
	r := &report{Title: "QED allocation policies: safety and throughput", Command: in.Command}
	commit := p.Commit
	if p.Dirty {
		commit += " (with uncommitted changes)"
	}
	r.Provenance = []string{
		fmt.Sprintf("Commit %s, %s, %s/%s, %d CPUs%s.", commit, p.GoVersion, p.OS, p.Arch, p.CPUs, cpuSuffix(p.CPUModel)),
		fmt.Sprintf("Run %s with seed %d: %d measured repetitions per configuration, interleaved, after %d discarded warm-up round(s); tables show the median and the min-max spread.", p.Date, p.Seed, p.Repeat, p.Warmup),
		"Linearizability: " + p.Linearizability + ".",
	}
	if p.FileSystem != "" {
		r.Provenance = append(r.Provenance, fmt.Sprintf("File backend: %s, %s I/O; load average %s at the start, %s at the end (wall-clock figures are slower and noisier under load).",
			p.FileSystem, p.CacheMode, orDash(p.LoadAvg), orDash(p.LoadAvgEnd)))
	}
	for _, note := range p.HostNotes {
		r.Provenance = append(r.Provenance, "Host: "+strings.TrimSuffix(note, ".")+".")
	}
	for _, line := range in.Results.HarnessCost().Lines(p.CacheMode) {
		r.Provenance = append(r.Provenance, strings.ToUpper(line[:1])+line[1:]+".")
	}
	for _, d := range p.Devices {
		r.Provenance = append(r.Provenance, fmt.Sprintf("Sim device %s: read %.0f us, write %.0f us, flush %.0f us, %.2f GB/s, %d channels, jitter %.0f%% (virtual time).",
			d.Name, float64(d.ReadLatencyNs)/1e3, float64(d.WriteLatencyNs)/1e3, float64(d.FlushLatencyNs)/1e3, float64(d.BandwidthBps)/1e9, d.Parallelism, 100*d.Jitter))
	}
	r.Verdicts = verdicts(dir, in)
	r.Checkers, r.CheckerRows, r.Counterexamples = checkerVerdicts(dir, in.Results.Verdicts)
	r.CheckersText = template.HTML(checkersText)
	trusted := map[string]bool{}
	for i, v := range r.Verdicts {
		trusted[v.Policy] = !v.Bad && in.Policies[i].Expect == model.Safe
	}
	r.Throughput, r.Headlines = throughputTables(in, trusted)
	for _, f := range in.Figures {
		b, err := os.ReadFile(filepath.Join(dir, f.PNG))
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		r.Figures = append(r.Figures, figureView{Figure: f, DataURI: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))})
	}
	r.BaseTables = baselineTables(in, trusted)
	r.BaseNotes = in.BaselineNotes
	switch {
	case len(r.BaseTables) > 0:
		r.Baselines = baselinesText(in.Summaries)
	case in.BaselineSkip != "":
		r.Baselines = "Not measured: " + in.BaselineSkip + "."
	default:
		r.Baselines = "Not measured in this run: baselines run on the file backend (runbench -backend file,sim)."
	}
	r.Notes = []string{
		"Throughput on the sim backend is in virtual time: it is exact and repeatable for a seed, and measures the policies, not this machine.",
		"Each run's record in runs.json names the image's allocation scheme (scheme: fill, grow, meta). With the defaults, fill=elide grow=1 meta=writeback, a 4 KiB write to a fresh cluster writes its 4 KiB alone into space the image grew ahead (the rest reads as zeros), and L2 updates are written back in batches, before a flush completes; fill=merged writes the whole cluster instead, so at 64 KiB clusters on nvme the 2.5 GB/s link caps parallel allocation near 38K writes/s, and meta=writethrough writes each L2 update before its write completes, as QEMU's QED does.",
		"Leaked clusters are not corruption (qemu-img check repairs them), but clusters leaked while writes raced for a cluster are where writes went that no table references: data the guest wrote and will not read back. Checked runs read their regions back after the measured phase, so the linearizability check sees such lost writes.",
	}
	r.Notes = append(r.Notes, failedRunNotes(in.Results.Runs)...)
	var full bytes.Buffer
	if err := results.WriteTable(&full, in.Summaries, in.Baseline); err != nil {
		return nil, err
	}
	r.Full = full.String()
	return r, nil
}

// checkersText explains the table of every checker's verdict, in both
// renderings of the report.
const checkersText = "Each policy's claim under each table-write scheme (ordered: our engine's metadata writer; snapshot: QEMU's, each table write a snapshot of its sector, several in flight), and what each checker found: the explorers exhaustively on their standard configuration, the write-zeroes explorer exhaustively on mixes of a write, a write-zeroes and a read over a backing file (chosen for write-zeroes, so an unsafe claim it does not confirm is no disagreement), the crash explorer bounded, linearizability over the measured runs' histories."

// maxFailedNotes bounds the failed runs the report describes one by one.
const maxFailedNotes = 10

// failedRunNotes returns a note for each failed run of runs (at most
// maxFailedNotes, then one counting the rest): which run, its seed, and
// why, as its error says (its configuration's figures are those of its
// other repetitions).
func failedRunNotes(runs []results.Record) []string {
	var out []string
	n := 0
	for _, r := range runs {
		if r.Error == "" {
			continue
		}
		n++
		if n > maxFailedNotes {
			continue
		}
		msg := r.Error
		if len(msg) > 400 {
			msg = msg[:400] + "..."
		}
		out = append(out, fmt.Sprintf("A run failed: %s on %s at queue depth %d (%s %s), repetition %d, seed %d: %s. Its configuration's figures are those of its other repetitions.",
			r.Policy, r.Workload, r.QD, r.Backend, r.Device, r.Repeat, r.Seed, strings.TrimSuffix(msg, ".")))
	}
	if n > maxFailedNotes {
		out = append(out, fmt.Sprintf("%d more runs failed; runs.json holds every run's error.", n-maxFailedNotes))
	}
	return out
}

// baselinesText says what the baselines among sums are and how they
// ran: those of runbench's matrix (file backend) and those of runbench
// nbd.
func baselinesText(sums []results.Summary) string {
	var parts []string
	if slices.ContainsFunc(sums, func(s results.Summary) bool { return results.IsMatrixBaseline(s.Config.Policy) }) {
		parts = append(parts, "The same workloads on the file backend, beside our fastest safe policy and the baseline policy: through qemu-img bench, QEMU's own QED and qcow2 drivers (plain, with every cluster preallocated, and with 128 KiB subclusters) and a preallocated raw file, in sequential order since qemu-img bench cannot issue random offsets (it reports throughput only); and raw, a preallocated raw file written with the workload's own operations in its order through our file backend, with no metadata at all: the device's limit for that order. Each baseline's notes say how it differs.")
	}
	if slices.ContainsFunc(sums, func(s results.Summary) bool { return results.IsNBDBaseline(s.Config.Policy) }) {
		parts = append(parts, "Side by side through NBD (runbench nbd): the same fio job, fio's nbd engine replaying the same iolog, against our image under each policy, served as qedimg serve serves it, and against QEMU's own QED and qcow2 drivers served by qemu-nbd, each run on a fresh image; fio reports latencies for both. The notes give the ratios and each server's CPU time per request.")
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func cpuSuffix(m string) string {
	if m == "" {
		return ""
	}
	return " (" + m + ")"
}

// verdicts builds one row per policy from what its runs showed.
func verdicts(dir string, in ReportInput) []verdictRow {
	var rows []verdictRow
	for _, reg := range in.Policies {
		var runs, corrupt, leaky, notLin, checked int
		var worstLeak, worstCorrupt, ce results.Record
		for _, rec := range in.Results.Runs {
			if rec.Policy != reg.Name || rec.Error != "" {
				continue
			}
			runs++
			if rec.CheckCorruptions > 0 {
				corrupt++
				if rec.CheckCorruptions > worstCorrupt.CheckCorruptions {
					worstCorrupt = rec
				}
			}
			if rec.CheckLeaks > 0 {
				leaky++
				if rec.CheckLeaks > worstLeak.CheckLeaks || worstLeak.CheckLeaks == rec.CheckLeaks && rec.QD < worstLeak.QD {
					worstLeak = rec
				}
			}
			if rec.Linearizable != nil {
				checked++
				if !*rec.Linearizable {
					notLin++
					if rec.Counterexample != "" && (ce.Counterexample == "" || rec.QD < ce.QD) {
						ce = rec
					}
				}
			}
		}
		row := verdictRow{Policy: reg.Name, Summary: reg.Summary, Claims: reg.ClaimText()}
		if ce.Counterexample != "" {
			row.Counterexample = ce.Counterexample
			if viz := strings.TrimSuffix(ce.Counterexample, ".txt") + ".html"; fileExists(filepath.Join(dir, viz)) {
				row.Visualization = viz
			}
			row.Where = fmt.Sprintf("%s, qd %d, %s, seed %d", ce.Workload, ce.QD, ce.Device, ce.Seed)
		}
		switch {
		case runs == 0:
			row.ImageCheck = "no runs"
		case corrupt > 0:
			row.ImageCheck = fmt.Sprintf("corruption in %d of %d runs (worst: %s at qd %d, %s)", corrupt, runs, worstCorrupt.Workload, worstCorrupt.QD, worstCorrupt.Check)
			row.Bad = true
		case leaky > 0:
			row.ImageCheck = fmt.Sprintf("leaks in %d of %d runs (worst: %s at qd %d, %s)", leaky, runs, worstLeak.Workload, worstLeak.QD, worstLeak.Check)
			row.Bad = true
		default:
			row.ImageCheck = fmt.Sprintf("clean in all %d runs", runs)
		}
		switch {
		case checked == 0:
			row.Linearizable = "not checked"
		case notLin > 0:
			row.Linearizable = fmt.Sprintf("NOT linearizable in %d of %d runs", notLin, checked)
			row.Bad = true
		default:
			row.Linearizable = fmt.Sprintf("linearizable in all %d runs checked", checked)
		}
		switch {
		case notLin > 0 || corrupt > 0:
			row.Verdict = "unsafe"
		case leaky > 0:
			row.Verdict = "suspect: clusters leaked while writes raced"
		case checked == 0:
			row.Verdict = "no violation seen (image check only)"
		default:
			row.Verdict = "no violation seen"
		}
		if reg.Expect == model.Unsafe && !row.Bad {
			row.Verdict += "; claims unsafe, so these workloads did not expose it"
		}
		rows = append(rows, row)
	}
	return rows
}

// checkerVerdicts lays out every checker's verdicts: the checkers with a
// verdict, one row per policy and table-write scheme (in the order of
// vs), and each violation's counterexample.
func checkerVerdicts(dir string, vs []results.Verdict) ([]string, []checkerRow, []counterexampleView) {
	checkers := results.CheckersIn(vs)
	var rows []checkerRow
	index := map[[2]string]int{}
	var ces []counterexampleView
	for _, v := range vs {
		k := [2]string{v.Policy, v.TableWrites}
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, checkerRow{Policy: v.Policy, TableWrites: v.TableWrites, Claim: v.Claim, Cells: make([]checkerCell, len(checkers))})
			for j := range rows[i].Cells {
				rows[i].Cells[j].Text = "-"
			}
		}
		j := slices.Index(checkers, v.Checker)
		rows[i].Cells[j] = checkerCell{Text: v.Cell(), Bad: !v.Agrees}
		rows[i].Bad = rows[i].Bad || !v.Agrees
		if v.Outcome == results.OutcomeViolated {
			ce := counterexampleView{
				Title:  fmt.Sprintf("%s, %s table writes, %s (%s): %s", v.Policy, v.TableWrites, v.Checker, v.Config, v.Violation),
				Replay: v.Replay, Steps: v.Counterexample,
			}
			if v.Diagram != "" {
				if svg, err := os.ReadFile(filepath.Join(dir, v.Diagram)); err == nil {
					// Our own SVG, written beside the report.
					ce.Diagram, ce.SVG = v.Diagram, template.HTML(svg)
				}
			}
			ces = append(ces, ce)
		}
	}
	return checkers, rows, ces
}

// throughputTables pivots the summaries at the focus queue depth: one row
// per workload, one column per policy; and picks each workload's fastest
// trusted policy: one that claims to be safe and showed no problem in any
// run.
func throughputTables(in ReportInput, trusted map[string]bool) ([]throughputTable, []string) {
	var tables []throughputTable
	var heads []string
	for _, g := range groupByDevice(in.Summaries) {
		qd := focusQD(g.sums, 0)
		g.policies = slices.DeleteFunc(slices.Clone(g.policies), results.IsBaseline)
		t := throughputTable{Device: g.label(), QD: qd, Policies: g.policies}
		for _, w := range g.workloads {
			row := throughputRow{Workload: w}
			base, hasBase := g.get(w, in.Baseline, qd)
			bestI, best := -1, 0.0
			for i, pol := range g.policies {
				s, ok := g.get(w, pol, qd)
				if !ok {
					row.Cells = append(row.Cells, throughputCell{Text: "-"})
					continue
				}
				c := throughputCell{Text: results.Human(s.OpsPerSec.Median), Bad: s.Unsafe || s.Leaked}
				if s.OpsPerSec.Max > s.OpsPerSec.Min*1.02 {
					c.Text += fmt.Sprintf(" (%s-%s)", results.Human(s.OpsPerSec.Min), results.Human(s.OpsPerSec.Max))
				}
				if hasBase && base.OpsPerSec.Median > 0 {
					c.Ratio = fmt.Sprintf("%.2fx", s.OpsPerSec.Median/base.OpsPerSec.Median)
				}
				if trusted[pol] && s.OpsPerSec.Median > best*1.001 {
					bestI, best = i, s.OpsPerSec.Median
				}
				row.Cells = append(row.Cells, c)
			}
			if bestI >= 0 {
				row.Cells[bestI].Best = true
				h := fmt.Sprintf("%s (%s, qd %d): fastest safe policy %s at %s ops/s", w, g.label(), qd, g.policies[bestI], results.Human(best))
				if hasBase && base.OpsPerSec.Median > 0 {
					h += fmt.Sprintf(", %.2fx %s", best/base.OpsPerSec.Median, in.Baseline)
				}
				var ties []string
				for i, pol := range g.policies {
					if s, ok := g.get(w, pol, qd); ok && i != bestI && trusted[pol] && s.OpsPerSec.Median >= best*0.99 {
						ties = append(ties, pol)
					}
				}
				if len(ties) > 0 {
					h += " (within 1%: " + strings.Join(ties, ", ") + ")"
				}
				heads = append(heads, h)
			}
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return tables, heads
}

// baselineTables compares, per file device and at the focus queue depth,
// each workload's fastest safe policy and the baseline policy with the
// qemu-img bench baselines.
func baselineTables(in ReportInput, trusted map[string]bool) []throughputTable {
	var tables []throughputTable
	for _, g := range groupByDevice(in.Summaries) {
		var bases []string
		for _, pol := range g.policies {
			if results.IsBaseline(pol) {
				bases = append(bases, pol)
			}
		}
		if len(bases) == 0 {
			continue
		}
		qd := focusQD(g.sums, 0)
		t := throughputTable{Device: g.label(), QD: qd, Policies: append([]string{"fastest safe policy", in.Baseline}, bases...)}
		for _, w := range g.workloads {
			row := throughputRow{Workload: w}
			var best *results.Summary
			for _, pol := range g.policies {
				if s, ok := g.get(w, pol, qd); ok && trusted[pol] && (best == nil || s.OpsPerSec.Median > best.OpsPerSec.Median) {
					best = s
				}
			}
			cell := func(s *results.Summary, ok bool, label string) throughputCell {
				if !ok {
					return throughputCell{Text: "-"}
				}
				c := throughputCell{Text: results.Human(s.OpsPerSec.Median)}
				if label != "" {
					c.Text = label + " " + c.Text
				}
				if best != nil && best.OpsPerSec.Median > 0 && s != best {
					c.Ratio = fmt.Sprintf("%.2fx", s.OpsPerSec.Median/best.OpsPerSec.Median)
				}
				return c
			}
			if best != nil {
				c := cell(best, true, best.Config.Policy)
				c.Best = true
				row.Cells = append(row.Cells, c)
			} else {
				row.Cells = append(row.Cells, throughputCell{Text: "-"})
			}
			s, ok := g.get(w, in.Baseline, qd)
			row.Cells = append(row.Cells, cell(s, ok, ""))
			for _, b := range bases {
				s, ok := g.get(w, b, qd)
				row.Cells = append(row.Cells, cell(s, ok, ""))
			}
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return tables
}

func writeMarkdown(b *bytes.Buffer, r *report) {
	fmt.Fprintf(b, "# %s\n\n", r.Title)
	for _, p := range r.Provenance {
		fmt.Fprintf(b, "%s\n", p)
	}
	if r.Command != "" {
		fmt.Fprintf(b, "\nRegenerate with:\n\n    %s\n", r.Command)
	}
	fmt.Fprintf(b, "\n## Verdicts\n\n| policy | claims | image check | linearizable | verdict | counterexample |\n|---|---|---|---|---|---|\n")
	for _, v := range r.Verdicts {
		pol := v.Policy
		if v.Bad {
			pol = "**" + pol + "** (!)"
		}
		ce := "-"
		if v.Counterexample != "" {
			ce = fmt.Sprintf("[%s](%s)", v.Where, v.Counterexample)
			if v.Visualization != "" {
				ce += fmt.Sprintf(" ([visualization](%s))", v.Visualization)
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", pol, v.Claims, v.ImageCheck, v.Linearizable, v.Verdict, ce)
	}
	if len(r.CheckerRows) > 0 {
		fmt.Fprintf(b, "\n## Every checker's verdict\n\n%s\n\n| policy | table writes | claims | %s |\n|---|---|---|%s\n",
			checkersText, strings.Join(r.Checkers, " | "), strings.Repeat("---|", len(r.Checkers)))
		for _, row := range r.CheckerRows {
			cells := make([]string, len(row.Cells))
			for i, c := range row.Cells {
				cells[i] = c.Text
				if c.Bad {
					cells[i] = "**" + c.Text + "**"
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", row.Policy, row.TableWrites, row.Claim, strings.Join(cells, " | "))
		}
		for _, ce := range r.Counterexamples {
			fmt.Fprintf(b, "\n### %s\n\n", ce.Title)
			if ce.Diagram != "" {
				fmt.Fprintf(b, "![sequence diagram](%s)\n\n", ce.Diagram)
			}
			for _, l := range ce.Steps {
				fmt.Fprintf(b, "    %s\n", l)
			}
			if ce.Replay != "" {
				fmt.Fprintf(b, "\nReplay: `%s`\n", ce.Replay)
			}
		}
	}
	fmt.Fprintf(b, "\n## What each policy buys\n\n")
	for _, h := range r.Headlines {
		fmt.Fprintf(b, "- %s\n", h)
	}
	for _, t := range r.Throughput {
		fmt.Fprintf(b, "\n### Throughput at queue depth %d, %s (ops/s, median (min-max); ratio to the baseline; **bold**: fastest safe policy; (!): unsafe or leaking)\n\n| workload | %s |\n|---|%s\n", t.QD, t.Device,
			strings.Join(t.Policies, " | "), strings.Repeat("---|", len(t.Policies)))
		for _, row := range t.Rows {
			cells := make([]string, len(row.Cells))
			for i, c := range row.Cells {
				s := c.Text
				if c.Ratio != "" {
					s += " " + c.Ratio
				}
				if c.Best {
					s = "**" + s + "**"
				}
				if c.Bad {
					s += " (!)"
				}
				cells[i] = s
			}
			fmt.Fprintf(b, "| %s | %s |\n", row.Workload, strings.Join(cells, " | "))
		}
	}
	fmt.Fprintf(b, "\n## Baselines\n\n%s\n", r.Baselines)
	for _, t := range r.BaseTables {
		fmt.Fprintf(b, "\n### Against the baselines at queue depth %d, %s (ops/s; ratio to our fastest safe policy)\n\n| workload | %s |\n|---|%s\n", t.QD, t.Device,
			strings.Join(t.Policies, " | "), strings.Repeat("---|", len(t.Policies)))
		for _, row := range t.Rows {
			cells := make([]string, len(row.Cells))
			for i, c := range row.Cells {
				cells[i] = strings.TrimSpace(c.Text + " " + c.Ratio)
			}
			fmt.Fprintf(b, "| %s | %s |\n", row.Workload, strings.Join(cells, " | "))
		}
	}
	for _, n := range r.BaseNotes {
		fmt.Fprintf(b, "\n- %s", n)
	}
	fmt.Fprintf(b, "\n\n## Figures\n")
	for _, f := range r.Figures {
		fmt.Fprintf(b, "\n### %s\n\n![%s](%s)\n\n%s ([SVG](%s))\n", f.Title, f.Title, f.PNG, f.Caption, f.SVG)
	}
	fmt.Fprintf(b, "\n## Notes\n\n")
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	fmt.Fprintf(b, "\n## Every configuration\n\n```\n%s```\n", r.Full)
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": func(s []string) string { return strings.Join(slices.Clone(s), ", ") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.3em; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.prov { color: #555; font-size: 0.92em; margin: 0.15em 0; }
code, pre { font-family: "Liberation Mono", Menlo, Consolas, monospace; }
pre.cmd { background: #f4f4f4; padding: 0.6em 0.9em; border-radius: 4px; display: inline-block; margin: 0.3em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f3f7; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.bad td:first-child, td.bad { color: #b00000; font-weight: bold; }
td.best { background: #e3f4e3; font-weight: bold; }
.ratio { color: #666; font-size: 0.9em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
pre.full { font-size: 0.78em; overflow-x: auto; background: #fafafa; padding: 0.8em; border: 1px solid #eee; }
ul li { margin: 0.2em 0; }
div.seq { overflow-x: auto; border: 1px solid #eee; margin: 0.5em 0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Provenance}}<p class="prov">{{.}}</p>
{{end}}{{if .Command}}<p class="prov">Regenerate with:</p><pre class="cmd">{{.Command}}</pre>{{end}}

<h2>Verdicts</h2>
<table>
<tr><th>policy</th><th>what it does</th><th>claims</th><th>image check</th><th>linearizable</th><th>verdict</th><th>counterexample</th></tr>
{{range .Verdicts}}<tr{{if .Bad}} class="bad"{{end}}><td>{{.Policy}}{{if .Bad}} (!){{end}}</td><td>{{.Summary}}</td><td>{{.Claims}}</td><td>{{.ImageCheck}}</td><td>{{.Linearizable}}</td><td>{{.Verdict}}</td><td>{{if .Counterexample}}<a href="{{.Counterexample}}">{{.Where}}</a>{{if .Visualization}} (<a href="{{.Visualization}}">visualization</a>){{end}}{{else}}-{{end}}</td></tr>
{{end}}</table>

{{if .CheckerRows}}<h2>Every checker's verdict</h2>
<p class="prov">{{.CheckersText}} Red: the checker disagrees with the claim.</p>
<table>
<tr><th>policy</th><th>table writes</th><th>claims</th>{{range .Checkers}}<th>{{.}}</th>{{end}}</tr>
{{range .CheckerRows}}<tr{{if .Bad}} class="bad"{{end}}><td>{{.Policy}}</td><td>{{.TableWrites}}</td><td>{{.Claim}}</td>{{range .Cells}}<td{{if .Bad}} class="bad"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</table>
{{range .Counterexamples}}<details><summary>{{.Title}}</summary>
{{if .SVG}}<div class="seq">{{.SVG}}</div>{{end}}
<pre class="full">{{range .Steps}}{{.}}
{{end}}</pre>{{if .Replay}}<p class="prov">Replay: <code>{{.Replay}}</code></p>{{end}}</details>
{{end}}{{end}}
<h2>What each policy buys</h2>
<ul>
{{range .Headlines}}<li>{{.}}</li>
{{end}}</ul>
{{range .Throughput}}
<h3>Throughput at queue depth {{.QD}}, {{.Device}}</h3>
<p class="prov">ops/s, median of the repetitions (min-max where they differ by over 2%), and the ratio to the baseline policy. Green: fastest safe policy (one that claims safety and showed no problem in any run); red (!): this configuration was unsafe or leaked.</p>
<table>
<tr><th>workload</th>{{range .Policies}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Workload}}</td>{{range .Cells}}<td class="num{{if .Best}} best{{end}}{{if .Bad}} bad{{end}}">{{.Text}}{{if .Ratio}} <span class="ratio">{{.Ratio}}</span>{{end}}{{if .Bad}} (!){{end}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
<h2>Baselines</h2>
<p>{{.Baselines}}</p>
{{range .BaseTables}}
<h3>Against the baselines at queue depth {{.QD}}, {{.Device}}</h3>
<table>
<tr><th>workload</th>{{range .Policies}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Workload}}</td>{{range .Cells}}<td class="num{{if .Best}} best{{end}}">{{.Text}}{{if .Ratio}} <span class="ratio">{{.Ratio}}</span>{{end}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{if .BaseNotes}}<ul>{{range .BaseNotes}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2>Figures</h2>
{{range .Figures}}<figure>
<img src="{{.DataURI}}" alt="{{.Title}}">
<figcaption><b>{{.Title}}.</b> {{.Caption}} <a href="{{.SVG}}">SVG</a></figcaption>
</figure>
{{end}}
<h2>Notes</h2>
<ul>
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>

<h2>Every configuration</h2>
<pre class="full">{{.Full}}</pre>
</body>
</html>
`))
