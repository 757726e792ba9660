package results

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qedharness/qedharness/model"
)

// Backend names, the values of Config.Backend.
const (
	// BackendSim runs on a simulated device in virtual time: its Device is
	// the device preset, its times are virtual.
	BackendSim = "sim"
	// BackendMem runs on memory in wall time; its Device is "ram".
	BackendMem = "mem"
	// BackendFile runs on files in wall time; its Device is the file
	// system.
	BackendFile = "file"
	// BackendNBD runs a real client (fio) over NBD against an image on
	// files, in wall time: runbench nbd's runs. Its Device is the file
	// system.
	BackendNBD = "nbd"
)

// Config identifies one configuration of a matrix: everything a run
// depends on except its repetition.
type Config struct {
	Policy   string
	Workload string
	QD       int
	Backend  string
	// Device is the sim preset on the sim backend, "ram" on mem, and the
	// file system type on file.
	Device string
}

// Name renders the configuration as Go benchmark sub-names:
// "policy=overlap/workload=first-touch/qd=32/backend=sim/device=nvme".
func (c Config) Name() string {
	return fmt.Sprintf("policy=%s/workload=%s/qd=%d/backend=%s/device=%s", c.Policy, c.Workload, c.QD, c.Backend, c.Device)
}

// DeviceLabel renders the configuration's device for tables: the preset
// alone on sim ("nvme"), the backend and device otherwise ("file:ext4").
func (c Config) DeviceLabel() string {
	if c.Backend == BackendSim {
		return c.Device
	}
	return c.Backend + ":" + c.Device
}

// compareConfigs orders configurations as tables show them: by workload,
// backend, device, queue depth, then policy in registry order (policies
// not registered after, by name).
func compareConfigs(a, b Config) int {
	return cmp.Or(cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Backend, b.Backend),
		cmp.Compare(a.Device, b.Device), cmp.Compare(a.QD, b.QD),
		cmp.Compare(policyRank(a.Policy), policyRank(b.Policy)), cmp.Compare(a.Policy, b.Policy))
}

// policyRank is a policy's position in the registry, or a large number.
func policyRank(name string) int {
	for i, n := range model.Names() {
		if n == name {
			return i
		}
	}
	return math.MaxInt
}
