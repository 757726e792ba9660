// Command qedimg does for this repository's QED implementation (package
// impl) what qemu-img and qemu-io do for QEMU's: create an image, show its
// header, write and verify a byte pattern, check and repair it, and convert
// it to a raw file.
//
// Usage:
//
//	qedimg create [-f qed] [-o OPTIONS] [-b FILE [-F raw]] [-cluster-size BYTES] [-table-size N] [-backing FILE] [-force] [-q] IMAGE [SIZE]
//	qedimg info [-f qed] [-U] [--output human|json] IMAGE
//	qedimg write [-f qed] -P BYTE|-z IMAGE OFFSET LENGTH
//	qedimg read [-f qed] [-U] -P BYTE IMAGE OFFSET LENGTH
//	qedimg check [-f qed] [-r leaks|all | -U] [-force] [-q] [--output human|json] IMAGE
//	qedimg convert [-f qed] [-O raw] [-U] [-q] IMAGE OUT.raw
//	qedimg serve [-f qed] [-policy NAME] (-socket PATH | -port N) [-x NAME] [-r] [-direct] [-aio MODE] [-fill MODE] [-meta MODE] [-grow=BOOL] [-history FILE] [-stats FILE] IMAGE
//	qedimg --version
//
// The command lines qemu-img takes for the same work are taken as they
// are: flags come before or after the positional arguments (as getopt
// permutes them; "--" ends the flags), as -name, --name, -name=VALUE or
// --name VALUE; -f, -O and -r also take their value attached (-fqed).
// create's -o takes qemu-img's qed options (cluster_size, table_size,
// size, backing_file, backing_fmt; -o help lists them). -f must be qed
// and a backing format raw; convert's -O must be raw. info and check
// --output=json print qemu-img's keys (virtual-size, actual-size,
// dirty-flag, cluster-size, check-errors, ...; see infoJSON, checkJSON).
// qedimg's own forms (-cluster-size, -table-size, -backing, -output, bare
// check -r) work as before.
//
// Sizes, offsets and lengths are decimal byte counts with an optional
// binary suffix k, M, G or T (either case: 64k is 65536). BYTE is decimal
// or 0x-prefixed hexadecimal, 0 to 255.
//
// Exit status, as qemu-img's: 0 on success; 1 when the command failed
// (bad arguments, the image cannot be opened, I/O failed, a read found
// bytes other than the pattern, check could not check). check follows
// qemu-img check: 0 clean, 1 check errors or could not check, 2
// corruptions, 3 leaks only. Every error is one line on stderr:
// "qedimg: <command>: <error>", followed by a usage line for bad
// arguments.
//
// Images are always raw-backed (the backing file is never probed), and
// info and check read the header and tables without opening the backing
// file; read, write and convert need it. An image must be a regular file
// or a device: a directory, FIFO or socket is refused before it is opened.
//
// create refuses (exit 1) a geometry that QEMU 7.2 cannot open (table
// size 1; 16 MiB clusters or more; 8 MiB with tables of 2 clusters or
// more, 4 MiB with 4 or more, 2 MiB with 16: impl.QEMUGeometryProblem)
// unless -force, and then notes why. It replaces an existing regular file,
// as qemu-img create does, and refuses anything else untouched.
//
// convert writes a regular output through a temporary file beside it,
// renamed over the output only on success, so a failed convert leaves an
// existing output as it was; a device output (block or character) is
// written in place, zeros included, and never truncated or removed, as
// qemu-img does. It refuses to write onto the image or its backing file.
//
// serve exports the image over NBD (package impl/nbd) on a Unix socket or
// a port of 127.0.0.1 until SIGINT or SIGTERM, under the allocation policy
// -policy and the image options runbench takes; it then stops accepting,
// answers the requests in flight, closes the image cleanly and exits 0.
// -history records the requests' history for runbench check-history, and
// -stats writes the requests served and the CPU time they cost. It locks
// the image as qemu-nbd does (as qemu-io read-write; -r read-only).
//
// Locks: every command takes the open-file-description locks QEMU 7.2
// takes for the same open (impl.Locks), so qedimg refuses an image a QEMU
// process uses in a conflicting way ("Failed to get "write" lock: Is
// another process using the image [IMAGE]?") and QEMU refuses an image
// qedimg is writing. write and check -r lock as qemu-io does read-write;
// read, check and convert as qemu-io -r and qemu-img check do (they refuse
// an image open for writing); info as qemu-img info does. -U (also
// -force-share, --force-share) on the read-only commands shares the image
// with writers, as qemu-img's -U does: what it reads may be inconsistent.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/qedharness/qedharness/cmd/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses shared by every command. Bad arguments exit 1 as in
// qemu-img, where check's 2 means corruptions.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 1
)

// command is one subcommand. run parses args (everything after the
// subcommand's name), does the work writing its report to stdout, and
// returns the exit status, or an error: a *usageError for bad arguments,
// any other error for a failure (exit 1 either way).
type command struct {
	name    string
	usage   string // the synopsis after "qedimg "
	summary string
	run     func(args []string, stdout io.Writer) (int, error)
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"create", "create [-f qed] [-o OPTIONS] [-b FILE [-F raw]] [-cluster-size BYTES] [-table-size N] [-backing FILE] [-force] [-q] IMAGE [SIZE]",
		"create an empty image of SIZE guest bytes (the backing file's size without SIZE); -force allows a geometry QEMU 7.2 cannot open", runCreate},
	{"info", "info [-f qed] [-U] [--output human|json] IMAGE", "show the image's header", runInfo},
	{"write", "write [-f qed] -P BYTE|-z IMAGE OFFSET LENGTH", "write LENGTH bytes of BYTE at OFFSET (-z: zeros, by the image's write-zeroes request)", runWrite},
	{"read", "read [-f qed] [-U] -P BYTE IMAGE OFFSET LENGTH", "read LENGTH bytes at OFFSET and verify each is BYTE", runRead},
	{"check", "check [-f qed] [-r leaks|all | -U] [-force] [-q] [--output human|json] IMAGE",
		"check the image for leaks and corruptions; -r repairs; -force checks an image QEMU 7.2 cannot open", runCheck},
	{"convert", "convert [-f qed] [-O raw] [-U] [-q] IMAGE OUT.raw", "write the guest-visible content to a raw file or device", runConvert},
	{"serve", serveUsage, "export the image over NBD (a Unix socket or a loopback TCP port) until SIGINT or SIGTERM, under -policy", runServe},
}

// usageError is a bad-argument error: the command prints it and its
// usage line and exits 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// helpRequest asks for the command's usage on stdout and exit 0; flags
// describes the command's flags (empty when it has none).
type helpRequest struct{ flags string }

func (*helpRequest) Error() string { return "help requested" }

// run is the whole program: it runs the subcommand named by args[0] with
// the rest of args and returns the exit status. It never panics: a panic
// in a command is reported as one line and exit 1.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "qedimg: missing command")
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return exitOK
	case "-V", "-version", "--version":
		if err := buildinfo.WriteVersion(stdout, "qedimg"); err != nil {
			fmt.Fprintf(stderr, "qedimg: %s\n", oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return runCommand(c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "qedimg: unknown command %s\n", oneLine(fmt.Sprintf("%q", name)))
	printUsage(stderr)
	return exitUsage
}

// runCommand runs c and turns its result into an exit status and at most
// one error line (plus a usage line for bad arguments).
func runCommand(c command, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "qedimg: %s: internal error: %s\n", c.name, oneLine(fmt.Sprint(p)))
			code = exitFail
		}
	}()
	code, err := c.run(args, stdout)
	var ue *usageError
	var help *helpRequest
	switch {
	case err == nil:
		return code
	case errors.As(err, &help):
		fmt.Fprintf(stdout, "usage: qedimg %s\n%s\n%s", c.usage, c.summary, help.flags)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "qedimg: %s: %s\n", c.name, oneLine(err.Error()))
		fmt.Fprintf(stderr, "usage: qedimg %s\n", c.usage)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "qedimg: %s: %s\n", c.name, oneLine(err.Error()))
		if code == exitOK {
			code = exitFail
		}
		return code
	}
}

// printUsage writes the synopsis of every command.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: qedimg COMMAND [FLAGS] ARGS")
	for _, c := range commands {
		fmt.Fprintf(w, "  qedimg %s\n        %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(w, "Sizes, offsets and lengths take an optional suffix k, M, G or T (powers of 1024).")
	fmt.Fprintln(w, "-U (--force-share) opens a read-only image even while another process writes it.")
	fmt.Fprintln(w, "Flags may follow the arguments, as in qemu-img; 'qedimg --version' prints the version.")
	fmt.Fprintln(w, "Run 'qedimg COMMAND -h' for one command's usage.")
}

// oneLine folds a possibly multi-line message (errors.Join) into one line.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}
