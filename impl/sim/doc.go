// Package sim is the backend that runs an image on a simulated device in
// virtual time: a Device model (latency, bandwidth, internal parallelism;
// presets for NVMe, SATA SSD and HDD) decides when each I/O completes, and
// the storage is memory. A run is reproducible from its seed, and its
// figures are the device's virtual time, not the machine's.
package sim
