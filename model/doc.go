// Package model holds the pure specifications of the harness: the
// allocation policies that decide whether a request may proceed, and (in
// later files) the disk specification and protocol model the checkers use.
//
// Nothing in this package does I/O, starts a goroutine or reads a clock.
// The same policy values are used by the real image in impl/ and by the
// explorer in checker/, so a policy is written exactly once.
package model
