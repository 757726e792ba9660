// Package impl is a complete QED image: the on-disk format of QEMU's
// docs/interop/qed_spec.txt with check and repair; the request engine
// (Engine), a deterministic state machine whose allocating-write
// serialization is a model.Policy: requests and I/O completions in, I/Os
// to issue and requests done out, no I/O of its own; Image, the driver
// that runs an Engine on a Backend; and the contract between them and
// storage (IO, Backend, Storage, Perform). The backends live in
// subpackages (sim, file, controlled; MemBackend here performs each I/O
// at once), named in the registry impl/backends.
package impl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// Format constants from the QED specification.
const (
	// Magic is "QED\0" read as a little-endian uint32.
	Magic uint32 = 'Q' | 'E'<<8 | 'D'<<16
	// HeaderLen is the size in bytes of the fixed header fields.
	HeaderLen = 64
	// SectorSize is the guest and metadata-write granule in bytes.
	SectorSize = 512

	MinClusterSize = 1 << 12 // smallest valid cluster_size
	MaxClusterSize = 1 << 26 // largest valid cluster_size
	MinTableSize   = 1       // smallest valid table_size, in clusters
	MaxTableSize   = 16      // largest valid table_size, in clusters

	DefaultClusterSize = 64 << 10 // QEMU's default cluster_size
	DefaultTableSize   = 4        // QEMU's default table_size

	// ZeroCluster is the L2 entry value of a zero data cluster.
	ZeroCluster uint64 = 1

	// MaxBackingName is the longest backing file name in bytes: QEMU
	// reads the name into a 4096-byte buffer with a terminating NUL.
	MaxBackingName = 4095
)

// Feature bits of the header's features field.
const (
	FeatureBackingFile          uint64 = 0x01 // the image has a backing file
	FeatureNeedCheck            uint64 = 0x02 // metadata may be inconsistent
	FeatureBackingFormatNoProbe uint64 = 0x04 // the backing file is raw
	knownFeatures                      = FeatureBackingFile | FeatureNeedCheck | FeatureBackingFormatNoProbe
)

// Header is the decoded QED header. All offsets and sizes are in bytes
// except TableSize and HeaderSize, which count clusters.
type Header struct {
	ClusterSize       uint32
	TableSize         uint32
	HeaderSize        uint32
	Features          uint64
	CompatFeatures    uint64
	AutoclearFeatures uint64
	L1TableOffset     uint64
	ImageSize         uint64
	BackingNameOffset uint32 // valid when Features has FeatureBackingFile
	BackingNameSize   uint32
}

// ErrNotQED is wrapped by errors about a file that is not a QED image.
var ErrNotQED = errors.New("not a QED image")

// Encode returns the 64-byte little-endian encoding of h.
func (h *Header) Encode() []byte {
	b := make([]byte, HeaderLen)
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint32(b[4:], h.ClusterSize)
	le.PutUint32(b[8:], h.TableSize)
	le.PutUint32(b[12:], h.HeaderSize)
	le.PutUint64(b[16:], h.Features)
	le.PutUint64(b[24:], h.CompatFeatures)
	le.PutUint64(b[32:], h.AutoclearFeatures)
	le.PutUint64(b[40:], h.L1TableOffset)
	le.PutUint64(b[48:], h.ImageSize)
	le.PutUint32(b[56:], h.BackingNameOffset)
	le.PutUint32(b[60:], h.BackingNameSize)
	return b
}

// DecodeHeader parses the first HeaderLen bytes of b. It checks only the
// magic; Validate checks the fields against the file they came from.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: file has %d bytes, a QED header needs %d", ErrNotQED, len(b), HeaderLen)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != Magic {
		return Header{}, fmt.Errorf("%w: magic is %#08x, want %#08x (\"QED\\0\")", ErrNotQED, m, Magic)
	}
	return Header{
		ClusterSize:       le.Uint32(b[4:]),
		TableSize:         le.Uint32(b[8:]),
		HeaderSize:        le.Uint32(b[12:]),
		Features:          le.Uint64(b[16:]),
		CompatFeatures:    le.Uint64(b[24:]),
		AutoclearFeatures: le.Uint64(b[32:]),
		L1TableOffset:     le.Uint64(b[40:]),
		ImageSize:         le.Uint64(b[48:]),
		BackingNameOffset: le.Uint32(b[56:]),
		BackingNameSize:   le.Uint32(b[60:]),
	}, nil
}

// ValidateGeometry checks the cluster size, table size and image size of a
// new image: the ranges the specification gives, and a guest of at least
// one sector. (An existing image may have image size 0; Header.Validate
// accepts it, as QEMU does.)
func ValidateGeometry(clusterSize, tableSize uint32, imageSize uint64) error {
	if imageSize == 0 {
		return errors.New("image size is zero")
	}
	return validateSizes(clusterSize, tableSize, imageSize)
}

// validateSizes checks cluster, table and image size as the specification
// and QEMU's open constrain them: powers of two in range, and an image
// size that is a whole number of sectors the L1 table can map.
func validateSizes(clusterSize, tableSize uint32, imageSize uint64) error {
	if clusterSize < MinClusterSize || clusterSize > MaxClusterSize || clusterSize&(clusterSize-1) != 0 {
		return fmt.Errorf("cluster size %d is not a power of two in [%d, %d]", clusterSize, MinClusterSize, MaxClusterSize)
	}
	if tableSize < MinTableSize || tableSize > MaxTableSize || tableSize&(tableSize-1) != 0 {
		return fmt.Errorf("table size %d is not a power of two in [%d, %d]", tableSize, MinTableSize, MaxTableSize)
	}
	if imageSize%SectorSize != 0 {
		return fmt.Errorf("image size %d is not a multiple of %d bytes", imageSize, SectorSize)
	}
	if max := MaxImageSize(clusterSize, tableSize); imageSize > max {
		return fmt.Errorf("image size %d exceeds the maximum %d for cluster size %d and table size %d", imageSize, max, clusterSize, tableSize)
	}
	return nil
}

// MaxImageSize returns the largest image size the L1 table can map; the
// caller has validated clusterSize and tableSize. It saturates at the
// largest uint64 for the largest geometries.
func MaxImageSize(clusterSize, tableSize uint32) uint64 {
	entries := uint64(clusterSize) * uint64(tableSize) / 8
	hi, lo := bits.Mul64(entries*entries, uint64(clusterSize))
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}

// Validate checks every header field as QEMU's open does, against fileSize,
// the image file's size in bytes; the error names the field. Like QEMU it
// takes the file's length rounded up to a whole sector (as the block layer
// reports it) and rounded down to a cluster, and it accepts what QEMU
// accepts: an image size of 0, a header size of 0 (the header cluster then
// counts as leaked), unknown compatible and autoclear feature bits, and the
// backing-file feature with an empty name (no backing file). QEMU 7.2 also
// refuses some geometries the specification allows; Validate does not.
func (h *Header) Validate(fileSize uint64) error {
	if unknown := h.Features &^ knownFeatures; unknown != 0 {
		return fmt.Errorf("unsupported feature bits %#x", unknown)
	}
	if err := validateSizes(h.ClusterSize, h.TableSize, h.ImageSize); err != nil {
		return err
	}
	cs := uint64(h.ClusterSize)
	if uint64(h.HeaderSize) > math.MaxUint32/cs {
		return fmt.Errorf("header size %d clusters of %d bytes overflows 32 bits", h.HeaderSize, cs)
	}
	hdr := uint64(h.HeaderSize) * cs
	end := usableLength(fileSize, cs)
	if h.L1TableOffset%cs != 0 {
		return fmt.Errorf("L1 table offset %#x is not cluster-aligned", h.L1TableOffset)
	}
	if h.L1TableOffset < hdr {
		return fmt.Errorf("L1 table offset %#x lies inside the header (%d bytes)", h.L1TableOffset, hdr)
	}
	if tb := uint64(h.TableSize) * cs; h.L1TableOffset > end || tb > end-h.L1TableOffset {
		return fmt.Errorf("L1 table at %#x (%d bytes) is past end of file (%d bytes)", h.L1TableOffset, tb, fileSize)
	}
	if h.Features&FeatureBackingFile != 0 {
		if e := uint64(h.BackingNameOffset) + uint64(h.BackingNameSize); e > hdr {
			return fmt.Errorf("backing file name at %d (%d bytes) is outside the header clusters (%d bytes)", h.BackingNameOffset, h.BackingNameSize, hdr)
		}
		if h.BackingNameSize > MaxBackingName {
			return fmt.Errorf("backing file name is %d bytes, longer than %d", h.BackingNameSize, MaxBackingName)
		}
	}
	return nil
}

// writable reports why a header that Validate accepts must still not be
// written through: an L1 table in cluster 0 (header_size 0 lets QEMU take
// one there) would overwrite the header with every entry written.
func (h *Header) writable() error {
	if h.L1TableOffset < uint64(h.ClusterSize) {
		return fmt.Errorf("the L1 table at %#x overlaps the header in cluster 0", h.L1TableOffset)
	}
	return nil
}

// sectorLength returns size rounded up to a whole sector: the length
// QEMU's block layer reports for a file of size bytes.
func sectorLength(size uint64) uint64 {
	return (size + SectorSize - 1) &^ (SectorSize - 1)
}

// usableLength returns the part of a file of size bytes that holds whole
// clusters of cs bytes, as QEMU's QED driver counts it (its file_size): the
// sector length rounded down to a cluster. A cluster at or past it is past
// end of file, and QEMU allocates the next cluster there.
func usableLength(size, cs uint64) uint64 {
	return sectorLength(size) &^ (cs - 1)
}

// HasBacking reports whether the header names a backing file: the feature
// bit is set and the name is not empty (QEMU opens no backing file for an
// empty name).
func (h *Header) HasBacking() bool {
	return h.Features&FeatureBackingFile != 0 && h.BackingNameSize > 0
}

// Geometry holds the derived quantities of a validated header.
type Geometry struct {
	ClusterSize  uint64 // bytes per cluster
	ClusterBits  uint   // log2(ClusterSize)
	TableSize    uint64 // clusters per table
	TableBytes   uint64 // bytes per table
	TableEntries uint64 // entries per table
	TableBits    uint   // log2(TableEntries)
	ImageSize    uint64 // guest-visible size in bytes
}

// GeometryOf derives the geometry of a header whose sizes are valid.
func GeometryOf(h *Header) Geometry {
	cs := uint64(h.ClusterSize)
	tb := cs * uint64(h.TableSize)
	return Geometry{
		ClusterSize:  cs,
		ClusterBits:  uint(bits.TrailingZeros64(cs)),
		TableSize:    uint64(h.TableSize),
		TableBytes:   tb,
		TableEntries: tb / 8,
		TableBits:    uint(bits.TrailingZeros64(tb / 8)),
		ImageSize:    h.ImageSize,
	}
}

// L1Index returns the L1 entry covering guest offset off.
func (g *Geometry) L1Index(off uint64) uint64 { return off >> (g.ClusterBits + g.TableBits) }

// L2Index returns the L2 entry covering guest offset off.
func (g *Geometry) L2Index(off uint64) uint64 {
	return (off >> g.ClusterBits) & (g.TableEntries - 1)
}

// ClusterIndex returns the guest cluster number of guest offset off.
func (g *Geometry) ClusterIndex(off uint64) uint64 { return off >> g.ClusterBits }

// InCluster returns off's byte offset within its cluster.
func (g *Geometry) InCluster(off uint64) uint64 { return off & (g.ClusterSize - 1) }

// StartOfCluster rounds off down to a cluster boundary.
func (g *Geometry) StartOfCluster(off uint64) uint64 { return off &^ (g.ClusterSize - 1) }

// L2Span returns the number of guest bytes one L2 table maps.
func (g *Geometry) L2Span() uint64 { return g.TableEntries << g.ClusterBits }

// L1Entries returns how many L1 entries the image size uses.
func (g *Geometry) L1Entries() uint64 {
	return (g.ImageSize + g.L2Span() - 1) / g.L2Span()
}

// L2EntryOf reads the L2 entry that maps guest offset off in the image
// on st, as it is on storage (no cache; the header decoded, nothing else
// checked): 0 when no L2 table maps it, ZeroCluster for a zero cluster,
// else the data cluster's file offset. It answers qemu-img map's
// question for one offset, for inspection and tests.
func L2EntryOf(st io.ReaderAt, off uint64) (uint64, error) {
	hb := make([]byte, HeaderLen)
	if _, err := st.ReadAt(hb, 0); err != nil {
		return 0, fmt.Errorf("read the header: %w", err)
	}
	h, err := DecodeHeader(hb)
	if err != nil {
		return 0, err
	}
	g := GeometryOf(&h)
	if off >= g.ImageSize {
		return 0, fmt.Errorf("guest offset %d is past the image end (%d bytes)", off, g.ImageSize)
	}
	var e [8]byte
	at := h.L1TableOffset + 8*g.L1Index(off)
	if _, err := st.ReadAt(e[:], int64(at)); err != nil {
		return 0, fmt.Errorf("read the L1 entry at %#x: %w", at, err)
	}
	l2 := binary.LittleEndian.Uint64(e[:])
	if l2 == 0 {
		return 0, nil
	}
	at = l2 + 8*g.L2Index(off)
	if _, err := st.ReadAt(e[:], int64(at)); err != nil {
		return 0, fmt.Errorf("read the L2 entry at %#x: %w", at, err)
	}
	return binary.LittleEndian.Uint64(e[:]), nil
}
