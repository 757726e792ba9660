package buildinfo

import (
	"runtime/debug"
	"testing"
)

// TestRevision checks the revision line of --version, which a
// test binary's build info does not carry.
func TestRevision(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, ""},
		{[]debug.BuildSetting{{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"}}, ""},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}, "revision abc123\n"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2025-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}},
			"revision abc123 (2025-01-02T03:04:05Z) modified\n"},
	} {
		if got := Revision(tc.settings); got != tc.want {
			t.Errorf("Revision(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
