package bench

import (
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads"
)

// TestApplySettings: a setting's value may hold commas, as fio's lists
// do (bs=READ,WRITE,TRIM), an element with no "=" continuing the value
// before it; the errors name what is wrong.
func TestApplySettings(t *testing.T) {
	for _, tc := range []struct {
		set     string
		bs, wbs uint64
		ops     uint64
		wantErr string
	}{
		{set: "bs=8k", bs: 8 << 10, wbs: 0, ops: 0},
		{set: "bs=4k,64k", bs: 4 << 10, wbs: 64 << 10},
		{set: "bs=4k,64k,ops=100", bs: 4 << 10, wbs: 64 << 10, ops: 100},
		{set: "ops=100, bs=4k, 16k", bs: 4 << 10, wbs: 16 << 10, ops: 100},
		{set: "bs", wantErr: `"bs": want key=value`},
		{set: "bs=4k,ops", wantErr: `bs=4k,ops: "ops" is not a size`},
		{set: "bs=4k,,ops=1", wantErr: "element 2 of 3 is empty"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			jobs := []workloads.Job{workloads.DefaultJob()}
			jobs[0].Name = "j"
			err := applySettings(jobs, tc.set)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			j := jobs[0]
			if j.BlockSize != tc.bs || j.WriteBlockSize != tc.wbs {
				t.Errorf("bs %d, write bs %d; want %d, %d", j.BlockSize, j.WriteBlockSize, tc.bs, tc.wbs)
			}
			if tc.ops != 0 && j.Ops != tc.ops {
				t.Errorf("ops %d, want %d", j.Ops, tc.ops)
			}
		})
	}
}
