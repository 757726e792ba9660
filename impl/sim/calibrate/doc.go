// Package calibrate measures a storage the way the harness's images use
// it, through an impl.Backend (reads and writes of written space at
// several sizes and queue depths, first writes into grown space, flushes
// after a write), and fits a sim.Device to the measurements, so that the
// sim backend can stand in for the storage.
//
// Measure takes the backend and its clock from the caller (the wall
// clock for impl/file, the virtual clock for sim: SimTarget), so the
// same procedure runs on a real disk and, deterministically, on a
// simulated device whose answer is known. Fit is pure.
package calibrate
