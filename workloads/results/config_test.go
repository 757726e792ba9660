package results

import (
	"slices"
	"testing"
)

func TestDeviceLabel(t *testing.T) {
	tests := []struct {
		c    Config
		want string
	}{
		{Config{Backend: BackendSim, Device: "nvme"}, "nvme"},
		{Config{Backend: BackendMem, Device: "ram"}, "mem:ram"},
		{Config{Backend: BackendFile, Device: "ext4"}, "file:ext4"},
	}
	for _, tt := range tests {
		if got := tt.c.DeviceLabel(); got != tt.want {
			t.Errorf("%+v.DeviceLabel() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

// TestCompareConfigs requires the table order: workload, backend,
// device, queue depth, then registered policies in registry order before
// unregistered ones by name.
func TestCompareConfigs(t *testing.T) {
	want := []Config{
		{Workload: "a", Backend: "file", Device: "ext4", QD: 32, Policy: "serial"},
		{Workload: "a", Backend: "sim", Device: "hdd", QD: 32, Policy: "serial"},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 1, Policy: "serial"},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 4, Policy: "serial"},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 4, Policy: "freeze-any"},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 4, Policy: "overlap"},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 4, Policy: BaselineQED},
		{Workload: "a", Backend: "sim", Device: "nvme", QD: 4, Policy: BaselineRaw},
		{Workload: "b", Backend: "file", Device: "ext4", QD: 1, Policy: "serial"},
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, compareConfigs)
	if !slices.Equal(got, want) {
		t.Errorf("sorted:\n%v\nwant:\n%v", got, want)
	}
}
