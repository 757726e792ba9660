package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// checkJSON is check's -output json record. Leaks, Corruptions and
// CheckErrors are what remains (after a repair, what the second pass
// found); LeaksFixed and CorruptionsFixed are what the repair fixed.
type checkJSON struct {
	Filename          string   `json:"filename"`
	Format            string   `json:"format"`
	Leaks             int      `json:"leaks"`
	Corruptions       int      `json:"corruptions"`
	LeaksFixed        int      `json:"leaks_fixed"`
	CorruptionsFixed  int      `json:"corruptions_fixed"`
	AllocatedClusters uint64   `json:"allocated_clusters"`
	TotalClusters     uint64   `json:"total_clusters"`
	ImageEndOffset    uint64   `json:"image_end_offset"`
	CheckErrors       int      `json:"check_errors"`
	Problems          []string `json:"problems"`
}

// runCheck implements "qedimg check": impl.Check over the image file,
// read-only unless -r. With -r it repairs, then checks again read-only,
// as qemu-img does ("Double checking the fixed image now..."), and reports
// what the second pass found. The exit status is qemu-img check's: 0
// clean, 1 check errors or could not check, 2 corruptions, 3 leaks only.
// Like qemu-img check it refuses (exit 1) an image QEMU 7.2 cannot open:
// a geometry it rejects (unless -force, read-only) or a backing file it
// cannot open.
// It takes qemu-img check's locks on the image (with -r, those of a
// writer): it refuses an image another process has open for writing
// (unless -U, read-only only), and with -r one another process has open
// at all (but for a -U reader).
func runCheck(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("check")
	repair := fs.Bool("r", false, "repair leaks and corruptions")
	var out outputFlag
	fs.Var(&out, "output", "output `FORMAT`: human or json")
	force := forceShareFlag(fs)
	anyway := fs.Bool("force", false, "check (read-only) an image QEMU 7.2 cannot open, such as one of table_size 1")
	pos, err := parseArgs(fs, args, "IMAGE")
	if err != nil {
		return exitUsage, err
	}
	if *repair && *force {
		return exitUsage, usagef("-U (force share) is for read-only checks; -r writes the image")
	}
	if *repair && *anyway {
		return exitUsage, usagef("-force is for read-only checks: an image QEMU cannot open is never repaired")
	}
	path := pos[0]
	st, err := impl.OpenFileStorage(path, !*repair)
	if err != nil {
		return exitFail, err
	}
	locks := readOnlyLocks(impl.LocksImageReadOnly, *force)
	if *repair {
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
	first, err := impl.Check(st, *repair)
	res := first
	if err == nil && *repair {
		var again impl.CheckResult
		again, err = impl.Check(st, false)
		res = again
		res.LeaksFixed, res.CorruptionsFixed = first.LeaksFixed, first.CorruptionsFixed
		res.CheckErrors += first.CheckErrors
		res.Problems = append(append([]string(nil), first.Problems...), prefixed("after repair: ", again.Problems)...)
	}
	if cerr := st.Close(); cerr != nil && *repair {
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
	if out.json {
		b, err := json.MarshalIndent(rec, "", "    ")
		if err != nil {
			return exitFail, err
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return exitFail, err
		}
		return res.ExitCode(), nil
	}
	if _, err := io.WriteString(stdout, humanCheck(rec, *repair)); err != nil {
		return exitFail, err
	}
	return res.ExitCode(), nil
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
	if r.TotalClusters > 0 {
		fmt.Fprintf(&b, "%d/%d = %.2f%% allocated clusters\n", r.AllocatedClusters, r.TotalClusters,
			100*float64(r.AllocatedClusters)/float64(r.TotalClusters))
	}
	if r.ImageEndOffset > 0 {
		fmt.Fprintf(&b, "Image end offset: %d\n", r.ImageEndOffset)
	}
	return b.String()
}
