package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// writeVersion prints qedimg's version, as qemu-img --version does its
// own: the main module's version and path, the VCS revision it was built
// from (with its time, and "modified" for a dirty work tree) when the
// build recorded one, and the Go version.
func writeVersion(w io.Writer) error {
	version, module, revision := "unknown", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		revision = vcsRevision(bi.Settings)
	}
	_, err := fmt.Fprintf(w, "qedimg version %s\nmodule %s\n%sgo %s\n", version, module, revision, runtime.Version())
	return err
}

// vcsRevision renders the build's VCS settings as a "revision ..." line,
// or "" when there are none.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev, at string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	line := "revision " + rev
	if at != "" {
		line += " (" + at + ")"
	}
	if modified {
		line += " modified"
	}
	return line + "\n"
}
