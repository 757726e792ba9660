package bench

import (
	"slices"
	"strings"
	"testing"
)

// mountInfo is a mountinfo excerpt: / with discard among the file
// system's options, /var/tmp mounted over it, a point with a space, and
// a later mount hiding an earlier one at /mnt.
const mountInfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resuid=65534
30 27 0:25 / /proc rw,nosuid - proc proc rw
41 27 254:16 / /var/tmp rw,noatime shared:5 - xfs /dev/vdb rw,attr2
42 27 0:40 / /my\040disk rw - ext4 /dev/vdc rw,discard
43 27 254:32 / /mnt rw - ext4 /dev/vdd rw,discard
44 27 254:48 / /mnt rw master:1 - xfs /dev/vde rw
bad line
`

func TestParseMountInfo(t *testing.T) {
	for _, tc := range []struct {
		path, point, fsType, source string
		discard                     bool
	}{
		{"/", "/", "ext4", "/dev/vda", true},
		{"/work/main", "/", "ext4", "/dev/vda", true},
		{"/var/tmp", "/var/tmp", "xfs", "/dev/vdb", false},
		{"/var/tmp/run", "/var/tmp", "xfs", "/dev/vdb", false},
		{"/var/tmpx", "/", "ext4", "/dev/vda", true},
		{"/proc/self", "/proc", "proc", "proc", false},
		{"/my disk/images", "/my disk", "ext4", "/dev/vdc", true},
		{"/mnt/a", "/mnt", "xfs", "/dev/vde", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			m, ok := parseMountInfo(strings.NewReader(mountInfo), tc.path)
			if !ok {
				t.Fatal("no mount found")
			}
			if m.point != tc.point || m.fsType != tc.fsType || m.source != tc.source || slices.Contains(m.options, "discard") != tc.discard {
				t.Errorf("got %+v, want point %s, %s on %s, discard %v", m, tc.point, tc.fsType, tc.source, tc.discard)
			}
			note := discardNote(tc.path, m)
			if tc.discard != (note != "") || tc.discard && !strings.Contains(note, "mounted at "+tc.point+") with the mount option discard") {
				t.Errorf("note %q for discard %v", note, tc.discard)
			}
		})
	}
	if _, ok := parseMountInfo(strings.NewReader("bad line\n"), "/"); ok {
		t.Error("a mount found in a table without one")
	}
}
