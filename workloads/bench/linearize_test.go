package bench

import (
	"errors"
	"fmt"
	"testing"

	"github.com/qedharness/qedharness/checker"
)

func TestImageFaults(t *testing.T) {
	torn := &checker.InputError{Problem: checker.CorruptTag, Op: 3, Detail: "sector 9 is torn"}
	unknown := &checker.InputError{Problem: checker.UnknownTag, Op: 4}
	harness := &checker.InputError{Problem: checker.UnmatchedCall, Op: 5}
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{harness, 0},
		{torn, 1},
		{errors.Join(torn, harness, unknown), 2},
		{fmt.Errorf("check: %w", errors.Join(harness, torn)), 1},
	}
	for _, tt := range tests {
		if got := imageFaults(tt.err); len(got) != tt.want {
			t.Errorf("imageFaults(%v) = %d faults, want %d", tt.err, len(got), tt.want)
		}
	}
}
