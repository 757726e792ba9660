//go:build !race

package crash

// raceEnabled is true in a -race build, where the crash tests leave out
// their most expensive cases (see TestCrashReductionSound).
const raceEnabled = false
