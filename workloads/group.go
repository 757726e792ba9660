package workloads

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl"
)

// This file holds how the jobs of a job file run together, as fio runs
// them (backend.c, run_threads): every job starts at once, except that a
// job with stonewall waits until every job before it has finished. The
// jobs between stonewalls are a group, and runbench runs a group as one
// workload on one image: each job's instances issue their own streams
// at once, each job at its own queue depth. Within a group a job may
// start later (startdelay, wait_for), jobs sharing a flow_id keep their
// I/O in the ratio of their flow weights (flow.c), and with exitall the
// end of one job ends others (exit_what). group_run.go runs them.
//
// Where each job's data sits: fio gives each job a file of its own
// (numjobs clones too, each its own), unless jobs name the same
// filename, which they then share. runbench lays the group's files one
// after another in its image, each as large as the largest part its
// jobs reach (the job's own image size: the end of its last region, or
// its image_size), starting at a multiple of the cluster size; a job's
// offset, size and offset_increment place its regions inside its file as
// they would place them in an image of its own. The image is the sum of
// the files. A group of one job is that job's image, unchanged.

// Groups splits jobs, in file order, into the groups fio runs one after
// another: a job with stonewall starts a new group. exitall is one
// setting of the whole file in fio (str_exitall_cb sets a global), so if
// any job sets it, every job returned has it. With exitall, a job with
// exit_what=all ends every job, and fio never starts the groups after
// its own (they are marked to terminate before they start): those are
// left out, each with a line in notes.
func Groups(jobs []Job) (groups [][]Job, notes []string) {
	exitAll := false
	for _, j := range jobs {
		exitAll = exitAll || j.Group.ExitAll
	}
	var cur []Job
	stopAfter := -1
	for _, j := range jobs {
		j.Group.ExitAll = exitAll
		if j.Group.Stonewall && len(cur) > 0 {
			groups = append(groups, cur)
			cur = nil
		}
		cur = append(cur, j)
		if exitAll && j.Group.exitWhat() == ExitAllJobs && stopAfter < 0 {
			stopAfter = len(groups)
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	if stopAfter >= 0 && stopAfter+1 < len(groups) {
		for _, g := range groups[stopAfter+1:] {
			notes = append(notes, fmt.Sprintf("%s does not run: with exitall, %s of an earlier group has exit_what=all, which ends every job when it finishes, so fio never starts it",
				GroupName(g), exitAllJob(groups[stopAfter])))
		}
		groups = groups[:stopAfter+1]
	}
	return groups, notes
}

// exitAllJob names the first job of g with exit_what=all.
func exitAllJob(g []Job) string {
	for _, j := range g {
		if j.Group.exitWhat() == ExitAllJobs {
			return j.Name
		}
	}
	return ""
}

// GroupName names the workload of a group: its job's name for a group
// of one, else its jobs' names joined by "+".
func GroupName(jobs []Job) string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return strings.Join(names, "+")
}

// groupMember is what a group's plan knows of one of its jobs, besides
// the job's own plan.
type groupMember struct {
	// waitFor is the index of the member this one waits for (wait_for),
	// -1 for none.
	waitFor int
	// report is the member's reporting group (stonewall, new_group), as
	// fio's groupid: exit_what=group ends the members of the same one.
	report int
}

// groupKeysShared are the keys the jobs of a group must agree on: they
// describe the one image they run on, or the run as a whole.
var groupKeysShared = []string{"cluster_size", "table_size", "backing", "fill", "grow", "meta", "reopen_every", "ramp_time"}

// PlanGroup validates a group of jobs (one of Groups) and plans it as
// one workload: each job planned as Job.Plan does, then its file placed
// in the group's image (see above). A group of one job is the job's
// plan. Every problem is a *KeyError naming the job and key: the jobs
// must agree on the image (cluster_size, table_size, backing, fill,
// grow, meta) and on reopen_every and ramp_time, and some keys are not
// supported in a group of several jobs (steadystate, latency_target,
// iodepth_batch and its kin).
func PlanGroup(jobs []Job) (*Plan, error) {
	if len(jobs) == 0 {
		return nil, errors.New("a group of no jobs")
	}
	if len(jobs) == 1 {
		return jobs[0].Plan()
	}
	members := make([]*Plan, len(jobs))
	for i, j := range jobs {
		p, err := j.Plan()
		if err != nil {
			return nil, err
		}
		members[i] = p
	}
	first := &members[0].job
	for _, m := range members[1:] {
		j := &m.job
		for _, k := range groupKeysShared {
			v0, _ := first.Get(k)
			v, _ := j.Get(k)
			if v != v0 {
				return nil, j.keyError(k, fmt.Errorf("differs from %s=%s of [%s]: jobs running together share one image and one run (stonewall runs this one after the others)", k, v0, first.Name))
			}
		}
	}
	for _, m := range members {
		j := &m.job
		no := func(key string) error {
			return j.keyError(key, errors.New("not supported in a group of jobs running together (stonewall runs this job alone)"))
		}
		switch {
		case j.SteadyState.Duration > 0:
			return nil, no("steadystate")
		case j.LatencyTarget.Target > 0:
			return nil, no("latency_target")
		case j.IODepthBatch > 1 || j.IODepthBatchCompleteMin > 1 || j.IODepthBatchCompleteMax > 1 || j.IODepthLow > 0:
			return nil, no("iodepth_batch")
		}
	}
	cs := uint64(first.ClusterSize)
	// The files, in order of first appearance; each job's part of it.
	type fileExt struct {
		name string
		size uint64
	}
	var files []fileExt
	fileOf := make([]int, len(members))
	for i, m := range members {
		name := m.job.Group.Filename
		k := -1
		if name != "" {
			for f := range files {
				if files[f].name == name {
					k = f
				}
			}
		}
		if k < 0 {
			files = append(files, fileExt{name: name})
			k = len(files) - 1
		} else if other := members[slices.Index(fileOf[:i], k)]; m.job.ZoneMode == ZoneZBD || other.job.ZoneMode == ZoneZBD {
			// fio's jobs naming one file share its zones (f->zbd_info):
			// one job's writes move the write pointers the other's
			// start from, its trims reset them. runbench's zone state is
			// a job's own (zbd.go).
			return nil, m.job.keyError("filename", fmt.Errorf("jobs running together that name one file (%s) with zonemode=zbd share its zones in fio, one job's writes and resets moving the other's write pointers; runbench keeps each job's zones apart, so it does not run them together (name different files, or put a stonewall between them)", name))
		}
		fileOf[i] = k
		files[k].size = max(files[k].size, (m.imageSize+cs-1)/cs*cs)
	}
	bases := make([]uint64, len(files))
	var total uint64
	for f := range files {
		bases[f] = total
		total = satAdd(total, files[f].size)
	}
	g := &Plan{job: *first, prefilled: new(prefilledImage), imageSize: total, members: members, info: make([]groupMember, len(members))}
	g.job.Name = GroupName(jobs)
	inst := 0
	report := 0
	for i, m := range members {
		m.fileBase, m.instBase = bases[fileOf[i]], inst
		inst += m.job.NumJobs
		g.maxBS = max(g.maxBS, m.maxBS)
		g.depth = max(g.depth, m.depth)
		g.job.Prefill = g.job.Prefill || m.job.Prefill
		if i > 0 && m.job.Group.NewGroup {
			report++
		}
		g.info[i] = groupMember{waitFor: -1, report: report}
		if w := m.job.Group.WaitFor; w != "" {
			for k := range i {
				if jobs[k].Name == w {
					g.info[i].waitFor = k
				}
			}
		}
	}
	g.job.NumJobs = inst
	if err := impl.ValidateGeometry(first.ClusterSize, first.TableSize, total); err != nil {
		return nil, first.keyError("size", fmt.Errorf("the group's image, its jobs' files one after another (%s): %v", FormatSize(total), err))
	}
	return g, nil
}

// CheckWaitFor checks the wait_for of each job, as fio's wait_for_ok
// (init.c) does: the waitee must be another job, defined before this
// one (fio has no forward references), and the only job of that name.
// names are the jobs' names as the file gave them (before renaming).
func CheckWaitFor(jobs []Job, names []string) error {
	for i, j := range jobs {
		w := j.Group.WaitFor
		if w == "" {
			continue
		}
		if w == names[i] {
			return j.keyError("wait_for", errors.New("a job cannot wait for itself"))
		}
		n := 0
		for _, name := range names[:i] {
			if name == w {
				n++
			}
		}
		switch {
		case n == 0:
			return j.keyError("wait_for", fmt.Errorf("no job named %q before this one (fio: waitee job unknown; it must come first)", w))
		case n > 1:
			return j.keyError("wait_for", fmt.Errorf("%d jobs before this one are named %q (fio refuses duplicate waitees)", n, w))
		}
	}
	return nil
}

// JobFileText renders the plan's jobs as job file sections, as Job.String
// does: the job's section, or a group's jobs' one after another (none
// with stonewall but the first), which ParseJobFile and PlanGroup read
// back as the same workload.
func (p *Plan) JobFileText() string {
	if p.members == nil {
		return p.job.String()
	}
	parts := make([]string, len(p.members))
	for i, m := range p.members {
		parts[i] = m.job.String()
	}
	return strings.Join(parts, "\n")
}
