package workloads

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qedharness/qedharness/impl"
)

// RW is fio's rw setting: the mix and order of reads and writes.
type RW string

const (
	// RWRead reads the region sequentially.
	RWRead RW = "read"
	// RWWrite writes the region sequentially.
	RWWrite RW = "write"
	// RWRandRead reads random blocks.
	RWRandRead RW = "randread"
	// RWRandWrite writes random blocks.
	RWRandWrite RW = "randwrite"
	// RWMixed mixes sequential reads and writes (fio's rw or readwrite),
	// in the proportion RWMixRead.
	RWMixed RW = "rw"
	// RWRandMixed mixes random reads and writes (fio's randrw).
	RWRandMixed RW = "randrw"
	// RWTrim trims the region sequentially. A trim is the image's
	// write-zeroes request (impl.ReqWriteZeroes): QED has no discard.
	RWTrim RW = "trim"
	// RWRandTrim trims random blocks.
	RWRandTrim RW = "randtrim"
	// RWTrimWrite trims each block, then writes it, sequentially (fio's
	// trimwrite: a pass over the region is a trim and a write of every
	// block).
	RWTrimWrite RW = "trimwrite"
	// RWRandTrimWrite trims a random block, then writes it.
	RWRandTrimWrite RW = "randtrimwrite"
)

// rwValues lists the accepted rw values; fio's alias readwrite maps to rw.
var rwValues = []RW{RWRead, RWWrite, RWRandRead, RWRandWrite, RWMixed, RWRandMixed, RWTrim, RWRandTrim, RWTrimWrite, RWRandTrimWrite}

// Random reports whether offsets are random rather than sequential.
func (rw RW) Random() bool {
	return rw == RWRandRead || rw == RWRandWrite || rw == RWRandMixed || rw == RWRandTrim || rw == RWRandTrimWrite
}

// Reads reports whether the job issues reads.
func (rw RW) Reads() bool {
	return rw == RWRead || rw == RWRandRead || rw == RWMixed || rw == RWRandMixed
}

// Writes reports whether the job issues writes.
func (rw RW) Writes() bool {
	return rw == RWWrite || rw == RWRandWrite || rw == RWMixed || rw == RWRandMixed || rw == RWTrimWrite || rw == RWRandTrimWrite
}

// Trims reports whether the job issues trims (write-zeroes).
func (rw RW) Trims() bool {
	return rw == RWTrim || rw == RWRandTrim || rw == RWTrimWrite || rw == RWRandTrimWrite
}

// trimWrite reports whether each trim is followed by a write of its
// blocks (trimwrite, randtrimwrite).
func (rw RW) trimWrite() bool { return rw == RWTrimWrite || rw == RWRandTrimWrite }

// Job is one workload specification, as one section of an fio job file.
// The zero value is not valid; start from DefaultJob, then Set keys.
// Sizes are in bytes; each of NumJobs instances works on its own region
// of Size bytes, instance i at Offset + i*Size (all at Offset with
// SharedRegion; at Offset + i*OffsetIncrement with an increment), with IODepth requests in flight (a closed loop, as fio's
// iodepth).
type Job struct {
	// Name names the workload in records and tables (the section name).
	Name string
	// RW is the read/write mix and order (key rw).
	RW RW
	// Pattern says which clusters writes touch (key pattern): the name
	// of a registered Pattern.
	Pattern PatternName
	// BlockSize is the size of every read and write (key bs), a multiple
	// of 512.
	BlockSize uint64
	// IODepth is the number of requests each instance keeps in flight
	// (key iodepth); 0 means not set: fio's 1 for a run at the job's own
	// depth, and runbench's sweep of queue depths (Plan.QDs). The
	// runner's queue depth overrides it.
	IODepth int
	// NumJobs is the number of instances, each with its own region and
	// stream (key numjobs).
	NumJobs int
	// Size is the bytes of each instance's region (key size).
	Size uint64
	// Offset is where the first instance's region starts (key offset).
	Offset uint64
	// Ops is the reads and writes each instance issues (keys ops,
	// number_ios); 0 means one pass over the region, or no limit when
	// Runtime is set.
	Ops uint64
	// Runtime stops the run after this long (key runtime), in virtual time
	// on the sim backend; 0 means no time limit.
	Runtime time.Duration
	// RWMixRead is the percentage of reads for rw and randrw (key
	// rwmixread; rwmixwrite sets 100 minus it).
	RWMixRead int
	// Distribution draws random offsets (key random_distribution).
	Distribution Distribution
	// NoRandomMap draws uniform offsets independently; otherwise, as in
	// fio, every block is hit once per pass in random order (key
	// norandommap). Zipf always draws independently.
	NoRandomMap bool
	// Fsync issues a flush after every Fsync writes of an instance (key
	// fsync); 0 never flushes.
	Fsync int
	// Prefill writes the whole region before the run, untimed, so the
	// clusters are allocated (key prefill; pattern=rewrite implies it).
	Prefill bool
	// ReopenEvery closes the image cleanly and opens it again from its
	// files after every ReopenEvery requests completed across the run
	// (key reopen_every), dropping every cache; 0 never reopens.
	ReopenEvery uint64
	// ClusterSize is the image's cluster size (key cluster_size).
	ClusterSize uint32
	// TableSize is the image's table size in clusters (key table_size).
	TableSize uint32
	// ImageSize is the guest size of the image (key image_size); 0 means
	// the smallest whole number of clusters that holds every region.
	ImageSize uint64
	// Backing gives the image a raw backing file of the image's size with
	// a known pattern (key backing), so partial writes to fresh clusters
	// copy the rest from it.
	Backing bool
	// Fill is how the image writes the part of a new cluster the guest did
	// not write (key fill: elide, merged, separate).
	Fill impl.FillMode
	// Grow is whether the image grows its file ahead of allocation (key
	// grow: 1, the default) or lets the writes grow it (0).
	Grow impl.GrowMode
	// Meta is when L2 updates are written (key meta: writeback, the
	// default, or writethrough).
	Meta impl.MetaMode

	// The keys below come from fio and change nothing unless set.

	// IOEngine is fio's ioengine (key ioengine), "" if not set. runbench
	// does every job's I/O on its own image whatever the engine; it reads
	// from the engine only whether it is synchronous, which keeps one
	// request in flight per instance (the job's queue depth is then 1).
	IOEngine string
	// WriteBlockSize is the size of writes when it differs from reads'
	// (key bs=READ,WRITE); 0 means BlockSize.
	WriteBlockSize uint64
	// TrimBlockSize is the size of trims when it differs from writes'
	// (key bs=READ,WRITE,TRIM); 0 means the writes' size.
	TrimBlockSize uint64
	// BSSplit weights several block sizes (key bssplit), in fio's syntax
	// ("4k/10:64k/90", or "READS,WRITES"); BSRange draws sizes from a
	// range (key bsrange, "4k-64k" or "READS,WRITES"). Each takes
	// precedence over bs; "" means not set.
	BSSplit, BSRange string
	// BlockAlign makes random offsets multiples of it (key blockalign);
	// 0 means the smallest block size.
	BlockAlign uint64
	// SizePercent and OffsetPercent, when not 0, make size and offset
	// that percentage of the image (image_size, or 64 MiB without it)
	// instead of Size and Offset (keys size=N%, offset=N%).
	SizePercent, OffsetPercent int
	// OffsetIncrement moves instance i's region to Offset +
	// i*OffsetIncrement (key offset_increment, fio's: its regions may
	// overlap or leave gaps); OffsetIncrementPercent, when not 0, makes
	// the increment that percentage of the image, as SizePercent. Either
	// percentage aligns each region's start up to the smallest block
	// size, as fio's get_start_offset (filesetup.c). 0 means none:
	// regions Size apart (or all at Offset with SharedRegion).
	OffsetIncrement        uint64
	OffsetIncrementPercent int
	// IOSize is the bytes of reads and writes each instance issues (key
	// io_size), going round its region as often as needed; 0 means one
	// pass over the region.
	IOSize uint64
	// Loops repeats the job's I/O that many times (key loops); 0 or 1
	// means once.
	Loops int
	// TimeBased keeps a job with a runtime going round its region until
	// the runtime is up (key time_based); without it the runtime only
	// cuts the run short, as in fio.
	TimeBased bool
	// RampTime runs the job this long before its figures start (key
	// ramp_time); the runtime counts after it, as in fio.
	RampTime time.Duration
	// Rate caps each instance's reads and writes, each direction apart,
	// in bytes per second (key rate); RateIOPS in requests per second
	// (key rate_iops). 0 means no cap.
	Rate, RateIOPS RWPair
	// RateProcess is how capped requests are spaced (key rate_process):
	// linear (evenly) or poisson (exponential gaps of the same mean).
	RateProcess RateProcess
	// ThinkTime stalls an instance after every ThinkTimeBlocks completed
	// requests (keys thinktime, thinktime_blocks): it lets its requests
	// in flight complete, then waits ThinkTime before the next.
	ThinkTime       time.Duration
	ThinkTimeBlocks int
	// IOLog is the fio iolog the job replays (key read_iolog), nil if
	// none; a job file loads it (ParseJobFileWith).
	IOLog *IOLog
	// ReplayNoStall replays the iolog as fast as the queue depth allows,
	// ignoring its timing (key replay_no_stall); ReplayTimeScale runs its
	// timing at that percentage of its rate (key replay_time_scale, 0
	// meaning 100); ReplaySkip leaves out the entries of those kinds (key
	// replay_skip).
	ReplayNoStall   bool
	ReplayTimeScale int
	ReplaySkip      ReplaySkip
	// SequenceStride makes a sequence distribution move on by its length
	// at each repetition (key random_sequence_stride).
	SequenceStride bool
	// SharedRegion has every instance work on the same region, at
	// Offset, rather than each on its own (key shared_region): fio's
	// numjobs clones of a job that names one file share it.
	SharedRegion bool
	// OffsetAdd is the offset modifier of a sequential rw (key
	// rw=write:112k): bytes added to where each request would start
	// after the previous one's end, negative going backwards (see
	// offsetmod.go); 0 means none.
	OffsetAdd int64
	// RandomRun is the offset modifier of a random rw (key
	// rw=randread:8): the first of every RandomRun requests draws a
	// random offset, the others follow as RWSequencer says; 0 or 1
	// means every request draws.
	RandomRun uint64
	// RWSequencer is how RandomRun's requests between draws are placed
	// (key rw_sequencer); "" means SequencerSequential.
	RWSequencer RWSequencer
	// NrFiles splits each instance's region into that many equal files
	// (key nrfiles), each with requests of its own (see files.go); 0
	// means 1. OpenFiles bounds the files open at once (key openfiles; 0
	// means NrFiles). FileService chooses each request's file (key
	// file_service_type; "" means ServiceRoundRobin), staying on it for
	// FileServiceNr requests (0 means 1).
	NrFiles, OpenFiles int
	FileService        FileService
	FileServiceNr      int
	// ZoneMode, with ZoneSize, ZoneRange and ZoneSkip, moves the requests
	// through strided zones (keys zonemode, zonesize, zonerange,
	// zoneskip; see zones.go): "" (none unless ZoneSize is set, as fio),
	// ZoneNone or ZoneStrided; or, ZoneZBD, through fio's zoned-device
	// mode emulated on a regular file, zones of ZoneSize (zbd.go).
	// ZoneRange 0 means ZoneSize.
	ZoneMode                      ZoneMode
	ZoneSize, ZoneRange, ZoneSkip uint64
	// ZoneCapacity, MaxOpenZones, JobMaxOpenZones, ZoneResetThreshold,
	// ZoneResetFrequency, ReadBeyondWP and IgnoreZoneLimits are fio's
	// keys of zonemode=zbd (zonecapacity, max_open_zones,
	// job_max_open_zones, zone_reset_threshold, zone_reset_frequency,
	// read_beyond_wp, ignore_zone_limits; see zbd.go): the writable
	// bytes of a zone (0: ZoneSize), the zones open for writing at once
	// on the file and per instance (0: no limit), the fraction of the
	// region written past which every 1/ZoneResetFrequency-th write
	// resets its zone, reads below the write pointer only unless
	// ReadBeyondWP, and the device's limits ignored (a regular file has
	// none).
	ZoneCapacity                   uint64
	MaxOpenZones, JobMaxOpenZones  int
	ZoneResetThreshold             float64
	ZoneResetFrequency             float64
	ReadBeyondWP, IgnoreZoneLimits bool
	// SizeZones, OffsetZones, IOSizeZones and OffsetIncrementZones, when
	// not 0, give size, offset, io_size and offset_increment in zones
	// (fio's "8z"): that many ZoneSize, instead of Size, Offset, IOSize
	// and OffsetIncrement.
	SizeZones, OffsetZones, IOSizeZones, OffsetIncrementZones uint64
	// SyncWrites makes every write durable before it completes (key
	// sync=1, sync or dsync: fio's O_SYNC, O_DSYNC): the driver follows
	// each write with a flush and completes the write, its latency
	// running from the write's submission, when the flush has.
	SyncWrites bool
	// WriteFUA gives every write fio's FUA flag (key writefua, an option
	// of fio's sg and io_uring_cmd engines): the image has no FUA, so a
	// FUA write is, as in QEMU, a write followed by a flush that
	// completes it, as with SyncWrites.
	WriteFUA bool
	// VerifyBacklog, when not 0, has each instance read back the blocks
	// it wrote every VerifyBacklog writes, VerifyBacklogBatch of them (0:
	// VerifyBacklog), before writing on (keys verify_backlog,
	// verify_backlog_batch; see verifybacklog.go). A job file sets it
	// only where fio would read back: with verify set, do_verify=1 and
	// experimental_verify=0.
	VerifyBacklog, VerifyBacklogBatch uint64
	// IODepthBatch, IODepthBatchCompleteMin, IODepthBatchCompleteMax and
	// IODepthLow are fio's batched submission and completion (keys
	// iodepth_batch, iodepth_batch_complete_min,
	// iodepth_batch_complete_max, iodepth_low; see batching.go), resolved
	// against the run's queue depth as fio does; fio's defaults (1, 1, 0,
	// 0) keep the depth in flight.
	IODepthBatch, IODepthBatchCompleteMin, IODepthBatchCompleteMax, IODepthLow int
	// SteadyState ends each instance once its rate settles, as fio's
	// steady-state detection (keys steadystate, steadystate_duration,
	// steadystate_ramp_time, steadystate_check_interval; see
	// steadystate.go); off while its Duration is 0.
	SteadyState SteadyState
	// LatencyTarget searches for the deepest queue depth whose latency
	// meets a target, as fio's latency_target (see latencytarget.go);
	// its Target 0 means none.
	LatencyTarget LatencyTarget
	// GroupReporting judges SteadyState over all the job's instances
	// together and ends them together (key group_reporting), as fio
	// does for a reporting group; runbench reports a job's instances
	// together either way.
	GroupReporting bool
	// Group says how the job runs beside the other jobs of its file
	// (stonewall, wait_for, startdelay, flow, exitall, filename: see
	// group.go).
	Group GroupKeys
}

// RWPair is a value for reads and one for writes, as fio's keys that
// take "READ,WRITE".
type RWPair struct{ Read, Write uint64 }

// RateProcess is how rate-capped requests are spaced in time.
type RateProcess string

// The rate processes.
const (
	// RateLinear spaces capped requests evenly (fio's default).
	RateLinear RateProcess = "linear"
	// RatePoisson draws exponential gaps of the same mean.
	RatePoisson RateProcess = "poisson"
)

// DefaultJob returns the job every section starts from: fio's defaults
// (rw=read, bs=4k, numjobs=1, rwmixread=50, uniform random with a random
// map, thinktime_blocks=1, rate_process=linear), iodepth not set (fio's
// 1, or runbench's sweep), a 64 MiB region, and QEMU's default geometry
// (64 KiB clusters, table_size 4).
func DefaultJob() Job {
	return Job{
		RW:           RWRead,
		Pattern:      Plain,
		BlockSize:    4 << 10,
		NumJobs:      1,
		Size:         64 << 20,
		RWMixRead:    50,
		Distribution: Distribution{Kind: Uniform},
		ClusterSize:  impl.DefaultClusterSize,
		TableSize:    impl.DefaultTableSize,

		RateProcess:     RateLinear,
		ThinkTimeBlocks: 1,
		NrFiles:         1,
		SteadyState:     defaultSteadyState,
		LatencyTarget:   LatencyTarget{Percentile: 100},

		IODepthBatch:            1,
		IODepthBatchCompleteMin: 1,
	}
}

// jobKey describes one key of a job: its names, help, and how to set and
// show it.
type jobKey struct {
	name    string
	aliases []string
	help    string
	// optional keys are written by Job.String only when they differ from
	// DefaultJob's (the keys from fio, which change nothing unless set).
	optional bool
	// helpFunc, if not nil, makes the help when it is asked for (the
	// pattern key's lists the patterns, registered at init).
	helpFunc func() string
	set      func(j *Job, v string) error
	get      func(j *Job) string
}

// jobKeys lists every key a job accepts, in help order: runbench's own
// and fio's, then the keys from fio that change nothing unless set.
var jobKeys = slices.Concat(coreJobKeys, fioJobKeys, groupJobKeys)

// coreJobKeys are the keys Job.String always writes.
var coreJobKeys = []jobKey{
	{name: "rw", aliases: []string{"readwrite"}, help: "read, write, randread, randwrite, rw (readwrite), randrw, trim, randtrim, trimwrite or randtrimwrite; fio's offset modifier after a colon: bytes added after each sequential request (write:112k leaves 112k holes, read:-8k goes backwards), or how many random requests share one random offset (randread:8, see rw_sequencer); a trim is the image's write-zeroes request (QED has no discard): allocated clusters are zeroed in place, unallocated ones that a backing file shows through become zero clusters (or take zero data where covered in part), the rest read as zeros already; -linearizability counts it a write of zeros",
		set: func(j *Job, v string) error {
			rw, add, run, err := parseRW(v)
			if err != nil {
				return err
			}
			j.RW, j.OffsetAdd, j.RandomRun = rw, add, run
			return nil
		},
		get: func(j *Job) string { return formatRW(j.RW, j.OffsetAdd, j.RandomRun) }},
	{name: "pattern", helpFunc: patternHelp,
		set: func(j *Job, v string) error {
			if _, ok := lookupPattern(PatternName(v)); !ok {
				return fmt.Errorf("want one of %s", joinValues(patternNames()))
			}
			j.Pattern = PatternName(v)
			return nil
		},
		get: func(j *Job) string { return string(j.Pattern) }},
	{name: "bs", aliases: []string{"blocksize"}, help: "bytes per read, write or trim, a multiple of 512 (4k, 64k, 1m); READ,WRITE gives writes (and trims) their own size, READ,WRITE,TRIM trims theirs (a blank TRIM: 4k), as fio",
		set: setBlockSizes,
		get: func(j *Job) string {
			s := FormatSize(j.BlockSize)
			if j.WriteBlockSize != 0 || j.TrimBlockSize != 0 {
				s += "," + FormatSize(j.writeSize())
			}
			if j.TrimBlockSize != 0 {
				s += "," + FormatSize(j.TrimBlockSize)
			}
			return s
		}},
	{name: "iodepth", help: "requests each instance keeps in flight; a job that sets it runs at that depth alone unless runbench's -qd is given (0: not set, fio's 1, and runbench's sweep)",
		set: func(j *Job, v string) error { return setInt(&j.IODepth, v) },
		get: func(j *Job) string { return strconv.Itoa(j.IODepth) }},
	{name: "numjobs", help: "instances, each with its own region and stream",
		set: func(j *Job, v string) error { return setInt(&j.NumJobs, v) },
		get: func(j *Job) string { return strconv.Itoa(j.NumJobs) }},
	{name: "size", help: "bytes of each instance's region, or N% of the image (image_size, or 64m without it), or Nz: N zones of zonesize",
		set: func(j *Job, v string) error {
			if ok, err := setZones(&j.SizeZones, v); ok {
				j.Size, j.SizePercent = 0, 0
				return err
			}
			j.SizeZones = 0
			return setSizeOrPercent(&j.Size, &j.SizePercent, v, 1)
		},
		get: func(j *Job) string { return formatSizeOrZones(j.Size, j.SizePercent, j.SizeZones) }},
	{name: "offset", help: "where the first instance's region starts, or N% into the image (aligned up to the smallest block size, as fio), or Nz: N zones of zonesize in",
		set: func(j *Job, v string) error {
			if ok, err := setZones(&j.OffsetZones, v); ok {
				j.Offset, j.OffsetPercent = 0, 0
				return err
			}
			j.OffsetZones = 0
			return setSizeOrPercent(&j.Offset, &j.OffsetPercent, v, 0)
		},
		get: func(j *Job) string { return formatSizeOrZones(j.Offset, j.OffsetPercent, j.OffsetZones) }},
	{name: "ops", aliases: []string{"number_ios"}, help: "reads and writes per instance; 0 means one pass over the region (or no limit with runtime)",
		set: func(j *Job, v string) error { return setUint(&j.Ops, v) },
		get: func(j *Job) string { return strconv.FormatUint(j.Ops, 10) }},
	{name: "runtime", aliases: []string{"timeout"}, help: "stop after this long (seconds, or 500ms, 2m); virtual time on sim; 0 means no limit; without time_based a pass over the region ends the job sooner, as in fio",
		set: func(j *Job, v string) error { return setDuration(&j.Runtime, v) },
		get: func(j *Job) string { return j.Runtime.String() }},
	{name: "rwmixread", help: "percentage of reads for rw and randrw",
		set: func(j *Job, v string) error { return setPercent(&j.RWMixRead, v) },
		get: func(j *Job) string { return strconv.Itoa(j.RWMixRead) }},
	{name: "rwmixwrite", help: "percentage of writes for rw and randrw (sets rwmixread to 100 minus it)",
		set: func(j *Job, v string) error {
			var w int
			if err := setPercent(&w, v); err != nil {
				return err
			}
			j.RWMixRead = 100 - w
			return nil
		},
		get: func(j *Job) string { return strconv.Itoa(100 - j.RWMixRead) }},
	{name: "random_distribution", help: "random (uniform), zipf[:THETA[:CENTER]], pareto[:H[:CENTER]], normal[:DEV%[:CENTER]] (gauss), zoned:ACCESS%/SIZE%:..., zoned_abs:ACCESS%/BYTES:... or sequence:I,J,... (fio's)",
		set: func(j *Job, v string) error { return setWith(&j.Distribution, v, ParseDistribution) },
		get: func(j *Job) string { return j.Distribution.String() }},
	{name: "norandommap", help: "1 draws uniform offsets independently; 0 (fio's default) hits every block once per pass",
		set: func(j *Job, v string) error { return setBool(&j.NoRandomMap, v) },
		get: func(j *Job) string { return formatBool(j.NoRandomMap) }},
	{name: "fsync", help: "issue a flush after every N writes of an instance; 0 never",
		set: func(j *Job, v string) error { return setInt(&j.Fsync, v) },
		get: func(j *Job) string { return strconv.Itoa(j.Fsync) }},
	{name: "prefill", help: "1 allocates the whole region before the run, untimed",
		set: func(j *Job, v string) error { return setBool(&j.Prefill, v) },
		get: func(j *Job) string { return formatBool(j.Prefill) }},
	{name: "reopen_every", help: "after every N requests completed (all instances together), drain, close the image cleanly and open it again from its files, dropping every cache; 0 never",
		set: func(j *Job, v string) error {
			if strings.HasPrefix(v, "-") {
				return errors.New("must not be negative (0 never reopens)")
			}
			return setUint(&j.ReopenEvery, v)
		},
		get: func(j *Job) string { return strconv.FormatUint(j.ReopenEvery, 10) }},
	{name: "cluster_size", help: "image cluster size, a power of two in [4k, 64m]",
		set: func(j *Job, v string) error { return setSize32(&j.ClusterSize, v) },
		get: func(j *Job) string { return FormatSize(uint64(j.ClusterSize)) }},
	{name: "table_size", help: "image table size in clusters, a power of two in [1, 16]",
		set: func(j *Job, v string) error {
			var n int
			if err := setInt(&n, v); err != nil {
				return err
			}
			if n > math.MaxUint32 {
				return errors.New("too large")
			}
			j.TableSize = uint32(n)
			return nil
		},
		get: func(j *Job) string { return strconv.FormatUint(uint64(j.TableSize), 10) }},
	{name: "image_size", help: "guest size of the image; 0 means just large enough for every region",
		set: func(j *Job, v string) error { return setSize(&j.ImageSize, v) },
		get: func(j *Job) string { return FormatSize(j.ImageSize) }},
	{name: "backing", help: "1 gives the image a raw backing file with a known pattern",
		set: func(j *Job, v string) error { return setBool(&j.Backing, v) },
		get: func(j *Job) string { return formatBool(j.Backing) }},
	{name: "fill", help: "how a new cluster's unwritten part is written: elide (no zeros where the file reads as zeros already; a backing file's data is copied with the guest data in one write), merged (fill and data as one write, as qcow2), separate (fill before, fill after, then data: QEMU's QED)",
		set: func(j *Job, v string) error {
			m, err := impl.ParseFillMode(v)
			if err != nil {
				return errors.New("want elide, merged or separate")
			}
			j.Fill = m
			return nil
		},
		get: func(j *Job) string { return j.Fill.String() }},
	{name: "grow", help: "1 has the image grow its file ahead of allocation, so no data write moves the file's size; 0 lets the writes past the end grow it (QEMU's way)",
		set: func(j *Job, v string) error {
			var on bool
			if err := setBool(&on, v); err != nil {
				return err
			}
			j.Grow = impl.GrowOff
			if on {
				j.Grow = impl.GrowAhead
			}
			return nil
		},
		get: func(j *Job) string { return formatBool(j.Grow == impl.GrowAhead) }},
	{name: "meta", help: "when L2 table updates are written: writeback (an allocating write completes once its data is written; dirty table sectors are written in batches before a flush completes, as qcow2's cache) or writethrough (each update written before its write completes, as QEMU's QED)",
		set: func(j *Job, v string) error {
			m, err := impl.ParseMetaMode(v)
			if err != nil {
				return errors.New("want writeback or writethrough")
			}
			j.Meta = m
			return nil
		},
		get: func(j *Job) string { return j.Meta.String() }},
}

// Scheme renders how the job's image allocates, as its job keys: "fill=elide
// grow=1 meta=writeback".
func (j *Job) Scheme() string {
	return fmt.Sprintf("fill=%s grow=%s meta=%s", j.Fill, formatBool(j.Grow == impl.GrowAhead), j.Meta)
}

// KeyHelp describes one job key for help text.
type KeyHelp struct {
	// Name is the key; Aliases are other names fio users may know.
	Name    string
	Aliases []string
	// Help says what the key does and what values it takes.
	Help string
	// Default is the key's value in DefaultJob.
	Default string
}

// Keys returns every key a job accepts, in help order.
func Keys() []KeyHelp {
	d := DefaultJob()
	out := make([]KeyHelp, len(jobKeys))
	for i, k := range jobKeys {
		help := k.help
		if k.helpFunc != nil {
			help = k.helpFunc()
		}
		out[i] = KeyHelp{Name: k.name, Aliases: append([]string(nil), k.aliases...), Help: help, Default: k.get(&d)}
	}
	return out
}

// canonicalKey returns the key's canonical name and descriptor, or nil.
func findKey(name string) *jobKey {
	for i := range jobKeys {
		k := &jobKeys[i]
		if k.name == name {
			return k
		}
		for _, a := range k.aliases {
			if a == name {
				return k
			}
		}
	}
	return nil
}

// KeyError is a job setting that is unknown or impossible. It names the
// key (its canonical name) and, when it came from a job file, the file and
// line.
type KeyError struct {
	// File and Line locate the setting; File is "" and Line 0 for settings
	// that did not come from a file.
	File string
	Line int
	// Job is the job (section) name, if known.
	Job string
	// Key is the key's canonical name ("bs"); Value the value as given,
	// or the job's value when the problem is a combination of keys.
	Key, Value string
	// Err says what is wrong.
	Err error
}

// Error renders "jobs.fio:12: [first-touch] bs=3000: not a multiple of 512 bytes".
func (e *KeyError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Job != "" {
		fmt.Fprintf(&b, "[%s] ", e.Job)
	}
	fmt.Fprintf(&b, "%s=%s: %v", printable(e.Key), printable(e.Value), e.Err)
	return b.String()
}

// printable returns s, or s quoted if it holds a character that does not
// print (a control character, invalid UTF-8), so that an error message
// stays one line and cannot drive the terminal.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Unwrap returns the cause.
func (e *KeyError) Unwrap() error { return e.Err }

// keyError returns a *KeyError for key of j, with j's value of key.
func (j *Job) keyError(key string, err error) *KeyError {
	v, _ := j.Get(key)
	return &KeyError{Job: j.Name, Key: key, Value: v, Err: err}
}

// Set sets key to value, as a line "key=value" of a job file would. An
// unknown key or a value that does not parse is a *KeyError; values that
// parse but do not fit the rest of the job are caught by Plan.
func (j *Job) Set(key, value string) error {
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	k := findKey(key)
	if k == nil {
		return &KeyError{Job: j.Name, Key: key, Value: value, Err: unknownKeyError(key)}
	}
	if err := k.set(j, value); err != nil {
		return &KeyError{Job: j.Name, Key: k.name, Value: value, Err: err}
	}
	return nil
}

// Get returns the job's value of key in the form Set accepts.
func (j *Job) Get(key string) (string, error) {
	k := findKey(key)
	if k == nil {
		return "", unknownKeyError(key)
	}
	return k.get(j), nil
}

// String renders the job as a job file section.
func (j Job) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]\n", j.Name)
	d := DefaultJob()
	for _, k := range jobKeys {
		v := k.get(&j)
		if k.name == "rwmixwrite" || k.optional && v == k.get(&d) {
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", k.name, v)
	}
	return b.String()
}

// unknownKeyError says why key is not a job key: a fio key runbench
// refuses says why; otherwise it suggests the closest key.
func unknownKeyError(key string) error {
	if why, ok := fioRefusal(key); ok {
		return errors.New(why)
	}
	if _, ok := fioIgnored[key]; ok || parserKeys[key] {
		return errors.New("a fio key a job file accepts (naming it when runbench ignores it), -set does not")
	}
	names := make([]string, 0, len(jobKeys)+len(fioIgnored))
	for _, k := range jobKeys {
		names = append(names, k.name)
	}
	for k := range fioIgnored {
		names = append(names, k)
	}
	sort.Strings(names)
	if s := closest(key, names); s != "" {
		return fmt.Errorf("unknown key (did you mean %s?)", s)
	}
	return errors.New("unknown key: neither runbench's nor a fio key it knows (runbench -keys lists the keys)")
}

// closest returns the name nearest to s by edit distance, if it is close.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinValues[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// ParseSize parses a byte count as fio does by default: a number with an
// optional suffix k, m, g or t (any case, optionally followed by "i" and
// "b"), all powers of 1024: "4k" is 4096.
func ParseSize(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			shift = 10
		case 'm':
			shift = 20
		case 'g':
			shift = 30
		case 't':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (want a whole number with an optional k, m, g or t suffix)", s)
	}
	if shift > 0 && n > math.MaxUint64>>shift {
		return 0, fmt.Errorf("size %q overflows", s)
	}
	return n << shift, nil
}

// FormatSize renders n with the largest power-of-1024 suffix that divides
// it exactly: 4096 is "4k", 1536 is "1536".
func FormatSize(n uint64) string {
	for _, u := range []struct {
		shift  uint
		suffix string
	}{{40, "t"}, {30, "g"}, {20, "m"}, {10, "k"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

func setSize(dst *uint64, v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

func setSize32(dst *uint32, v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n > math.MaxUint32 {
		return errors.New("too large")
	}
	*dst = uint32(n)
	return nil
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", v)
	}
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	if n < 0 {
		return errors.New("must not be negative")
	}
	*dst = n
	return nil
}

func setUint(dst *uint64, v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range (at most %d)", v, uint64(math.MaxUint64))
	}
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

func setPercent(dst *int, v string) error {
	var n int
	if err := setInt(&n, v); err != nil {
		return err
	}
	if n > 100 {
		return errors.New("a percentage must be in [0, 100]")
	}
	*dst = n
	return nil
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on", "":
		*dst = true
	case "0", "false", "no", "off":
		*dst = false
	default:
		return fmt.Errorf("%q is not a boolean (want 1 or 0)", v)
	}
	return nil
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// setDuration parses fio's time in seconds (runtime, ramp_time): see
// setDurationIn.
func setDuration(dst *time.Duration, v string) error { return setDurationIn(dst, v, time.Second) }

// timeUnits are fio's time suffixes (any case), longest first so that
// "ms" is not read as minutes and seconds.
var timeUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"msec", time.Millisecond}, {"usec", time.Microsecond}, {"sec", time.Second}, {"min", time.Minute},
	{"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond},
	{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
}

// setDurationIn parses fio's time: a bare number is in unit (seconds for
// runtime, microseconds for thinktime), a number with a suffix d, h, m, s
// (sec), ms (msec), us (usec) or ns in that unit, and otherwise a Go
// duration ("1h30m").
func setDurationIn(dst *time.Duration, v string, unit time.Duration) error {
	num, u := v, unit
	lower := strings.ToLower(strings.TrimSpace(v))
	for _, tu := range timeUnits {
		if n, ok := strings.CutSuffix(lower, tu.suffix); ok {
			if _, err := strconv.ParseFloat(n, 64); err == nil {
				num, u = n, tu.unit
			}
			break
		}
	}
	if f, err := strconv.ParseFloat(num, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f > math.MaxInt64/float64(u) {
			return fmt.Errorf("%q is not a duration in range", v)
		}
		d := time.Duration(f * float64(u))
		if d == 0 && f != 0 {
			if num == v {
				return fmt.Errorf("%q %s is less than 1ns: want 0 (no limit) or at least 1ns", v, unitName(unit))
			}
			return fmt.Errorf("%q is less than 1ns: want 0 (no limit) or at least 1ns", v)
		}
		*dst = d
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration (want a number, in %s without a suffix, or with d, h, m, s, ms or us)", v, unitName(unit))
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	if d == 0 && strings.ContainsAny(v, "123456789") {
		return fmt.Errorf("%q is less than 1ns: want 0 (no limit) or at least 1ns", v)
	}
	*dst = d
	return nil
}

// unitName names a bare number's unit in errors.
func unitName(u time.Duration) string {
	if u == time.Microsecond {
		return "microseconds"
	}
	return "seconds"
}

// syncWrites reports whether each write completes only once a flush
// after it has (SyncWrites, WriteFUA).
func (j Job) syncWrites() bool { return j.SyncWrites || j.WriteFUA }

// writeSize returns the size of the job's writes (bs=READ,WRITE).
func (j *Job) writeSize() uint64 {
	if j.WriteBlockSize != 0 {
		return j.WriteBlockSize
	}
	return j.BlockSize
}
