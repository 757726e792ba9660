package results

import "slices"

// Baselines: the same workload on QEMU's own drivers through qemu-img
// bench, and on a preallocated raw file with no metadata at all (the
// device's limit). Records name them as policies. They run on the file
// backend only.
//
// qemu-img bench issues one stream of equal requests at a constant
// stride, so the baselines run through it (every one but BaselineRaw)
// are sequential where the workload is random (workloads.BenchArgs and
// workloads.BaselineNote say how). BaselineRaw runs the workload's own
// op stream through the harness's file backend instead, in the
// policies' order.
const (
	// BaselineQED is QEMU's QED driver through qemu-img bench, with the
	// job's cluster and table sizes.
	BaselineQED = "qemu-qed"
	// BaselineQcow2 is QEMU's qcow2 driver through qemu-img bench, with
	// the job's cluster size.
	BaselineQcow2 = "qemu-qcow2"
	// BaselineQcow2Falloc is QEMU's qcow2 driver through qemu-img bench,
	// the image created with preallocation=falloc: every cluster's
	// metadata written and its data fallocated at create, so no write
	// allocates. Job's cluster size; no backing file (qcow2 refuses
	// preallocation with one unless extended_l2=on).
	BaselineQcow2Falloc = "qemu-qcow2-falloc"
	// BaselineQcow2Subcluster is QEMU's qcow2 driver through qemu-img
	// bench with extended L2 entries (extended_l2=on) and 128 KiB
	// clusters, by definition rather than the job's cluster size: 32
	// subclusters of 4 KiB, each allocated on its own.
	BaselineQcow2Subcluster = "qemu-qcow2-subcluster"
	// BaselineRawQemuImg is a preallocated raw file through qemu-img
	// bench: the limit of the qemu-img bench baselines' (sequential) order.
	BaselineRawQemuImg = "raw-qemu-img"
	// BaselineRaw is a preallocated raw file driven with the workload's
	// own op stream (offsets, order, queue depth, block size) through our
	// file backend, with no metadata at all: the device's limit for the
	// policies' order. It needs no qemu-img.
	BaselineRaw = "raw"
)

// NBD baselines: the same fio job (fio's nbd engine) through QEMU's own
// drivers served by qemu-nbd, beside our image under each policy served
// by impl/serve (runbench nbd). Their records' Backend is BackendNBD.
const (
	// BaselineNBDQED is QEMU's QED driver served by qemu-nbd -f qed, with
	// the job's cluster and table sizes.
	BaselineNBDQED = "qemu-nbd-qed"
	// BaselineNBDQcow2 is QEMU's qcow2 driver served by qemu-nbd -f
	// qcow2, with the job's cluster size.
	BaselineNBDQcow2 = "qemu-nbd-qcow2"
)

// BaselineNames returns the baselines runbench's matrix runs beside the
// policies on the file backend (its -baselines), in table order.
func BaselineNames() []string {
	return []string{BaselineQED, BaselineQcow2, BaselineQcow2Falloc, BaselineQcow2Subcluster, BaselineRawQemuImg, BaselineRaw}
}

// NBDBaselineNames returns the baselines runbench nbd runs beside the
// policies, in table order.
func NBDBaselineNames() []string {
	return []string{BaselineNBDQED, BaselineNBDQcow2}
}

// IsBaseline reports whether name is a baseline (of either list) rather
// than a policy.
func IsBaseline(name string) bool {
	return IsMatrixBaseline(name) || IsNBDBaseline(name)
}

// IsNBDBaseline reports whether name is one of NBDBaselineNames: a
// baseline runbench nbd runs.
func IsNBDBaseline(name string) bool {
	return slices.Contains(NBDBaselineNames(), name)
}

// IsMatrixBaseline reports whether name is one of BaselineNames: a
// baseline runbench's matrix runs.
func IsMatrixBaseline(name string) bool {
	return slices.Contains(BaselineNames(), name)
}
