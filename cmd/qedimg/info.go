package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// imageHeader is an image's validated header and what it says about the
// file, read without opening the image for I/O.
type imageHeader struct {
	h        impl.Header
	fileSize int64
	backing  string // backing file name as stored, or ""
}

// readHeaderFrom reads and validates the header of the image open as st
// at path, read only: it never changes the file and does not open the
// backing file. lockedImage opens and locks st.
func readHeaderFrom(st *impl.FileStorage, path string) (imageHeader, error) {
	size, err := st.Size()
	if err != nil {
		return imageHeader{}, err
	}
	first := make([]byte, impl.HeaderLen)
	if n, err := st.ReadAt(first, 0); n < impl.HeaderLen {
		if err != nil && !errors.Is(err, io.EOF) {
			return imageHeader{}, fmt.Errorf("%s: read header: %w", path, err)
		}
		return imageHeader{}, fmt.Errorf("%s: %w: file has %d bytes, a QED header needs %d", path, impl.ErrNotQED, size, impl.HeaderLen)
	}
	h, err := impl.DecodeHeader(first)
	if err != nil {
		return imageHeader{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := h.Validate(uint64(size)); err != nil {
		return imageHeader{}, fmt.Errorf("%s: invalid header: %w", path, err)
	}
	ih := imageHeader{h: h, fileSize: size}
	if ih.backing, err = impl.ReadBackingName(st, &h); err != nil {
		return imageHeader{}, fmt.Errorf("%s: %w", path, err)
	}
	return ih, nil
}

// checkRange refuses an access of n bytes at off that does not lie inside
// the image's guest size.
func (ih imageHeader) checkRange(op string, off, n uint64) error {
	end, carry := bits.Add64(off, n, 0)
	if carry != 0 || end > ih.h.ImageSize {
		return fmt.Errorf("%s of %d bytes at offset %d is past the image end (%d bytes)", op, n, off, ih.h.ImageSize)
	}
	return nil
}

// featureNames names the bits of a features field, in bit order; unknown
// bits are named "unknown(0x…)".
func featureNames(f uint64) []string {
	names := []string{}
	for _, k := range []struct {
		bit  uint64
		name string
	}{
		{impl.FeatureBackingFile, "backing_file"},
		{impl.FeatureNeedCheck, "need_check"},
		{impl.FeatureBackingFormatNoProbe, "backing_format_no_probe"},
	} {
		if f&k.bit != 0 {
			names = append(names, k.name)
			f &^= k.bit
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("unknown(%#x)", f))
	}
	return names
}

// infoJSON is info's --output=json record, in qemu-img info's keys and
// meanings: ActualSize is the bytes the file has allocated (st_blocks
// times 512), DirtyFlag the need-check feature bit (the image was not
// closed cleanly), BackingFilename the name as stored and
// FullBackingFilename it resolved against the image's directory. What
// qemu-img does not show for QED is under "format-specific", as qemu-img
// shows qcow2's.
type infoJSON struct {
	Filename              string         `json:"filename"`
	Format                string         `json:"format"`
	VirtualSize           uint64         `json:"virtual-size"`
	ActualSize            int64          `json:"actual-size"`
	ClusterSize           uint32         `json:"cluster-size"`
	DirtyFlag             bool           `json:"dirty-flag"`
	BackingFilename       string         `json:"backing-filename,omitempty"`
	FullBackingFilename   string         `json:"full-backing-filename,omitempty"`
	BackingFilenameFormat string         `json:"backing-filename-format,omitempty"`
	FormatSpecific        formatSpecific `json:"format-specific"`
}

// formatSpecific is qemu-img info's "format-specific" object: the format
// and its fields.
type formatSpecific struct {
	Type string  `json:"type"`
	Data qedInfo `json:"data"`
}

// qedInfo is the QED header as info shows it under format-specific.
// HeaderSize counts clusters, as the header field does; TableSize too;
// the other sizes and offsets are bytes. FileSize is the file's length,
// which the allocated actual-size may be less (a sparse file) or more
// than.
type qedInfo struct {
	TableSize         uint32   `json:"table-size"`
	HeaderSize        uint32   `json:"header-size"`
	L1TableOffset     uint64   `json:"l1-table-offset"`
	Features          []string `json:"features"`
	CompatFeatures    uint64   `json:"compat-features"`
	AutoclearFeatures uint64   `json:"autoclear-features"`
	NeedCheck         bool     `json:"need-check"`
	FileSize          int64    `json:"file-size"`
}

// runInfo implements "qedimg info": the header, validated, in human or
// JSON form, as qemu-img info shows it, and what qemu-img does not show
// (table size, header size, L1 table offset, features, file size) under
// "Format specific information". It reads the image only; the backing
// file need not exist. Like qemu-img info it refuses an image open for
// writing elsewhere, unless -U.
func runInfo(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("info")
	var out outputFlag
	fs.Var(&out, "output", "output `FORMAT`: human or json")
	imageFormatFlag(fs)
	force := forceShareFlag(fs)
	pos, err := parseArgs(fs, args, "IMAGE")
	if err != nil {
		return exitUsage, err
	}
	path := pos[0]
	lk, ih, err := lockedImage(path, readOnlyLocks(impl.LocksImageHeader, *force))
	if err != nil {
		return exitFail, err
	}
	fi, err := os.Stat(path)
	lk.Close()
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", path, err)
	}
	h := ih.h
	rec := infoJSON{
		Filename:    path,
		Format:      "qed",
		VirtualSize: h.ImageSize,
		ActualSize:  allocatedBytes(fi),
		ClusterSize: h.ClusterSize,
		DirtyFlag:   h.Features&impl.FeatureNeedCheck != 0,
		FormatSpecific: formatSpecific{Type: "qed", Data: qedInfo{
			TableSize:         h.TableSize,
			HeaderSize:        h.HeaderSize,
			L1TableOffset:     h.L1TableOffset,
			Features:          featureNames(h.Features),
			CompatFeatures:    h.CompatFeatures,
			AutoclearFeatures: h.AutoclearFeatures,
			NeedCheck:         h.Features&impl.FeatureNeedCheck != 0,
			FileSize:          ih.fileSize,
		}},
	}
	if ih.backing != "" {
		rec.BackingFilename = ih.backing
		rec.FullBackingFilename = impl.ResolveBacking(path, ih.backing)
		// Only raw backing files are supported, probed or not.
		rec.BackingFilenameFormat = "raw"
	}
	if out.json {
		return writeJSON(stdout, rec, exitOK)
	}
	_, err = io.WriteString(stdout, humanInfo(rec))
	return exitOK, err
}

// writeJSON writes v as qemu-img writes its JSON (indented by four
// spaces, a newline after) and returns code, or exitFail if it cannot.
func writeJSON(w io.Writer, v any, code int) (int, error) {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return exitFail, err
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return exitFail, err
	}
	return code, nil
}

// humanInfo renders r as qemu-img info does, QED's own fields under
// "Format specific information".
func humanInfo(r infoJSON) string {
	d := r.FormatSpecific.Data
	var sb strings.Builder
	fmt.Fprintf(&sb, "image: %s\n", r.Filename)
	fmt.Fprintf(&sb, "file format: %s\n", r.Format)
	fmt.Fprintf(&sb, "virtual size: %s (%d bytes)\n", humanBytes(r.VirtualSize), r.VirtualSize)
	fmt.Fprintf(&sb, "disk size: %s\n", humanBytes(uint64(r.ActualSize)))
	fmt.Fprintf(&sb, "cluster_size: %d\n", r.ClusterSize)
	if r.BackingFilename != "" {
		if r.FullBackingFilename != r.BackingFilename {
			fmt.Fprintf(&sb, "backing file: %s (actual path: %s)\n", r.BackingFilename, r.FullBackingFilename)
		} else {
			fmt.Fprintf(&sb, "backing file: %s\n", r.BackingFilename)
		}
		fmt.Fprintf(&sb, "backing file format: %s\n", r.BackingFilenameFormat)
	}
	fmt.Fprintf(&sb, "Format specific information:\n")
	fmt.Fprintf(&sb, "    table size: %d clusters (%d entries per table)\n", d.TableSize, uint64(d.TableSize)*uint64(r.ClusterSize)/8)
	fmt.Fprintf(&sb, "    header size: %d clusters (%d bytes)\n", d.HeaderSize, uint64(d.HeaderSize)*uint64(r.ClusterSize))
	fmt.Fprintf(&sb, "    L1 table offset: %#x\n", d.L1TableOffset)
	fmt.Fprintf(&sb, "    features: %s\n", listOrNone(d.Features))
	fmt.Fprintf(&sb, "    compat features: %s\n", hexOrNone(d.CompatFeatures))
	fmt.Fprintf(&sb, "    autoclear features: %s\n", hexOrNone(d.AutoclearFeatures))
	fmt.Fprintf(&sb, "    need check: %s\n", yesNo(d.NeedCheck))
	fmt.Fprintf(&sb, "    file size: %s (%d bytes)\n", humanBytes(uint64(d.FileSize)), d.FileSize)
	return sb.String()
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func hexOrNone(v uint64) string {
	if v == 0 {
		return "none"
	}
	return fmt.Sprintf("%#x", v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanBytes renders n with a binary unit, as qemu-img does: "4 MiB",
// "1.5 KiB", "512 B".
func humanBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for i < len(units)-1 && n >= 1<<(10*(i+1)) {
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / float64(uint64(1)<<(10*i))
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " " + units[i]
}
