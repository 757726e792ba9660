package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// checkJSON is check's --output=json record, in qemu-img check's keys,
// which it leaves out when zero (but check-errors, filename and format):
// Leaks, Corruptions and CheckErrors are what remains (after a repair,
// what the second pass found); LeaksFixed and CorruptionsFixed are what
// the repair fixed. ImageEndOffset, which qemu-img does not report for
// QED, and Problems (one line per finding) are qedimg's own.
type checkJSON struct {
	Filename          string `json:"filename"`
	Format            string `json:"format"`
	CheckErrors       int    `json:"check-errors"`
	Corruptions       int    `json:"corruptions,omitempty"`
	Leaks             int    `json:"leaks,omitempty"`
	CorruptionsFixed  int    `json:"corruptions-fixed,omitempty"`
	LeaksFixed        int    `json:"leaks-fixed,omitempty"`
	TotalClusters     uint64 `json:"total-clusters,omitempty"`
	AllocatedClusters uint64 `json:"allocated-clusters,omitempty"`
	// FragmentedClusters is present when AllocatedClusters is, as in
	// qemu-img's JSON.
	FragmentedClusters *uint64  `json:"fragmented-clusters,omitempty"`
	ImageEndOffset     uint64   `json:"image-end-offset,omitempty"`
	Problems           []string `json:"problems"`
}

// runCheck implements "qedimg check": impl.Check over the image file,
// read-only unless -r. With -r it repairs, then checks again read-only,
// as qemu-img does ("Double checking the fixed image now..."), and reports
// what the second pass found. -r all (or bare -r) repairs corruptions and
// leaks; -r leaks repairs only when the image has no corruptions (impl
// repairs no leak while a corruption remains, and clearing a corrupt
// entry is not a leak repair), and otherwise changes nothing and says so.
// (QEMU's QED driver repairs the same for either mode.) The exit status is
// qemu-img check's: 0 clean, 1 check errors or could not check, 2
// corruptions, 3 leaks only.
// Like qemu-img check it refuses (exit 1) an image QEMU 7.2 cannot open:
// a geometry it rejects (unless -force, read-only) or a backing file it
// cannot open.
// It takes qemu-img check's locks on the image (with -r, those of a
// writer): it refuses an image another process has open for writing
// (unless -U, read-only only), and with -r one another process has open
// at all (but for a -U reader).
func runCheck(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("check")
	var r repairFlag
	fs.Var(&r, "r", "repair `MODE`: leaks, or all (corruptions and leaks); bare -r is all")
	var out outputFlag
	fs.Var(&out, "output", "output `FORMAT`: human or json")
	imageFormatFlag(fs)
	quiet := quietFlag(fs)
	force := forceShareFlag(fs)
	anyway := fs.Bool("force", false, "check (read-only) an image QEMU 7.2 cannot open, such as one of table_size 1")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if r.bare && len(pos) > 1 {
		return exitUsage, usagef("unexpected argument %q after IMAGE (-r takes leaks or all)", pos[1])
	}
	if err := checkPositional(pos, "IMAGE"); err != nil {
		return exitUsage, err
	}
	repair := r.mode != repairNone
	if repair && *force {
		return exitUsage, usagef("-U (force share) is for read-only checks; -r writes the image")
	}
	if repair && *anyway {
		return exitUsage, usagef("-force is for read-only checks: an image QEMU cannot open is never repaired")
	}
	path := pos[0]
	st, err := impl.OpenFileStorage(path, !repair)
	if err != nil {
		return exitFail, err
	}
	locks := readOnlyLocks(impl.LocksImageReadOnly, *force)
	if repair {
		locks = impl.LocksImageReadWrite
	}
	if err := st.Lock(locks); err != nil {
		st.Close()
		return exitFail, fmt.Errorf("%s: %w", path, err)
	}
	if err := qemuOpens(st, path, *anyway); err != nil {
		st.Close()
		return exitFail, err
	}
	res, err := checkImage(st, r.mode)
	if cerr := st.Close(); cerr != nil && repair {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", path, err)
	}
	rec := checkJSON{
		Filename:          path,
		Format:            "qed",
		Leaks:             res.Leaks,
		Corruptions:       res.Corruptions,
		LeaksFixed:        res.LeaksFixed,
		CorruptionsFixed:  res.CorruptionsFixed,
		AllocatedClusters: res.AllocatedClusters,
		TotalClusters:     res.TotalClusters,
		ImageEndOffset:    res.ImageEndOffset,
		CheckErrors:       res.CheckErrors,
		Problems:          append([]string{}, res.Problems...),
	}
	if res.AllocatedClusters > 0 && res.TotalClusters > 0 {
		rec.FragmentedClusters = &res.FragmentedClusters
	}
	switch {
	case *quiet:
		return res.ExitCode(), nil
	case out.json:
		return writeJSON(stdout, rec, res.ExitCode())
	}
	if _, err := io.WriteString(stdout, humanCheck(rec, repair)); err != nil {
		return exitFail, err
	}
	return res.ExitCode(), nil
}

// checkImage checks the image open as st, and repairs it in mode: with
// a repair it checks again read-only and returns what that pass found,
// with the first pass's repairs and problems (and check errors) kept.
// Mode leaks first checks read-only, and repairs nothing if that finds
// corruptions.
func checkImage(st *impl.FileStorage, mode string) (impl.CheckResult, error) {
	if mode == repairLeaks {
		pre, err := impl.Check(st, false)
		if err != nil {
			return pre, err
		}
		if pre.Corruptions > 0 {
			pre.Problems = append(pre.Problems, fmt.Sprintf("-r leaks: nothing repaired: %d corruptions found, and no leak is repaired while a corruption remains (-r all repairs both)", pre.Corruptions))
			return pre, nil
		}
	}
	first, err := impl.Check(st, mode != repairNone)
	if err != nil || mode == repairNone {
		return first, err
	}
	res, err := impl.Check(st, false)
	res.LeaksFixed, res.CorruptionsFixed = first.LeaksFixed, first.CorruptionsFixed
	res.CheckErrors += first.CheckErrors
	res.Problems = append(append([]string(nil), first.Problems...), prefixed("after repair: ", res.Problems)...)
	return res, err
}

// qemuOpens refuses, as qemu-img check does by failing to open it, an
// image whose header QEMU 7.2 rejects although impl.Check could read it:
// a geometry QEMU cannot open (impl.QEMUGeometryProblem; allowed with
// anyway, which never repairs and skips both), or a backing file it
// cannot open. Such a
// header is often a damaged one, and a repair through it would move or
// clear the wrong clusters.
func qemuOpens(st *impl.FileStorage, path string, anyway bool) error {
	ih, err := readHeaderFrom(st, path)
	if err != nil {
		return err
	}
	if anyway {
		return nil
	}
	if p := impl.QEMUGeometryProblem(ih.h.ClusterSize, ih.h.TableSize); p != "" {
		return fmt.Errorf("%s: %s; qemu-img check refuses it too (-force checks it read-only)", path, p)
	}
	if ih.backing != "" {
		bp := impl.ResolveBacking(path, ih.backing)
		b, err := impl.OpenFileStorage(bp, true)
		if err != nil {
			return fmt.Errorf("%s: could not open backing file %q, as qemu-img check cannot (-force checks it read-only): %w", path, ih.backing, err)
		}
		b.Close()
	}
	return nil
}

func prefixed(p string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = p + l
	}
	return out
}

// humanCheck renders a check result in qemu-img check's words.
func humanCheck(r checkJSON, repair bool) string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "%s\n", p)
	}
	if repair && (r.LeaksFixed > 0 || r.CorruptionsFixed > 0) {
		fmt.Fprintf(&b, "The following inconsistencies were found and repaired:\n\n")
		fmt.Fprintf(&b, "    %d leaked clusters\n    %d corruptions\n\n", r.LeaksFixed, r.CorruptionsFixed)
		fmt.Fprintf(&b, "Double checking the fixed image now...\n")
	}
	if r.Leaks == 0 && r.Corruptions == 0 && r.CheckErrors == 0 {
		fmt.Fprintf(&b, "No errors were found on the image.\n")
	} else {
		if r.Corruptions > 0 {
			fmt.Fprintf(&b, "\n%d errors were found on the image.\n", r.Corruptions)
			fmt.Fprintf(&b, "Data may be corrupted, or further writes to the image may corrupt it.\n")
		}
		if r.Leaks > 0 {
			fmt.Fprintf(&b, "\n%d leaked clusters were found on the image.\n", r.Leaks)
			fmt.Fprintf(&b, "This means waste of disk space, but no harm to data.\n")
		}
		if r.CheckErrors > 0 {
			fmt.Fprintf(&b, "\n%d internal errors have occurred during the check.\n", r.CheckErrors)
		}
	}
	if r.TotalClusters > 0 && r.AllocatedClusters > 0 && r.FragmentedClusters != nil {
		// qemu-img's line; QED has no compressed clusters.
		fmt.Fprintf(&b, "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n", r.AllocatedClusters, r.TotalClusters,
			100*float64(r.AllocatedClusters)/float64(r.TotalClusters), 100*float64(*r.FragmentedClusters)/float64(r.AllocatedClusters), 0.0)
	}
	if r.ImageEndOffset > 0 {
		fmt.Fprintf(&b, "Image end offset: %d\n", r.ImageEndOffset)
	}
	return b.String()
}
