package workloads

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// GroupKeys are fio's keys for how a job runs beside the other jobs of
// its file (see group.go): which jobs run together on one image, when
// each starts, how their I/O is kept in proportion, and which end when
// one does. Their zero value is fio's default: the job runs together
// with the jobs before it, from the start, on its own file.
type GroupKeys struct {
	// Stonewall makes the job wait until every job before it has
	// finished (keys stonewall, wait_for_previous): it starts a new
	// group, a new image. In [global] it applies to every job, so each
	// runs alone.
	Stonewall bool
	// NewGroup starts a new reporting group (key new_group), which only
	// bounds which jobs exit_what=group ends.
	NewGroup bool
	// WaitFor names a job before this one, in its group, whose every
	// instance must have finished before this job starts (key
	// wait_for); "" waits for none.
	WaitFor string
	// StartDelay starts the job this long after its group (key
	// startdelay, seconds unless a unit is given).
	StartDelay time.Duration
	// FlowID and Flow are fio's flow control (keys flow_id, flow): every
	// instance of the jobs with a Flow weight and the same FlowID issues
	// I/O in proportion to its weight (flow.c); Flow 0 takes no part.
	// FlowSleep is how long an instance held back waits, once its
	// requests in flight complete, before it tries again (key
	// flow_sleep, microseconds); 0 tries again at once, when the flow's
	// counts next change.
	FlowID, Flow int
	FlowSleep    time.Duration
	// ExitAll ends jobs when one finishes (key exitall): in fio it is
	// one setting of the whole file, so any job setting it sets it for
	// all. ExitWhat says which (key exit_what): "group" (fio's default:
	// the jobs of the finishing job's reporting group), "stonewall" (the
	// jobs running; those yet to start still start) or "all" (every job,
	// and no group after this one runs).
	ExitAll  bool
	ExitWhat ExitWhat
	// Filename is the fio file the job names (key filename), "" for a
	// file of its own: jobs of a group that name the same file share
	// its part of the image.
	Filename string
}

// ExitWhat is fio's exit_what: which jobs end when one finishes, with
// exitall.
type ExitWhat string

// The exit_what values (fio's TERMINATE_GROUP, TERMINATE_STONEWALL,
// TERMINATE_ALL).
const (
	ExitGroup     ExitWhat = "group"
	ExitStonewall ExitWhat = "stonewall"
	ExitAllJobs   ExitWhat = "all"
)

// flowMaxWeight is fio's FLOW_MAX_WEIGHT (flow.h).
const flowMaxWeight = 1000

// groupJobKeys are the keys of GroupKeys; Job.String writes them only
// when set.
var groupJobKeys = []jobKey{
	{name: "stonewall", aliases: []string{"wait_for_previous"}, optional: true, help: "1 waits until every job before this one has finished, as fio's: the jobs between stonewalls run together on one image (in [global], every job runs alone)",
		set: func(j *Job, v string) error { return setBool(&j.Group.Stonewall, v) },
		get: func(j *Job) string { return formatBool(j.Group.Stonewall) }},
	{name: "new_group", optional: true, help: "1 starts a new reporting group, as fio's, without waiting: it bounds which jobs exit_what=group ends (runbench reports the jobs running together together either way)",
		set: func(j *Job, v string) error { return setBool(&j.Group.NewGroup, v) },
		get: func(j *Job) string { return formatBool(j.Group.NewGroup) }},
	{name: "wait_for", optional: true, help: "start once every instance of the named job, before this one in the file, has finished, as fio's (a job of an earlier group has: this one starts with its group)",
		set: func(j *Job, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("empty job name")
			}
			j.Group.WaitFor = jobName(v)
			return nil
		},
		get: func(j *Job) string { return j.Group.WaitFor }},
	{name: "startdelay", optional: true, help: "start this long after the job's group starts (seconds, or 500ms); fio counts it from its own start, the same for the first group",
		set: func(j *Job, v string) error {
			if strings.Contains(strings.TrimPrefix(v, "-"), "-") {
				return errors.New("not supported: a range of delays")
			}
			return setDuration(&j.Group.StartDelay, v)
		},
		get: func(j *Job) string { return j.Group.StartDelay.String() }},
	{name: "flow_id", optional: true, help: "the flow the job's flow weight takes part in, as fio's",
		set: func(j *Job, v string) error { return setInt(&j.Group.FlowID, v) },
		get: func(j *Job) string { return strconv.Itoa(j.Group.FlowID) }},
	{name: "flow", optional: true, help: "flow weight (0 to 1000), as fio's flow.c: each instance of the jobs sharing a flow_id issues a request only while its share of the flow's requests is at most its share of the flow's weights, so they keep a ratio of their weights; 0 takes no part",
		set: func(j *Job, v string) error {
			var n int
			if err := setInt(&n, v); err != nil {
				return err
			}
			if n > flowMaxWeight {
				return fmt.Errorf("more than fio's largest weight, %d", flowMaxWeight)
			}
			j.Group.Flow = n
			return nil
		},
		get: func(j *Job) string { return strconv.Itoa(j.Group.Flow) }},
	{name: "flow_sleep", optional: true, help: "with flow, how long an instance held back waits once its requests in flight have completed before trying again (microseconds, or 1ms); 0 (fio's default) tries again as soon as the flow's counts change",
		set: func(j *Job, v string) error { return setDurationIn(&j.Group.FlowSleep, v, time.Microsecond) },
		get: func(j *Job) string { return j.Group.FlowSleep.String() }},
	{name: "exitall", optional: true, help: "1 ends jobs when one finishes, as fio's exitall (one setting for the whole file: any job setting it sets it for all); exit_what says which",
		set: func(j *Job, v string) error { return setBool(&j.Group.ExitAll, v) },
		get: func(j *Job) string { return formatBool(j.Group.ExitAll) }},
	{name: "exit_what", optional: true, help: "with exitall, which jobs end when this one finishes: group (fio's default: those of its reporting group, see new_group), stonewall (those running; jobs yet to start still start) or all (every job, and the groups after this one never run)",
		set: func(j *Job, v string) error {
			switch ExitWhat(v) {
			case ExitGroup, ExitStonewall, ExitAllJobs:
				j.Group.ExitWhat = ExitWhat(v)
				return nil
			}
			return errors.New("want group, stonewall or all")
		},
		get: func(j *Job) string {
			if j.Group.ExitWhat == "" {
				return string(ExitGroup)
			}
			return string(j.Group.ExitWhat)
		}},
	{name: "filename", optional: true, help: "the fio file the job works on: jobs running together that name the same file share it (their offsets are in it), as fio's; a job naming none has a file of its own, and so does each instance (numjobs) unless the job names one",
		set: func(j *Job, v string) error {
			if strings.Contains(strings.ReplaceAll(v, `\:`, ""), ":") {
				return errors.New("not supported: several files named (runbench's files are nrfiles equal parts of each instance's region)")
			}
			j.Group.Filename = v
			return nil
		},
		get: func(j *Job) string { return j.Group.Filename }},
}

// exitWhat returns the job's exit_what, fio's default for "".
func (g GroupKeys) exitWhat() ExitWhat {
	if g.ExitWhat == "" {
		return ExitGroup
	}
	return g.ExitWhat
}
