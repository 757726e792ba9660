package workloads

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// groupPlans parses a job file and plans each of its groups.
func groupPlans(t *testing.T, file string) []*Plan {
	t.Helper()
	jf, err := ParseJobFileWith(strings.NewReader(file), "g.fio", JobFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := Groups(jf.Jobs)
	var out []*Plan
	for _, g := range groups {
		p, err := PlanGroup(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// groupWatch is a Submitter that tells a group's jobs apart by the part
// of the image each request falls in (bounds[k] is where job k's file
// starts) and records what each had in flight and when.
type groupWatch struct {
	im     *impl.Image
	clock  func() int64
	bounds []uint64
	// Per job: requests submitted, in flight now, first submission,
	// last completion; together is set once two jobs had requests in
	// flight at the same time; atFirstDone is what each had in flight
	// when the first request completed.
	submitted, inFlight []int
	first, last         []int64
	together            bool
	atFirstDone         []int
	times               [][]int64 // every submission's time, per job
}

func newGroupWatch(bounds []uint64) *groupWatch {
	n := len(bounds)
	w := &groupWatch{bounds: bounds, submitted: make([]int, n), inFlight: make([]int, n), first: make([]int64, n), last: make([]int64, n), times: make([][]int64, n)}
	for i := range w.first {
		w.first[i] = -1
	}
	return w
}

func (w *groupWatch) wrap(open history.Opener) (Submitter, error) {
	im, clock, err := open(0)
	w.im, w.clock = im, clock
	return w, err
}

func (w *groupWatch) job(off uint64) int {
	k := 0
	for i, b := range w.bounds {
		if off >= b {
			k = i
		}
	}
	return k
}

func (w *groupWatch) Submit(r *impl.Request) {
	k := w.job(r.Off)
	w.submitted[k]++
	w.inFlight[k]++
	if w.first[k] < 0 {
		w.first[k] = w.clock()
	}
	w.times[k] = append(w.times[k], w.clock())
	busy := 0
	for _, n := range w.inFlight {
		if n > 0 {
			busy++
		}
	}
	w.together = w.together || busy > 1
	done := r.Done
	r.Done = func(r *impl.Request) {
		if w.atFirstDone == nil {
			w.atFirstDone = append([]int(nil), w.inFlight...)
		}
		w.inFlight[k]--
		w.last[k] = max(w.last[k], w.clock())
		done(r)
	}
	w.im.Submit(r)
}

// runGroup runs p on sim at each job's own depth, through w if not nil.
func runGroup(t *testing.T, p *Plan, w *groupWatch) Result {
	t.Helper()
	cfg := RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), Seed: 3}
	if w != nil {
		cfg.Wrap = w.wrap
	}
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const twoWriters = `[global]
rw=randwrite
size=8m
number_ios=2000
iodepth=4
[a]
[b]
`

// TestGroupRunsTogether checks that a file's jobs without stonewall run
// at once on one image, as fio's run_threads starts them: each job's
// data in a file of its own, one after the other in the image; requests
// of both in flight at the same time; the group done sooner than the
// two one after another; its figures the sum of the jobs'. With
// stonewall they run apart, each exactly as it runs alone.
func TestGroupRunsTogether(t *testing.T) {
	ps := groupPlans(t, twoWriters)
	if len(ps) != 1 || ps[0].Name() != "a+b" {
		t.Fatalf("groups %d, first %q; want one, a+b", len(ps), ps[0].Name())
	}
	g := ps[0]
	if g.ImageSize() != 16<<20 {
		t.Errorf("image %d bytes, want 16 MiB: two files of 8 MiB", g.ImageSize())
	}
	w := newGroupWatch([]uint64{0, 8 << 20})
	res := runGroup(t, g, w)
	if w.submitted[0] != 2000 || w.submitted[1] != 2000 {
		t.Errorf("requests per file %v, want 2000 each (a in the first 8 MiB, b in the next)", w.submitted)
	}
	if !w.together {
		t.Error("no moment with requests of both jobs in flight")
	}
	if w.first[1] != w.first[0] {
		t.Errorf("b first submitted at %d, a at %d: both start with the group", w.first[1], w.first[0])
	}
	if len(res.Jobs) != 2 || res.Jobs[0].Name != "a" || res.Jobs[1].Writes != 2000 || res.Ops != 4000 || res.Jobs[0].Ops+res.Jobs[1].Ops != res.Ops || res.Jobs[1].QD != 4 {
		t.Fatalf("group figures: ops %d, jobs %+v", res.Ops, res.Jobs)
	}

	apart := groupPlans(t, "[global]\nstonewall\n"+strings.TrimPrefix(twoWriters, "[global]\n"))
	if len(apart) != 2 || apart[0].Name() != "a" || apart[1].Name() != "b" {
		t.Fatalf("with stonewall: %d groups", len(apart))
	}
	var alone int64
	for i, p := range apart {
		r := runGroup(t, p, nil)
		j := DefaultJob()
		j.Name = p.Name()
		for k, v := range map[string]string{"rw": "randwrite", "size": "8m", "number_ios": "2000", "iodepth": "4"} {
			j.Set(k, v)
		}
		own, err := j.Plan()
		if err != nil {
			t.Fatal(err)
		}
		o := runGroup(t, own, nil)
		if r.Ops != o.Ops || r.Nanos != o.Nanos || r.LatP99 != o.LatP99 || r.HostIOs != o.HostIOs || r.Jobs != nil {
			t.Errorf("job %d with stonewall: ops %d, %d ns, p99 %d; alone %d, %d ns, p99 %d: want the same", i, r.Ops, r.Nanos, r.LatP99, o.Ops, o.Nanos, o.LatP99)
		}
		alone += r.Nanos
	}
	if res.Nanos >= alone {
		t.Errorf("together %d ns, one after another %d ns: want less together", res.Nanos, alone)
	}
}

// TestGroupFiles checks where jobs' data sits: jobs naming one filename
// share its part of the image (their offsets in it); a job's offset and
// size place its region in its own file.
func TestGroupFiles(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		image  uint64
		bounds []uint64 // where each job's requests start
		want   []int    // requests seen from each bound on
	}{
		{"one file shared", "[global]\nrw=randwrite\nsize=4m\nnumber_ios=100\nfilename=f\n[a]\n[b]\n", 4 << 20, []uint64{0, 4 << 20}, []int{200, 0}},
		{"offsets in the file", "[global]\nrw=randwrite\nsize=1m\nnumber_ios=100\nfilename=f\n[a]\n[b]\noffset=2m\n", 3 << 20, []uint64{0, 1 << 20, 2 << 20}, []int{100, 0, 100}},
		{"a file each, offsets in each", "[global]\nrw=randwrite\nsize=1m\nnumber_ios=100\n[a]\noffset=1m\n[b]\noffset=1m\n", 4 << 20, []uint64{0, 1 << 20, 2 << 20, 3 << 20}, []int{0, 100, 0, 100}},
		{"shared and own", "[global]\nrw=randwrite\nsize=1m\nnumber_ios=100\n[a]\nfilename=f\n[b]\n[c]\nfilename=f\nsize=2m\n", 3 << 20, []uint64{0, 2 << 20}, []int{200, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := groupPlans(t, tt.file)[0]
			if g.ImageSize() != tt.image {
				t.Errorf("image %d bytes, want %d", g.ImageSize(), tt.image)
			}
			w := newGroupWatch(tt.bounds)
			runGroup(t, g, w)
			for i := range tt.want {
				if w.submitted[i] != tt.want[i] {
					t.Errorf("requests from each bound %v on: %v, want %v", tt.bounds, w.submitted, tt.want)
					break
				}
			}
		})
	}
}

// TestGroupFlow checks flow control as flow.c's flow_threshold_exceeded:
// an instance issues only while its count over the flow's (which starts
// at 1) is at most its weight over the flow's total, counting the
// request in both when it does.
func TestGroupFlow(t *testing.T) {
	const file = "[global]\nrw=randwrite\npattern=rewrite\nsize=4m\niodepth=8\ntime_based\nruntime=20ms\nflow_id=3\n[a]\nflow=1\n[b]\nflow=3\n"
	for _, sleep := range []string{"0", "100"} {
		t.Run("flow_sleep="+sleep, func(t *testing.T) {
			g := groupPlans(t, strings.Replace(file, "[a]", "flow_sleep="+sleep+"\n[a]", 1))[0]
			w := newGroupWatch([]uint64{0, 4 << 20})
			res := runGroup(t, g, w)
			ca, cb := w.submitted[0], w.submitted[1]
			// a issues its k-th only if (k-1)/(1+(k-1)+cb) <= 1/4, so
			// 3(k-1) <= 1+cb and 3ca-4 <= cb; b its m-th only if
			// (m-1)/(1+ca+(m-1)) <= 3/4, so cb <= 3ca+4.
			if ca < 50 || cb < 3*ca-4 || cb > 3*ca+4 {
				t.Errorf("a issued %d, b %d: want b in [3a-4, 3a+4], a at least 50", ca, cb)
			}
			if res.Jobs[0].Ops != uint64(ca) || res.Jobs[1].Ops != uint64(cb) {
				t.Errorf("job figures %d, %d; submitted %d, %d", res.Jobs[0].Ops, res.Jobs[1].Ops, ca, cb)
			}
			if sleep == "0" {
				// At the start, by hand: a 0/1 ok; a 1/2 held; b 0/2,
				// 1/3 ok; a 1/4 ok; a 2/5 held; b 2/5, 3/6, 4/7 ok (a
				// 2/6, 2/7 held); a 2/8 ok; a 3/9 held; b 5/9, 6/10,
				// 7/11 ok (a 3/10, 3/11 held): b's 8 slots are full; a
				// 3/12 ok; a 4/13 held. In flight: a 4, b 8.
				if w.atFirstDone[0] != 4 || w.atFirstDone[1] != 8 {
					t.Errorf("in flight at the first completion: %v, want [4 8]", w.atFirstDone)
				}
			}
		})
	}
	// One job's instances share its flow; held ones at the end of the
	// runtime end with it.
	for _, sleep := range []string{"0", "1000"} {
		p := mustPlan(t, "one", map[string]string{"rw": "randwrite", "size": "1m", "numjobs": "2", "iodepth": "4", "flow": "1", "flow_sleep": sleep, "time_based": "1", "runtime": "5ms"})
		w := newGroupWatch([]uint64{0, 1 << 20})
		res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), Seed: 1, Wrap: w.wrap})
		// Equal weights: each issues its k-th only if (k-1)/(1+(k-1)+c)
		// <= 1/2 for the other's c, so k <= c+2: their counts differ
		// by 2 at most.
		if d := w.submitted[0] - w.submitted[1]; err != nil || res.Ops == 0 || d < -2 || d > 2 {
			t.Errorf("numjobs=2, flow_sleep=%s: %d ops, instances %v, error %v; want counts 2 apart at most", sleep, res.Ops, w.submitted, err)
		}
	}
	// An instance held back with nothing left to change the counts waits
	// for ever in fio: an error, not a hang.
	for _, sleep := range []string{"0", "100"} {
		g := groupPlans(t, "[global]\nrw=randwrite\nsize=1m\nnumber_ios=50\nflow_sleep="+sleep+"\n[a]\nflow=1\n[b]\nflow=1\nwait_for=a\n")[0]
		_, err := Run(RunConfig{Plan: g, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), Seed: 1})
		if err == nil || !strings.Contains(err.Error(), "wait for ever") {
			t.Errorf("flow_sleep=%s: error %v, want a held flow", sleep, err)
		}
	}
}

// TestGroupFlowZBD checks flow.c's branch for zonemode=zbd: a job held
// back with flow_sleep=0 lets its requests in flight complete before it
// checks again, where without zones it checks again as soon as the
// flow's counts change.
func TestGroupFlowZBD(t *testing.T) {
	const file = "[global]\nzonemode=zbd\nzonesize=64k\nrw=randwrite\nbs=4k\nsize=1m\niodepth=8\ntime_based\nruntime=20ms\nflow_id=3\nflow_sleep=0\n[a]\nflow=1\n[b]\nflow=3\n"
	g := groupPlans(t, file)[0]
	w := newGroupWatch([]uint64{0, 1 << 20})
	runGroup(t, g, w)
	ca, cb := w.submitted[0], w.submitted[1]
	if ca < 50 || cb < 3*ca-4 || cb > 3*ca+4 {
		t.Errorf("a issued %d, b %d: want b in [3a-4, 3a+4], a at least 50", ca, cb)
	}
	// At the start, by hand: a 0/1 ok; a 1/2 held, waiting for its one
	// request in flight; b 0/2, 1/3, ..., 6/8 ok; b 7/9 held, waiting for
	// its seven. In flight at the first completion: a 1, b 7 (without
	// zones, a 4 and b 8: TestGroupFlow).
	if w.atFirstDone[0] != 1 || w.atFirstDone[1] != 7 {
		t.Errorf("in flight at the first completion: %v, want [1 7]", w.atFirstDone)
	}
}

// TestGroupStarts checks when jobs start: wait_for once every instance
// of the named job has finished, startdelay that long after the group,
// both at the later of the two (fio's run_threads).
func TestGroupStarts(t *testing.T) {
	const file = "[global]\nrw=randwrite\nsize=1m\nnumber_ios=200\niodepth=2\n[a]\nnumjobs=2\n[b]\nwait_for=a\n[c]\nstartdelay=3ms\n[d]\nwait_for=a\nstartdelay=1us\n"
	g := groupPlans(t, file)[0]
	w := newGroupWatch([]uint64{0, 2 << 20, 3 << 20, 4 << 20})
	res := runGroup(t, g, w)
	aEnd := w.last[0]
	if w.first[1] < aEnd || w.first[3] < aEnd {
		t.Errorf("b and d first submitted at %d and %d, before a's last completion at %d", w.first[1], w.first[3], aEnd)
	}
	// The driver fires timers between the image's events: c starts at
	// the first completion at or after 3ms, when the image is busy.
	if c := w.first[2] - w.first[0]; c < int64(3*time.Millisecond) || c > int64(3*time.Millisecond)+res.LatMax || res.Jobs[2].StartNanos != c {
		t.Errorf("c started %d ns after the group (figures: %d), want 3ms, or the first completion after", c, res.Jobs[2].StartNanos)
	}
	if res.Jobs[1].StartNanos != aEnd-w.first[0] {
		t.Errorf("b started at %d, want at a's end, %d", res.Jobs[1].StartNanos, aEnd-w.first[0])
	}
	if aEnd-w.first[0] > int64(time.Microsecond) && res.Jobs[3].StartNanos != res.Jobs[1].StartNanos {
		t.Errorf("d started at %d, b at %d: want both at a's end, past d's startdelay", res.Jobs[3].StartNanos, res.Jobs[1].StartNanos)
	}
}

// TestGroupExitAll checks exitall and exit_what as fio_terminate_threads:
// when an instance finishes, group ends the jobs of its reporting group
// (new_group starts another), stonewall the jobs running, all every job
// and the groups after it.
func TestGroupExitAll(t *testing.T) {
	const jobs = "rw=randwrite\nsize=1m\niodepth=2\n[short]\nnumber_ios=100\n[long]\ntime_based\nruntime=1s\n"
	tests := []struct {
		name   string
		global string
		ends   bool // long ends with short
	}{
		{"no exitall", "", false},
		{"exitall", "exitall\n", true},
		{"exitall, long in a new reporting group", "exitall\n", false},
		{"exit_what=stonewall across reporting groups", "exitall\nexit_what=stonewall\n", true},
		{"exit_what=all", "exitall\nexit_what=all\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "[global]\n" + tt.global + jobs
			if strings.Contains(tt.name, "reporting group") {
				file = strings.Replace(file, "[long]\n", "[long]\nnew_group\n", 1)
			}
			g := groupPlans(t, file)[0]
			w := newGroupWatch([]uint64{0, 1 << 20})
			res := runGroup(t, g, w)
			short, long := res.Jobs[0], res.Jobs[1]
			shortEnd := short.StartNanos + short.Nanos
			if short.Ops != 100 {
				t.Fatalf("short did %d requests, want 100", short.Ops)
			}
			if tt.ends {
				// long's requests in flight when short finished complete;
				// it issues no more.
				if long.Nanos > shortEnd+long.LatMax || res.Nanos > shortEnd+long.LatMax {
					t.Errorf("long ran %d ns, the group %d ns; short ended at %d: want long ended with it", long.Nanos, res.Nanos, shortEnd)
				}
			} else if long.Nanos < int64(time.Second) {
				t.Errorf("long ran %d ns, want its runtime, 1s", long.Nanos)
			}
		})
	}
}

// TestGroupsSplit checks Groups: stonewall starts a group; exitall in
// one job is every job's; with exit_what=all no later group runs.
func TestGroupsSplit(t *testing.T) {
	job := func(name string, set ...string) Job {
		j := DefaultJob()
		j.Name = name
		for i := 0; i < len(set); i += 2 {
			if err := j.Set(set[i], set[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		return j
	}
	tests := []struct {
		name  string
		jobs  []Job
		want  string // group names, by spaces
		notes int
	}{
		{"together", []Job{job("a"), job("b"), job("c")}, "a+b+c", 0},
		{"stonewall", []Job{job("a", "stonewall", "1"), job("b"), job("c", "wait_for_previous", "1")}, "a+b c", 0},
		{"exit_what=all without exitall", []Job{job("a", "exit_what", "all"), job("b", "stonewall", "1")}, "a b", 0},
		{"exit_what=all", []Job{job("a"), job("b", "stonewall", "1", "exit_what", "all"), job("c"), job("d", "stonewall", "1", "exitall", "1"), job("e", "stonewall", "1")}, "a b+c", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, notes := Groups(tt.jobs)
			var names []string
			for _, g := range groups {
				names = append(names, GroupName(g))
			}
			if got := strings.Join(names, " "); got != tt.want || len(notes) != tt.notes {
				t.Errorf("groups %q, %d notes %q; want %q, %d notes", got, len(notes), notes, tt.want, tt.notes)
			}
			for _, g := range groups {
				for _, j := range g {
					if j.Group.ExitAll != (tt.notes > 0) {
						t.Errorf("%s: exitall %v, want the file's", j.Name, j.Group.ExitAll)
					}
				}
			}
		})
	}
}

// TestGroupRefused checks what a group's jobs must agree on and fio's
// checks of wait_for, each an error naming the line and key.
func TestGroupRefused(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"geometry differs", "[a]\n[b]\ncluster_size=4k\n", []string{"g.fio:3:", "[b] cluster_size=4k", "share one image"}},
		{"steady state in a group", "[a]\nss=iops:1%\nss_dur=2s\n[b]\n", []string{"g.fio:2:", "[a] steadystate", "not supported in a group"}},
		{"steady state alone", "[a]\nss=iops:1%\nss_dur=2s\n[b]\nstonewall\n", nil},
		{"priorities differ", "[a]\nprio=2\n[b]\nprio=3\n", []string{"g.fio:4:", "[b] prio=3", "while they run together"}},
		{"priority class set on one", "[a]\n[b]\nprioclass=1\n", []string{"g.fio:3:", "[b] prioclass=1", "while they run together"}},
		{"the same priority", "[global]\nprio=2\n[a]\n[b]\n", nil},
		{"priorities apart", "[a]\nprio=2\n[b]\nstonewall\nprio=3\n", nil},
		{"wait_for itself", "[a]\nwait_for=a\n", []string{"g.fio:2:", "wait_for=a", "itself"}},
		{"wait_for unknown", "[a]\nwait_for=b\n[b]\n", []string{"g.fio:2:", "wait_for=b", "before this one"}},
		{"wait_for duplicate", "[a]\n[a]\n[b]\nwait_for=a\n", []string{"g.fio:4:", "wait_for=a", "2 jobs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJobFileWith(strings.NewReader(tt.file), "g.fio", JobFileOptions{})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestGroupDepths checks each job's queue depth in a group's run: its
// own iodepth (RunConfig.JobDepths, or QD 0), or the run's QD for every
// job, as runbench's -qd.
func TestGroupDepths(t *testing.T) {
	g := groupPlans(t, "[global]\nrw=randwrite\nsize=1m\nnumber_ios=64\n[a]\niodepth=2\n[b]\nioengine=psync\n[c]\niodepth=8\n")[0]
	tests := []struct {
		cfg  RunConfig
		want [3]int
	}{
		{RunConfig{}, [3]int{2, 1, 8}},
		{RunConfig{QD: 8, JobDepths: true}, [3]int{2, 1, 8}},
		{RunConfig{QD: 4}, [3]int{4, 4, 4}},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		cfg.Plan, cfg.Policy, cfg.Backend, cfg.Device, cfg.Seed = g, model.Overlap{}, results.BackendSim, nvme(t), 1
		w := newGroupWatch([]uint64{0, 1 << 20, 2 << 20})
		cfg.Wrap = w.wrap
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for k, j := range res.Jobs {
			// Each writes to fresh space at first, so its first requests
			// are all in flight together.
			if j.QD != tt.want[k] || w.atFirstDone[k] != tt.want[k] {
				t.Errorf("QD %d, JobDepths %v: job %s at depth %d, %d in flight at the first completion; want %d", tt.cfg.QD, tt.cfg.JobDepths, j.Name, j.QD, w.atFirstDone[k], tt.want[k])
			}
		}
	}
}

// TestGroupPacedLater checks that a job starting late paces its
// requests from its own start, as fio's rate counts from the job's: a
// job capped at 1000 requests a second that starts 10ms into its group
// issues one a millisecond from then, not a burst to catch up.
func TestGroupPacedLater(t *testing.T) {
	g := groupPlans(t, "[global]\nrw=randwrite\nsize=1m\n[a]\nnumber_ios=2000\n[b]\nstartdelay=10ms\nrate_iops=1000\nnumber_ios=5\n")[0]
	w := newGroupWatch([]uint64{0, 1 << 20})
	runGroup(t, g, w)
	b := w.times[1]
	if len(b) != 5 || b[0]-w.first[0] < int64(10*time.Millisecond) {
		t.Fatalf("b submitted at %v (a first at %d), want 5 from 10ms on", b, w.first[0])
	}
	for i := 1; i < len(b); i++ {
		if b[i]-b[i-1] < int64(900*time.Microsecond) {
			t.Errorf("b's requests %d and %d %d ns apart, want about 1ms: %v", i-1, i, b[i]-b[i-1], b)
		}
	}
}

// TestFioExampleGroups checks the groups fio's examples make: jobs
// without stonewall run together (aio-read.fio's four, dedupe-global's
// two), with it one after another (tiobench-example.fio and
// surface-scan.fio set it, in [global] or on a job).
func TestFioExampleGroups(t *testing.T) {
	tests := []struct{ file, want string }{
		{"aio-read.fio", "file1+file2+file3+file4"},
		{"dedupe-global.fio", "a+b"},
		{"tiobench-example.fio", "f1 f2 f3 f4"},
		{"surface-scan.fio", "write-phase verify-phase"},
		{"fio-rand-RW.fio", "fio-rand-RW"},
	}
	for _, tt := range tests {
		src, err := os.ReadFile(filepath.Join("testdata", "fio", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range groupPlans(t, string(src)) {
			names = append(names, p.Name())
		}
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("%s: workloads %q, want %q", tt.file, got, tt.want)
		}
	}
}

// TestGroupPrefill checks that a group prefills the files of its jobs
// that prefill (pattern=rewrite), and only those: the rewrites allocate
// nothing, the other job's first writes do.
func TestGroupPrefill(t *testing.T) {
	g := groupPlans(t, "[global]\nrw=randwrite\nsize=1m\n[a]\npattern=rewrite\nops=100\n[b]\npattern=first-touch\nnumber_ios=16\n")[0]
	for _, backend := range []string{results.BackendSim, results.BackendMem} {
		res, err := Run(RunConfig{Plan: g, Policy: model.Overlap{}, Backend: backend, Device: nvme(t), Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.AllocatingWrites != 16 || res.Jobs[0].Writes != 100 || !res.Check.Clean() {
			t.Errorf("%s: %d allocating writes (want b's 16), a wrote %d, check %s", backend, res.AllocatingWrites, res.Jobs[0].Writes, CheckSummary(res.Check))
		}
	}
}

// TestGroupExitCascade checks that exitall's endings cascade as fio's:
// each instance that finishes, ended or not, ends what its own
// exit_what names, while a job ended before it started ends nothing.
func TestGroupExitCascade(t *testing.T) {
	// short, finishing, ends its reporting group: mid, late and itself
	// (long has new_group). mid, ended, has exit_what=stonewall, which
	// ends long. late, whose startdelay is past short's end, is ended
	// before it starts: it never starts, so its exit_what=all ends
	// nothing.
	const file = "[global]\nrw=randwrite\nsize=1m\niodepth=2\nexitall\n" +
		"[short]\nnumber_ios=50\n[mid]\ntime_based\nruntime=1s\nexit_what=stonewall\n[late]\nstartdelay=500ms\nnumber_ios=50\nexit_what=all\n" +
		"[long]\nnew_group\ntime_based\nruntime=1s\n"
	g := groupPlans(t, file)[0]
	res := runGroup(t, g, nil)
	short := res.Jobs[0]
	end := short.StartNanos + short.Nanos
	for _, j := range res.Jobs[1:] {
		if j.Name == "late" {
			if j.Ops != 0 {
				t.Errorf("late did %d requests, want none: ended before its start", j.Ops)
			}
			continue
		}
		if j.StartNanos+j.Nanos > end+2*res.LatMax {
			t.Errorf("%s ran until %d, short ended at %d: want it ended in the cascade", j.Name, j.StartNanos+j.Nanos, end)
		}
	}

	// Without mid's exit_what=stonewall, long runs its runtime.
	g = groupPlans(t, strings.Replace(file, "exit_what=stonewall\n", "", 1))[0]
	res = runGroup(t, g, nil)
	if long := res.Jobs[3]; long.Nanos < int64(time.Second) {
		t.Errorf("long ran %d ns, want its runtime, 1s: nothing ends its reporting group", long.Nanos)
	}
}

// TestGroupJobFileText checks that a group's jobs, rendered as a job
// file (what runs.json's provenance keeps), read back as the same
// workload.
func TestGroupJobFileText(t *testing.T) {
	g := groupPlans(t, "[global]\nrw=randwrite\nsize=1m\nnumber_ios=10\nexitall\n[a]\nfilename=f\nflow=2\nflow_sleep=1ms\n[b]\nfilename=f\nwait_for=a\nstartdelay=3ms\nexit_what=stonewall\n[c]\nnew_group\n")[0]
	back := groupPlans(t, g.JobFileText())
	if len(back) != 1 || back[0].Name() != g.Name() || back[0].ImageSize() != g.ImageSize() || back[0].JobFileText() != g.JobFileText() {
		t.Fatalf("read back as %d workloads, %q: %q", len(back), back[0].Name(), back[0].JobFileText())
	}
	for i, m := range back[0].members {
		if m.job.Group != g.members[i].job.Group || back[0].info[i] != g.info[i] {
			t.Errorf("job %d: %+v %+v, want %+v %+v", i, m.job.Group, back[0].info[i], g.members[i].job.Group, g.info[i])
		}
	}
}
