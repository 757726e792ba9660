package model

import (
	"fmt"
	"sort"
	"strings"
)

// Claim is what a policy claims about itself, and what the checkers
// compare their findings against.
type Claim uint8

const (
	// Safe claims every history is linearizable against the disk
	// specification and every on-disk invariant holds.
	Safe Claim = iota
	// Unsafe claims a checker can find a violation; the checkers must
	// find one, or the claim (and so the build) is wrong.
	Unsafe
)

// String returns "safe" or "unsafe".
func (v Claim) String() string {
	if v == Unsafe {
		return "unsafe"
	}
	return "safe"
}

// TableWrites is how the image writes table sectors, the assumption
// under which a policy claims safety.
type TableWrites uint8

const (
	// Ordered: a table sector is written one write at a time, newest
	// content last (our engine's metadata writer), so two updates of one
	// sector never race on the disk.
	Ordered TableWrites = iota
	// Snapshot: each table update is its own write, a snapshot of the
	// 512-byte sector taken when it is issued, several in flight at once
	// (QEMU's qed_write_table; impl.Options.UnorderedMetadata), so they
	// may land in either order.
	Snapshot
)

// TableWriteSchemes lists the schemes, in table order.
var TableWriteSchemes = []TableWrites{Ordered, Snapshot}

// String returns "ordered" or "snapshot".
func (t TableWrites) String() string {
	if t == Snapshot {
		return "snapshot"
	}
	return "ordered"
}

// Registration describes a registered policy: its value, what it claims
// under each table-write scheme, and whether it can let two allocating
// writes be in flight at once (a checker that never saw such overlap for
// a Parallel policy has proved nothing about it).
type Registration struct {
	// Name is the policy's registry name.
	Name string
	// Policy is the policy value; policies are stateless and shared.
	Policy Policy
	// Expect is the verdict the policy claims with Ordered table writes,
	// the engine's scheme.
	Expect Claim
	// ExpectSnapshot is the verdict it claims with Snapshot table
	// writes, QEMU's scheme.
	ExpectSnapshot Claim
	// Parallel is true when the policy lets allocating writes overlap.
	Parallel bool
	// Summary is a one-line description for tables and help text.
	Summary string
}

// Claim returns the verdict the policy claims under table-write scheme t.
func (r Registration) Claim(t TableWrites) Claim {
	if t == Snapshot {
		return r.ExpectSnapshot
	}
	return r.Expect
}

// ClaimText states the claims with their assumption: "safe with ordered
// table writes; unsafe with QED's snapshot table writes", or "safe with
// either table-write scheme".
func (r Registration) ClaimText() string {
	if r.Expect == r.ExpectSnapshot {
		return fmt.Sprintf("%s with either table-write scheme", r.Expect)
	}
	return fmt.Sprintf("%s with ordered table writes; %s with QED's snapshot table writes", r.Expect, r.ExpectSnapshot)
}

// registry lists every policy, in the order tables show them. Adding a
// policy is one file defining its Registration plus one line here.
var registry = []Registration{
	serialRegistration,
	freezeAnyRegistration,
	freezeL2Registration,
	perTableRegistration,
	overlapRegistration,
}

// Registered returns every registered policy, in table order. The slice is
// a copy; callers may keep it.
func Registered() []Registration {
	return append([]Registration(nil), registry...)
}

// Names returns the registered policy names, in table order.
func Names() []string {
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.Name
	}
	return names
}

// Lookup returns the registration named name, or an error listing the
// valid names.
func Lookup(name string) (Registration, error) {
	for _, r := range registry {
		if r.Name == name {
			return r, nil
		}
	}
	known := Names()
	sort.Strings(known)
	return Registration{}, fmt.Errorf("unknown policy %q (known: %s)", name, strings.Join(known, ", "))
}

// ParseList resolves a comma-separated list of policy names; "all" or the
// empty string selects every registered policy. Duplicates are an error.
func ParseList(list string) ([]Registration, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "all" {
		return Registered(), nil
	}
	var out []Registration
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return nil, fmt.Errorf("policy %q listed twice", name)
		}
		seen[name] = true
		r, err := Lookup(name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
