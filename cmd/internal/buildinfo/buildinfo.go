// Package buildinfo renders what a binary knows of its own build, for
// the tools' --version.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// WriteVersion prints tool's version as qemu-img --version does its own:
// "TOOL version V", the main module's path, the VCS revision it was built
// from (with its time, and "modified" for a dirty work tree) when the
// build recorded one, and the Go version.
func WriteVersion(w io.Writer, tool string) error {
	version, module, revision := "unknown", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		revision = Revision(bi.Settings)
	}
	_, err := fmt.Fprintf(w, "%s version %s\nmodule %s\n%sgo %s\n", tool, version, module, revision, runtime.Version())
	return err
}

// Revision renders a build's VCS settings as a "revision ..." line
// (newline included), or "" when there are none.
func Revision(settings []debug.BuildSetting) string {
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
