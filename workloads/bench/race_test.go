//go:build race

package bench

// raceEnabled is set under the race detector, which slows the explorers
// tenfold; tests then check a smaller set.
const raceEnabled = true
