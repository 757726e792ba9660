package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// writeVersion prints runbench's version for -version: the main module's
// version and path, the VCS revision it was built from (with its time,
// and "modified" for a dirty work tree) when the build recorded one, and
// the Go version.
func writeVersion(w io.Writer) error {
	version, module, revision := "unknown", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		var modified bool
		var at string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = "revision " + s.Value
			case "vcs.time":
				at = " (" + s.Value + ")"
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if revision != "" {
			revision += at
			if modified {
				revision += " modified"
			}
			revision += "\n"
		}
	}
	_, err := fmt.Fprintf(w, "runbench version %s\nmodule %s\n%sgo %s\n", version, module, revision, runtime.Version())
	return err
}
