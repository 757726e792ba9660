//go:build race

package main

// raceEnabled is set under the race detector, which slows the explorers
// tenfold; tests then leave them out.
const raceEnabled = true
