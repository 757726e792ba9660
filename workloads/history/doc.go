// Package history records what a guest saw of an image, for the checkers
// to judge.
//
// A Recorder drives an image and records the call and return of every
// read, write, flush and reopen as Events; a History is those events with
// the disk specification they are judged against, and a Log is the same
// history in the compact form the recorder keeps, converted only when it
// is checked. WriteText and ParseHistory give a history a text form, for
// fixtures and counterexamples.
//
// Every sector a recorded write covers is stamped with a tag (the write's
// id and the sector's index; see EncodeTag), so that a read tells exactly
// which write, or which sector of the backing file (BackingContent), it
// saw, or that the sector is torn or corrupt (DecodeTag).
//
// Nothing here holds global state; a Recorder, like the image it drives,
// is used from one goroutine.
package history
