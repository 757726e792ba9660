// Package crash tests what a QED image keeps across a crash.
//
// It has four parts, used together or alone:
//
//   - Store, an impl.Storage wrapper that models a device's volatile cache: it
//     logs every write not yet covered by a completed flush and builds
//     the images a crash can leave (any subset of those writes, or of
//     their 512-byte sectors, landing).
//   - Ledger, the oracle: it records a run's guest writes and flushes,
//     each write's sectors tagged with its id (Tag, Data, Backing), and
//     says for every guest sector which writes a crash may leave there
//     and which ones a completed flush promised.
//   - Recover, the judge: it reopens a crash image as a user would and
//     checks the ledger's promises and the image's health, returning a
//     *Violation for a broken promise.
//   - Explore, the crash explorer: it runs the real engine on
//     controlled.Backend over a Store, crashes it at every I/O
//     completion boundary of a bounded set of completion orders, and
//     judges every distinct crash image with Recover.
//
// The contract checked is invariant 3 of the design: after a crash and
// the check/repair a reopen does, every write completed before a
// completed flush was submitted reads back intact (unless a later write
// to the same sector may have landed over it), nothing reads as bytes no
// write produced, and the image checks free of corruptions (leaks are
// counted and repaired) and keeps working.
//
// The package has no global state and none of its values is safe for
// concurrent use. It imports impl and model only; known causes of
// violations (findings about code outside this package) are classified
// by the caller, through Config.Classify, not named here.
package crash
