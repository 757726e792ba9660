package impl

import (
	"fmt"
	"math/bits"
)

// QEMUGeometryProblem returns why QEMU 7.2 cannot open a QED image with
// this geometry, in words that name QEMU 7.2 and quote the error it gives,
// or "" when it opens it. clusterSize and tableSize must pass
// ValidateGeometry (a power of two from 4 KiB to 64 MiB, and from 1 to
// 16); the answer does not depend on the image size, as long as it is
// within MaxImageSize.
//
// Two defects of QEMU's block/qed.c make valid images unopenable (TestQEMUGeometryProblem
// runs qemu-io over every geometry and checks this function against it):
//
//   - qed_max_image_size computes cluster_size^3 * table_size^2 / 64 in
//     64 bits. When that is 2^64 or more it wraps to 0, every image size
//     exceeds it, and the open fails with "QED image size is invalid"
//     (qemu-img create refuses such geometries itself: "... less than 0
//     bytes"). With both sizes powers of two this is exactly
//     3*log2(cluster_size) + 2*log2(table_size) >= 70: clusters of 16 MiB
//     and more, 8 MiB with tables of 2 or more clusters, 4 MiB with 4 or
//     more, 2 MiB with 16.
//   - qed_check_table_offset computes the table's last cluster as
//     offset + (table_size-1)*cluster_size and takes end <= offset for an
//     overflow, so a table of one cluster always fails: "QED table offset
//     is invalid". QEMU checks the image size first, so a geometry with
//     both defects fails with the first message.
func QEMUGeometryProblem(clusterSize, tableSize uint32) string {
	cb, tb := bits.TrailingZeros32(clusterSize), bits.TrailingZeros32(tableSize)
	if 3*cb+2*tb >= 70 {
		return fmt.Sprintf("QEMU 7.2 cannot open images with cluster_size %d and table_size %d (\"QED image size is invalid\": "+
			"its maximum image size, cluster_size^3 * table_size^2 / 64, overflows 64 bits to 0)", clusterSize, tableSize)
	}
	if tableSize == 1 {
		return "QEMU 7.2 cannot open images with table_size 1 (\"QED table offset is invalid\": " +
			"it takes a one-cluster table's end, equal to its start, for an overflow)"
	}
	return ""
}
