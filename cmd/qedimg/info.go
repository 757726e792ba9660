package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
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

// infoJSON is info's -output json record. HeaderSize counts clusters, as
// the header field does; every other size is in bytes. BackingFile is ""
// when the image has none.
type infoJSON struct {
	Filename          string   `json:"filename"`
	Format            string   `json:"format"`
	VirtualSize       uint64   `json:"virtual_size"`
	FileSize          int64    `json:"file_size"`
	ClusterSize       uint32   `json:"cluster_size"`
	TableSize         uint32   `json:"table_size"`
	HeaderSize        uint32   `json:"header_size"`
	L1TableOffset     uint64   `json:"l1_table_offset"`
	Features          []string `json:"features"`
	CompatFeatures    uint64   `json:"compat_features"`
	AutoclearFeatures uint64   `json:"autoclear_features"`
	NeedCheck         bool     `json:"need_check"`
	BackingFile       string   `json:"backing_file"`
	BackingFileFormat string   `json:"backing_file_format,omitempty"`
}

// runInfo implements "qedimg info": the header, validated, in human or
// JSON form. It reads the image only; the backing file need not exist.
// Like qemu-img info it refuses an image open for writing elsewhere,
// unless -U.
func runInfo(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("info")
	var out outputFlag
	fs.Var(&out, "output", "output `FORMAT`: human or json")
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
	lk.Close()
	h := ih.h
	rec := infoJSON{
		Filename:          path,
		Format:            "qed",
		VirtualSize:       h.ImageSize,
		FileSize:          ih.fileSize,
		ClusterSize:       h.ClusterSize,
		TableSize:         h.TableSize,
		HeaderSize:        h.HeaderSize,
		L1TableOffset:     h.L1TableOffset,
		Features:          featureNames(h.Features),
		CompatFeatures:    h.CompatFeatures,
		AutoclearFeatures: h.AutoclearFeatures,
		NeedCheck:         h.Features&impl.FeatureNeedCheck != 0,
		BackingFile:       ih.backing,
	}
	if ih.backing != "" {
		// Only raw backing files are supported, probed or not.
		rec.BackingFileFormat = "raw"
	}
	if out.json {
		b, err := json.MarshalIndent(rec, "", "    ")
		if err != nil {
			return exitFail, err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return exitOK, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "image: %s\n", path)
	fmt.Fprintf(&sb, "file format: qed\n")
	fmt.Fprintf(&sb, "virtual size: %s (%d bytes)\n", humanBytes(h.ImageSize), h.ImageSize)
	fmt.Fprintf(&sb, "file size: %s (%d bytes)\n", humanBytes(uint64(ih.fileSize)), ih.fileSize)
	fmt.Fprintf(&sb, "cluster size: %d\n", h.ClusterSize)
	fmt.Fprintf(&sb, "table size: %d clusters (%d entries per table)\n", h.TableSize, uint64(h.TableSize)*uint64(h.ClusterSize)/8)
	fmt.Fprintf(&sb, "header size: %d clusters (%d bytes)\n", h.HeaderSize, uint64(h.HeaderSize)*uint64(h.ClusterSize))
	fmt.Fprintf(&sb, "L1 table offset: %#x\n", h.L1TableOffset)
	fmt.Fprintf(&sb, "features: %s\n", listOrNone(rec.Features))
	fmt.Fprintf(&sb, "compat features: %s\n", hexOrNone(h.CompatFeatures))
	fmt.Fprintf(&sb, "autoclear features: %s\n", hexOrNone(h.AutoclearFeatures))
	fmt.Fprintf(&sb, "need check: %s\n", yesNo(rec.NeedCheck))
	if ih.backing != "" {
		fmt.Fprintf(&sb, "backing file: %s (actual path: %s)\n", ih.backing, impl.ResolveBacking(path, ih.backing))
		fmt.Fprintf(&sb, "backing file format: raw\n")
	}
	_, err = io.WriteString(stdout, sb.String())
	return exitOK, err
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
