package bench

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo: where a file system is
// mounted, its type and source, and its options (the mount's and the
// file system's, together).
type mount struct {
	point, fsType, source string
	options               []string
}

// parseMountInfo reads mountinfo lines (proc(5): ID, parent, major:minor,
// root, mount point, mount options, optional fields, "-", type, source,
// super options) and returns the mount holding path, an absolute path
// with symbolic links resolved: the last mount whose point is path or
// one of its ancestors, the one that hides those mounted before it.
func parseMountInfo(r io.Reader, path string) (mount, bool) {
	var best mount
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		point := unescapeMountField(f[4])
		if !within(path, point) || found && len(point) < len(best.point) {
			continue
		}
		opts := append(strings.Split(f[5], ","), strings.Split(f[sep+3], ",")...)
		best, found = mount{point: point, fsType: f[sep+1], source: unescapeMountField(f[sep+2]), options: opts}, true
	}
	return best, found
}

// within reports whether path is point or lies under it.
func within(path, point string) bool {
	if point == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == point || strings.HasPrefix(path, point+"/")
}

// unescapeMountField undoes mountinfo's octal escapes (a space is
// \040).
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// discardNote returns a note when m discards freed blocks online (the
// mount option discard), or "".
func discardNote(dir string, m mount) string {
	if !slices.Contains(m.options, "discard") {
		return ""
	}
	return fmt.Sprintf("%s is on %s (%s, mounted at %s) with the mount option discard: the file system discards each block it frees. "+
		"On ext4 the conversion that ends a first write into grown space frees an extent-tree block whenever concurrent first writes let the tree shrink back into the inode, "+
		"and without a journal the conversion waits for that discard; a policy with two allocations in flight (per-table on first-touch-4k) may then run no faster than serial. "+
		"Whether it does depends on where the file system placed the image's space, which earlier runs' files move "+
		"(this project's VM, ext4 without a journal: per-table 13-18k/s after other policies' runs, 21-33k/s run alone or remounted without discard). "+
		"The sim does not model it; a file system without discard (fstrim from time to time instead) measures the policies without it.",
		dir, m.source, m.fsType, m.point)
}
