package workloads

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// fioJobKeys are the keys from fio that change nothing unless set: block
// size mixes, amounts of I/O, timing and pacing, iolog replay. Job.String
// writes them only when set.
var fioJobKeys = []jobKey{
	{name: "ioengine", optional: true, help: "fio's I/O engine: runbench does every job's I/O on its own image (-backend, -aio), so only whether the engine is synchronous counts: a synchronous one (sync, psync, ...) keeps one request in flight, so the job's queue depth is 1; engines that do no reads and writes of data (cpuio, net, filecreate, ...) are refused",
		set: func(j *Job, v string) error {
			if _, err := engineClass(v); err != nil {
				return err
			}
			j.IOEngine = v
			return nil
		},
		get: func(j *Job) string { return j.IOEngine }},
	{name: "bssplit", optional: true, help: "weighted block sizes, SIZE/PERCENT:SIZE/PERCENT:... (a blank PERCENT shares the rest); READS,WRITES for each direction; takes precedence over bs",
		set: func(j *Job, v string) error { return setWith(&j.BSSplit, v, canonBSSplit) },
		get: func(j *Job) string { return j.BSSplit }},
	{name: "bsrange", aliases: []string{"blocksize_range"}, optional: true, help: "block sizes drawn from MIN-MAX (multiples of MIN), as fio; READS,WRITES for each direction; takes precedence over bs",
		set: func(j *Job, v string) error { return setWith(&j.BSRange, v, canonBSRange) },
		get: func(j *Job) string { return j.BSRange }},
	{name: "blockalign", aliases: []string{"ba"}, optional: true, help: "random offsets are multiples of this (0: the smallest block size); turns the random map off, as in fio",
		set: func(j *Job, v string) error { return setSize(&j.BlockAlign, firstOfPair(v)) },
		get: func(j *Job) string { return FormatSize(j.BlockAlign) }},
	{name: "io_size", aliases: []string{"io_limit"}, optional: true, help: "bytes each instance reads and writes, going round its region as often as needed (0: one pass), or Nz: N zones of zonesize",
		set: func(j *Job, v string) error {
			if ok, err := setZones(&j.IOSizeZones, v); ok {
				j.IOSize = 0
				return err
			}
			j.IOSizeZones = 0
			return setSize(&j.IOSize, v)
		},
		get: func(j *Job) string { return formatSizeOrZones(j.IOSize, 0, j.IOSizeZones) }},
	{name: "loops", optional: true, help: "repeat the job's I/O this many times (0 or 1: once)",
		set: func(j *Job, v string) error { return setInt(&j.Loops, v) },
		get: func(j *Job) string { return strconv.Itoa(j.Loops) }},
	{name: "time_based", optional: true, help: "1 keeps a job with a runtime going round its region until the runtime is up; without it a pass over the region ends the job sooner",
		set: func(j *Job, v string) error { return setBool(&j.TimeBased, v) },
		get: func(j *Job) string { return formatBool(j.TimeBased) }},
	{name: "ramp_time", optional: true, help: "run this long before the figures start (seconds, or 500ms); the runtime counts after it",
		set: func(j *Job, v string) error { return setDuration(&j.RampTime, v) },
		get: func(j *Job) string { return j.RampTime.String() }},
	{name: "rate", optional: true, help: "cap each instance's bytes per second, READS,WRITES (one value caps each direction; rate=,1m caps writes only; trims count as writes)",
		set: func(j *Job, v string) error { return setPair(&j.Rate, v, RWPair{}) },
		get: func(j *Job) string { return formatPair(j.Rate) }},
	{name: "rate_iops", optional: true, help: "cap each instance's requests per second, READS,WRITES as rate",
		set: func(j *Job, v string) error { return setPair(&j.RateIOPS, v, RWPair{}) },
		get: func(j *Job) string { return formatPair(j.RateIOPS) }},
	{name: "rate_process", optional: true, help: "how capped requests are spaced: linear (evenly) or poisson (exponential gaps, drawn from the run's seed)",
		set: func(j *Job, v string) error {
			switch RateProcess(v) {
			case RateLinear, RatePoisson:
				j.RateProcess = RateProcess(v)
				return nil
			}
			return errors.New("want linear or poisson")
		},
		get: func(j *Job) string { return string(j.RateProcess) }},
	{name: "thinktime", optional: true, help: "after every thinktime_blocks completed requests, let the instance's requests in flight complete, then wait this long (microseconds, or 2ms, 1s)",
		set: func(j *Job, v string) error { return setDurationIn(&j.ThinkTime, v, time.Microsecond) },
		get: func(j *Job) string { return j.ThinkTime.String() }},
	{name: "thinktime_blocks", optional: true, help: "completed requests between thinktime stalls (at least 1)",
		set: func(j *Job, v string) error { return setInt(&j.ThinkTimeBlocks, v) },
		get: func(j *Job) string { return strconv.Itoa(j.ThinkTimeBlocks) }},
	{name: "read_iolog", optional: true, help: "replay this fio iolog (versions 2 and 3; a job file loads it, relative to the job file's directory): its reads, writes, trims (the image's write-zeroes) and syncs, at its timing",
		set: func(j *Job, v string) error {
			return errors.New("read_iolog loads a file: set it in a job file")
		},
		get: func(j *Job) string {
			if j.IOLog == nil {
				return ""
			}
			return j.IOLog.Path
		}},
	{name: "replay_no_stall", optional: true, help: "1 replays the iolog as fast as the queue depth allows, ignoring its timing",
		set: func(j *Job, v string) error { return setBool(&j.ReplayNoStall, v) },
		get: func(j *Job) string { return formatBool(j.ReplayNoStall) }},
	{name: "replay_time_scale", optional: true, help: "replay the iolog's timing at this percentage of its rate (200: twice as fast; 0 or 100: as logged)",
		set: func(j *Job, v string) error { return setInt(&j.ReplayTimeScale, v) },
		get: func(j *Job) string { return strconv.Itoa(j.ReplayTimeScale) }},
	{name: "replay_skip", optional: true, help: "leave these iolog entries out: a comma-separated list of read, write, trim, sync",
		set: func(j *Job, v string) error { return setWith(&j.ReplaySkip, v, parseReplaySkip) },
		get: func(j *Job) string { return j.ReplaySkip.String() }},
	{name: "offset_increment", optional: true, help: "instance i's region starts at offset + i*offset_increment, as fio's (regions may overlap or leave gaps; instances without a shared file, shared_region=0, may not overlap), or N% of the image; a percentage here or in offset aligns each start up to the smallest block size, as fio (0: regions size apart, or all at offset with shared_region)",
		set: func(j *Job, v string) error {
			if ok, err := setZones(&j.OffsetIncrementZones, v); ok {
				j.OffsetIncrement, j.OffsetIncrementPercent = 0, 0
				return err
			}
			j.OffsetIncrementZones = 0
			return setSizeOrPercent(&j.OffsetIncrement, &j.OffsetIncrementPercent, v, 0)
		},
		get: func(j *Job) string {
			return formatSizeOrZones(j.OffsetIncrement, j.OffsetIncrementPercent, j.OffsetIncrementZones)
		}},
	{name: "shared_region", optional: true, help: "1 has every instance (numjobs) work on the same region rather than each on its own, as fio's clones of a job naming one filename do (a job file sets it so)",
		set: func(j *Job, v string) error { return setBool(&j.SharedRegion, v) },
		get: func(j *Job) string { return formatBool(j.SharedRegion) }},
	{name: "rw_sequencer", optional: true, help: "with a random rw's offset modifier (randread:8), where the requests between random offsets go: sequential (each after the previous one of its direction) or identical (at the previous one's offset)",
		set: func(j *Job, v string) error {
			switch RWSequencer(v) {
			case SequencerSequential, SequencerIdentical:
				j.RWSequencer = RWSequencer(v)
				return nil
			}
			return errors.New("want sequential or identical")
		},
		get: func(j *Job) string {
			if j.RWSequencer == "" {
				return string(SequencerSequential)
			}
			return string(j.RWSequencer)
		}},
	{name: "nrfiles", aliases: []string{"nr_files"}, optional: true, help: "files per instance, as fio's: runbench makes them equal parts of the instance's region, one after another (size/N each, or filesize each), each with requests of its own (its own position, random map and distribution), as file_service_type chooses",
		set: func(j *Job, v string) error {
			if err := setInt(&j.NrFiles, v); err != nil {
				return err
			}
			if j.NrFiles == 0 {
				return errors.New("at least 1")
			}
			return nil
		},
		get: func(j *Job) string { return strconv.Itoa(max(j.NrFiles, 1)) }},
	{name: "openfiles", optional: true, help: "files open at once (0: all); a file opens when first chosen and closes when done, and while openfiles are open the choice skips the others, as in fio; fewer than nrfiles runs at queue depth 1 only (fio, when it cannot open the file it chose, waits for a request in flight to complete)",
		set: func(j *Job, v string) error { return setInt(&j.OpenFiles, v) },
		get: func(j *Job) string { return strconv.Itoa(j.OpenFiles) }},
	{name: "file_service_type", optional: true, help: "which file each request goes to: roundrobin (fio's default), sequential (each to its end, then the next) or random; :N stays on a file for N requests",
		set: func(j *Job, v string) error {
			fs, n, err := parseFileService(v)
			if err != nil {
				return err
			}
			j.FileService, j.FileServiceNr = fs, n
			return nil
		},
		get: func(j *Job) string { return formatFileService(j.FileService, j.FileServiceNr) }},
	{name: "zonemode", optional: true, help: "none; strided: the requests stay in a zone of zonerange bytes until zonesize bytes are transferred, then skip zoneskip bytes to the next zone (back at the region's start past its end), as fio's; or zbd: fio's zoned-device mode on a regular file, zones of zonesize emulated from the file's start (the image's, or the instance's own), writes at each zone's write pointer, reads below it, trims resetting zones (no I/O), as fio's zbd.c",
		set: func(j *Job, v string) error { return setWith(&j.ZoneMode, v, parseZoneMode) },
		get: func(j *Job) string {
			if j.ZoneMode == "" && j.ZoneSize > 0 {
				return string(ZoneStrided)
			}
			if j.ZoneMode == "" {
				return string(ZoneNone)
			}
			return string(j.ZoneMode)
		}},
	{name: "zonesize", optional: true, help: "with zonemode=strided, bytes transferred in a zone before the next (setting it alone makes zonemode strided, as in fio); with zonemode=zbd, the size of the emulated zones (needed, as fio's on a regular file)",
		set: func(j *Job, v string) error { return setSize(&j.ZoneSize, v) },
		get: func(j *Job) string { return FormatSize(j.ZoneSize) }},
	{name: "zonerange", optional: true, help: "with zonemode=strided, the bytes of a zone: sequential requests go round them, random ones draw from them (0: zonesize)",
		set: func(j *Job, v string) error { return setSize(&j.ZoneRange, v) },
		get: func(j *Job) string { return FormatSize(j.ZoneRange) }},
	{name: "zoneskip", optional: true, help: "with zonemode=strided, bytes left out between one zone and the next",
		set: func(j *Job, v string) error { return setSize(&j.ZoneSkip, v) },
		get: func(j *Job) string { return FormatSize(j.ZoneSkip) }},
	{name: "zonecapacity", optional: true, help: "with zonemode=zbd, the bytes of each zone that can be written (0: zonesize)",
		set: func(j *Job, v string) error { return setSize(&j.ZoneCapacity, v) },
		get: func(j *Job) string { return FormatSize(j.ZoneCapacity) }},
	{name: "max_open_zones", optional: true, help: "with zonemode=zbd, the zones of the file open for writing at once, shared by the instances with shared_region (0: no limit; at most 4096)",
		set: func(j *Job, v string) error { return setInt(&j.MaxOpenZones, v) },
		get: func(j *Job) string { return strconv.Itoa(j.MaxOpenZones) }},
	{name: "job_max_open_zones", optional: true, help: "with zonemode=zbd, the zones each instance may have open for writing (0: no limit; needs max_open_zones)",
		set: func(j *Job, v string) error { return setInt(&j.JobMaxOpenZones, v) },
		get: func(j *Job) string { return strconv.Itoa(j.JobMaxOpenZones) }},
	{name: "zone_reset_threshold", optional: true, help: "with zonemode=zbd and zone_reset_frequency, the fraction of the region holding data (in [0, 1]) from which writes reset their zones",
		set: func(j *Job, v string) error { return setWith(&j.ZoneResetThreshold, v, parseResetFraction) },
		get: func(j *Job) string { return strconv.FormatFloat(j.ZoneResetThreshold, 'g', -1, 64) }},
	{name: "zone_reset_frequency", optional: true, help: "with zonemode=zbd, past zone_reset_threshold one write in 1/N resets its zone first (a fraction in [0, 1]; 0: none)",
		set: func(j *Job, v string) error { return setWith(&j.ZoneResetFrequency, v, parseResetFraction) },
		get: func(j *Job) string { return strconv.FormatFloat(j.ZoneResetFrequency, 'g', -1, 64) }},
	{name: "read_beyond_wp", optional: true, help: "with zonemode=zbd, 1 lets reads go past the write pointers (0: only written data is read; a job with none to read ends, as fio's)",
		set: func(j *Job, v string) error { return setBool(&j.ReadBeyondWP, v) },
		get: func(j *Job) string { return formatBool(j.ReadBeyondWP) }},
	{name: "ignore_zone_limits", optional: true, help: "with zonemode=zbd, 1 ignores the device's open-zone limit: runbench's zones are emulated on a regular file, which has none (max_open_zones still counts, as in fio), so it changes nothing",
		set: func(j *Job, v string) error { return setBool(&j.IgnoreZoneLimits, v) },
		get: func(j *Job) string { return formatBool(j.IgnoreZoneLimits) }},
	{name: "sync", optional: true, help: "1 (or sync, dsync) makes each write durable before it completes, as fio's O_SYNC (O_DSYNC): runbench follows the write with a flush of the image, which writes the data and the table updates that find it, and completes the write, its latency from its submission, once the flush has, as QEMU does for a write with FUA; 0 (none) does not",
		set: func(j *Job, v string) error {
			switch strings.ToLower(v) {
			case "1", "sync", "dsync":
				j.SyncWrites = true
			case "0", "none":
				j.SyncWrites = false
			default:
				return errors.New("want none (0), sync (1) or dsync")
			}
			return nil
		},
		get: func(j *Job) string { return formatBool(j.SyncWrites) }},
	{name: "writefua", optional: true, help: "1 sets the FUA flag of every write (an option of fio's sg and io_uring_cmd engines): the image has no FUA, so, as QEMU does for a guest's FUA write, runbench follows the write with a flush and completes it, its latency from its submission, once the flush has, as with sync=1",
		set: func(j *Job, v string) error { return setBool(&j.WriteFUA, v) },
		get: func(j *Job) string { return formatBool(j.WriteFUA) }},
	{name: "verify_backlog", optional: true, help: "with verify set (a job file ignores it otherwise, as fio does), read back what each instance wrote every N writes, as fio's online verification: once the writes logged are a multiple of N and the last request completed was not a read, verify_backlog_batch reads of the oldest written blocks whose writes have completed (in offset order when offsets may repeat: norandommap, an offset modifier, io_size beyond size), each at the offset and size of its write, take the place of the next requests; they are I/O of the job, counted and timed, and runbench's -linearizability does the verifying; the instance issues at most size bytes more than it would without (fio's budget, each loop), and nothing after its last write (what is left is fio's verify after the I/O); with loops, what a loop leaves unread is read back before the next starts (fio's do_verify); 0 never",
		set: func(j *Job, v string) error { return setUint(&j.VerifyBacklog, v) },
		get: func(j *Job) string { return strconv.FormatUint(j.VerifyBacklog, 10) }},
	{name: "verify_backlog_batch", optional: true, help: "with verify_backlog, how many blocks each read-back reads (0: verify_backlog); fewer leaves some unread, more reads some twice, as in fio",
		set: func(j *Job, v string) error { return setUint(&j.VerifyBacklogBatch, v) },
		get: func(j *Job) string { return strconv.FormatUint(j.VerifyBacklogBatch, 10) }},
	{name: "iodepth_batch", aliases: []string{"iodepth_batch_submit"}, optional: true, help: "requests an instance submits at once, as fio: it takes requests one by one and submits them in groups of this many, the rest when the queue is full or it has no more (0 or more than the depth: the depth; fio's default 1)",
		set: func(j *Job, v string) error { return setInt(&j.IODepthBatch, v) },
		get: func(j *Job) string { return strconv.Itoa(j.IODepthBatch) }},
	{name: "iodepth_batch_complete_min", aliases: []string{"iodepth_batch_complete"}, optional: true, help: "once the queue is full, the completions an instance waits for (at least 1, at most those in flight) before it counts them and takes requests again, as fio's getevents: its requests are counted, their latency running, when reaped (fio's default 1)",
		set: func(j *Job, v string) error { return setInt(&j.IODepthBatchCompleteMin, v) },
		get: func(j *Job) string { return strconv.Itoa(j.IODepthBatchCompleteMin) }},
	{name: "iodepth_batch_complete_max", optional: true, help: "the most completions an instance reaps at once (less than iodepth_batch_complete_min: that; fio's default)",
		set: func(j *Job, v string) error { return setInt(&j.IODepthBatchCompleteMax, v) },
		get: func(j *Job) string { return strconv.Itoa(j.IODepthBatchCompleteMax) }},
	{name: "iodepth_low", optional: true, help: "once the queue is full, an instance reaps until no more than this many are in flight before it takes requests again, as fio (0 or more than the depth: the depth, keeping the queue full)",
		set: func(j *Job, v string) error { return setInt(&j.IODepthLow, v) },
		get: func(j *Job) string { return strconv.Itoa(j.IODepthLow) }},
	{name: "steadystate", aliases: []string{"ss"}, optional: true, help: "fio's steady-state detection, METRIC:LIMIT[%] with METRIC iops, bw or lat (mean completion latency), each alone (the window's largest deviation from its mean) or with _slope (its least-squares slope per interval); LIMIT in IOPS, bytes per second (bw:10m) or nanoseconds, or a percentage of the window's mean: with steadystate_duration set, every steadystate_check_interval of the run's clock (virtual on sim) an instance's rate is sampled, and once a window of the duration is full, the first sample whose window is below the limit ends the instance (every instance with group_reporting); its requests in flight complete and count, and the run records when (steady_state_seconds in runs.json, from the end of ramp_time) if every instance got there",
		set: func(j *Job, v string) error { return parseSteadyState(&j.SteadyState, v) },
		get: func(j *Job) string { return j.SteadyState.String() }},
	{name: "latency_target", optional: true, help: "search for the deepest queue depth, up to the job's, at which latency_percentile of the requests complete within this latency (microseconds, or 500ms), as fio's: from depth 1, each latency_window of the run's clock that meets it steps the depth up (doubling, then bisecting), each that misses steps it down after the requests in flight complete; unless latency_run, once a step leaves the depth as it was, the figures start over for one more window at it, after which the instance stops; the depth is latency_target_depth in runs.json; missing it at depth 1 with latency_percentile=100 fails the run, as fio's; 0: none",
		set: func(j *Job, v string) error { return setDurationIn(&j.LatencyTarget.Target, v, time.Microsecond) },
		get: func(j *Job) string { return j.LatencyTarget.Target.String() }},
	{name: "latency_window", optional: true, help: "with latency_target, how long each queue depth runs before it is judged (microseconds, or 5s)",
		set: func(j *Job, v string) error { return setDurationIn(&j.LatencyTarget.Window, v, time.Microsecond) },
		get: func(j *Job) string { return j.LatencyTarget.Window.String() }},
	{name: "latency_percentile", optional: true, help: "with latency_target, the percentage of a window's requests that must complete within the target (fio's default 100: any request over it steps the depth down at once)",
		set: func(j *Job, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
			if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
				return errors.New("want a percentage in [0, 100]")
			}
			j.LatencyTarget.Percentile = f
			return nil
		},
		get: func(j *Job) string { return strconv.FormatFloat(j.LatencyTarget.Percentile, 'g', -1, 64) }},
	{name: "latency_run", optional: true, help: "with latency_target, 1 keeps adjusting the queue depth for the whole run rather than stopping once it settles",
		set: func(j *Job, v string) error { return setBool(&j.LatencyTarget.Run, v) },
		get: func(j *Job) string { return formatBool(j.LatencyTarget.Run) }},
	{name: "steadystate_duration", aliases: []string{"ss_dur"}, optional: true, help: "the steady-state window (seconds, or 5m), a multiple of steadystate_check_interval; 0 (fio's default) turns detection off",
		set: func(j *Job, v string) error { return setDuration(&j.SteadyState.Duration, v) },
		get: func(j *Job) string { return j.SteadyState.Duration.String() }},
	{name: "steadystate_ramp_time", aliases: []string{"ss_ramp"}, optional: true, help: "how long after the end of ramp_time steady-state samples start (seconds, or 500ms): the first covers the first whole interval after it, as in fio",
		set: func(j *Job, v string) error { return setDuration(&j.SteadyState.Ramp, v) },
		get: func(j *Job) string { return j.SteadyState.Ramp.String() }},
	{name: "steadystate_check_interval", aliases: []string{"ss_interval"}, optional: true, help: "time between steady-state samples, whole seconds, at least 1 (fio's default 1s)",
		set: func(j *Job, v string) error { return setDuration(&j.SteadyState.Interval, v) },
		get: func(j *Job) string { return j.SteadyState.Interval.String() }},
	{name: "group_reporting", optional: true, help: "1 judges steady state (steadystate) over all the job's instances (numjobs) together and ends them together, as fio's reporting group; without steady state it changes nothing, as runbench reports a job's instances together either way, and the jobs running together (between stonewalls) as one workload with each job's figures",
		set: func(j *Job, v string) error { return setBool(&j.GroupReporting, v) },
		get: func(j *Job) string { return formatBool(j.GroupReporting) }},
	{name: "random_sequence_stride", optional: true, help: "1 moves random_distribution=sequence on by its length at each repetition",
		set: func(j *Job, v string) error { return setBool(&j.SequenceStride, v) },
		get: func(j *Job) string { return formatBool(j.SequenceStride) }},
}

// setWith parses v with parse and stores the result in dst.
func setWith[T any](dst *T, v string, parse func(string) (T, error)) error {
	x, err := parse(v)
	if err != nil {
		return err
	}
	*dst = x
	return nil
}

// badRW says why v is not an rw value.
func badRW(v string) error {
	return fmt.Errorf("want one of %s", joinValues(rwValues))
}

// setBlockSizes sets bs: one size for reads, writes and trims, or
// "READ,WRITE[,TRIM]" as fio (a blank value keeps the default, 4k; a
// value not followed by a comma applies to the kinds after it too, so
// READ,WRITE sizes trims as writes).
func setBlockSizes(j *Job, v string) error {
	parts := strings.Split(v, ",")
	if len(parts) > 3 {
		return errors.New("want SIZE or READ,WRITE[,TRIM]")
	}
	read, write := DefaultJob().BlockSize, DefaultJob().BlockSize
	if parts[0] != "" {
		n, err := ParseSize(parts[0])
		if err != nil {
			return err
		}
		read = n
		if len(parts) == 1 {
			write = n
		}
	}
	if len(parts) > 1 && parts[1] != "" {
		n, err := ParseSize(parts[1])
		if err != nil {
			return err
		}
		write = n
	}
	trim := write
	if len(parts) == 3 {
		trim = DefaultJob().BlockSize
		if parts[2] != "" {
			n, err := ParseSize(parts[2])
			if err != nil {
				return err
			}
			trim = n
		}
	}
	j.BlockSize, j.WriteBlockSize, j.TrimBlockSize = read, write, trim
	if write == read {
		j.WriteBlockSize = 0
	}
	if trim == write {
		j.TrimBlockSize = 0
	}
	return nil
}

// firstOfPair returns the read value of a fio "READ,WRITE" value, or the
// value itself.
func firstOfPair(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// setSizeOrPercent sets a size, or a percentage of the image, at least
// minPct, for "N%" (0% is 0 bytes).
func setSizeOrPercent(size *uint64, pct *int, v string, minPct int) error {
	if num, ok := strings.CutSuffix(strings.TrimSpace(v), "%"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n < minPct || n > 100 {
			return fmt.Errorf("%q: a percentage must be a whole number in [%d, 100]", v, minPct)
		}
		if n == 0 {
			*size, *pct = 0, 0
			return nil
		}
		*pct = n
		return nil
	}
	if err := setSize(size, v); err != nil {
		return err
	}
	*pct = 0
	return nil
}

// formatSizeOrZones renders a size, percentage or count of zones ("8z").
func formatSizeOrZones(size uint64, pct int, zones uint64) string {
	if zones > 0 {
		return strconv.FormatUint(zones, 10) + "z"
	}
	return formatSizeOrPercent(size, pct)
}

// formatSizeOrPercent renders what setSizeOrPercent parses.
func formatSizeOrPercent(size uint64, pct int) string {
	if pct > 0 {
		return strconv.Itoa(pct) + "%"
	}
	return FormatSize(size)
}

// setPair parses fio's "READ,WRITE[,TRIM]" sizes (a value alone applies
// to both; a blank one is def's); the trim value is ignored.
func setPair(dst *RWPair, v string, def RWPair) error {
	parts := strings.Split(v, ",")
	if len(parts) > 3 {
		return errors.New("want N or READ,WRITE[,TRIM]")
	}
	out := def
	for i, p := range parts[:min(len(parts), 2)] {
		if p == "" {
			continue
		}
		n, err := ParseSize(p)
		if err != nil {
			return err
		}
		if i == 0 {
			out.Read = n
			if len(parts) == 1 {
				out.Write = n
			}
		} else {
			out.Write = n
		}
	}
	*dst = out
	return nil
}

// formatPair renders what setPair parses.
func formatPair(p RWPair) string {
	if p.Read == p.Write {
		return FormatSize(p.Read)
	}
	return FormatSize(p.Read) + "," + FormatSize(p.Write)
}

// get returns the value for requests of kind k (writes and trims: Write,
// else Read).
func (p RWPair) get(k OpKind) uint64 {
	if k == OpWrite || k == OpTrim {
		return p.Write
	}
	return p.Read
}

// ReplaySkip is a set of iolog entry kinds a replay leaves out.
type ReplaySkip uint8

// The kinds of iolog entries replay_skip names.
const (
	SkipRead ReplaySkip = 1 << iota
	SkipWrite
	SkipTrim
	SkipSync
)

var replaySkipNames = []struct {
	name string
	bit  ReplaySkip
}{{"read", SkipRead}, {"write", SkipWrite}, {"trim", SkipTrim}, {"sync", SkipSync}}

// parseReplaySkip parses "read,trim".
func parseReplaySkip(v string) (ReplaySkip, error) {
	var s ReplaySkip
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		found := false
		for _, n := range replaySkipNames {
			if n.name == part {
				s |= n.bit
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%q: want a list of read, write, trim, sync", part)
		}
	}
	return s, nil
}

// String renders the set as replay_skip takes it; "" when empty.
func (s ReplaySkip) String() string {
	var names []string
	for _, n := range replaySkipNames {
		if s&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// checkPacing checks the keys of timing and pacing; a problem is a
// *KeyError for the key to change.
func (j *Job) checkPacing() error {
	switch {
	case j.Loops < 0:
		return j.keyError("loops", errors.New("must not be negative"))
	case j.ThinkTimeBlocks < 1:
		return j.keyError("thinktime_blocks", errors.New("must be at least 1"))
	case j.ReplayTimeScale < 0:
		return j.keyError("replay_time_scale", errors.New("must not be negative"))
	case j.RampTime < 0 || j.ThinkTime < 0:
		return j.keyError("ramp_time", errors.New("must not be negative"))
	case j.RateProcess != RateLinear && j.RateProcess != RatePoisson && j.RateProcess != "":
		return j.keyError("rate_process", errors.New("want linear or poisson"))
	case j.RateProcess == RatePoisson && j.RateIOPS == RWPair{} && j.Rate == RWPair{}:
		return j.keyError("rate_process", errors.New("poisson spaces capped requests: set rate or rate_iops"))
	}
	for _, key := range []string{"rate", "rate_iops"} {
		p := j.Rate
		if key == "rate_iops" {
			p = j.RateIOPS
		}
		if p.Read > math.MaxInt64/2 || p.Write > math.MaxInt64/2 {
			return j.keyError(key, errors.New("too large"))
		}
	}
	if j.WriteFUA && j.IOEngine != "" && j.IOEngine != "sg" && j.IOEngine != "io_uring_cmd" {
		return j.keyError("writefua", fmt.Errorf("an option of fio's sg and io_uring_cmd engines, not of ioengine=%s (fio refuses it)", j.IOEngine))
	}
	if err := j.checkBatching(); err != nil {
		return err
	}
	if _, on := j.batching(max(j.IODepth, 1)); on && j.Group.Flow > 0 {
		return j.keyError("flow", errors.New("not supported with iodepth_batch, iodepth_batch_complete_min or iodepth_low: holding back batched submissions is not implemented"))
	}
	if err := j.checkVerifyBacklog(); err != nil {
		return err
	}
	if key, err := j.checkLatencyTarget(); err != nil {
		return j.keyError(key, err)
	}
	if key, err := j.SteadyState.check(); err != nil {
		return j.keyError(key, err)
	}
	if _, err := engineClass(j.IOEngine); err != nil && j.IOEngine != "" {
		return j.keyError("ioengine", err)
	}
	return nil
}
