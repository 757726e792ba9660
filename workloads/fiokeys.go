package workloads

import (
	"fmt"
	"strings"
)

// This file holds what runbench makes of fio's keys that are not job
// keys: those a job file may set because they change nothing runbench
// measures (fioIgnored, with why), and those it refuses because they
// would (fioRefused, with why), and fio's I/O engines.

// Why fio keys are ignored: each names what the key is about and why it
// does not change what runbench measures. A job file's ignored keys are
// reported in one line, grouped by these.
const (
	whyTarget    = "fio's target file or device: runbench runs each group of jobs on a new QED image of its own (see -backend and -dir), a job's file a part of it"
	whyEngineOpt = "options of fio's I/O engine, which runbench replaces"
	whyDirect    = "O_DIRECT is runbench's -direct flag, for the file backend"
	whyProcess   = "fio's processes, threads, CPU and memory placement"
	whyReport    = "fio's reporting and logs: runbench reports its own figures"
	whyObsolete  = "deprecated in fio, where it does nothing"
	whyVerify    = "fio's data verification after the I/O: runbench checks every run's data itself with -linearizability, outside the measured phase"
	whyRandom    = "fio's random generator and seed: every random choice comes from runbench's -seed"
	whyRateMin   = "a minimum rate that only fails a slow job: runbench reports the rate achieved"
	whyThinkSpin = "how fio spends thinktime, spinning then sleeping: the stall is as long"
	whyDefault   = "set to fio's default, which is runbench's behaviour"
	whyData      = "the data written: runbench's QED image neither compresses nor deduplicates nor detects zero writes, so the bytes written change nothing measured; runbench writes its own seeded data, so that its checkers can tell writes apart"
	whyPrio      = "the priority of all of a job's I/O: runbench's image passes no priority down to the device, so it orders a job's requests against nothing (jobs running together must agree on it)"
	whyOnError   = "what fio does after an I/O error: a runbench run stops at its first failed request and records the error, so a run that completes did the same I/O"
	whyReadFUA   = "FUA on a read has the device read its media rather than its cache: QEMU's block layer has no FUA read (a guest's is an ordinary read), and runbench's image keeps no guest data cached that FUA would bypass, so it is an ordinary read"
)

// fioIgnored maps fio keys a job file may set, changing nothing runbench
// measures, to why.
var fioIgnored = map[string]string{}

func init() {
	for why, keys := range map[string]string{
		whyTarget: "directory filename_format unique_filename unlink unlink_each_loop allow_file_create allow_mounted_write " +
			"create_on_open create_serialize create_fsync lockfile invalidate fallocate replay_redirect opendir",
		whyEngineOpt: "sqthread_poll sqthread_poll_cpu registerfiles fixedbufs nonvectored hipri hipri_percentage uncached force_async " +
			"cmd_type libblkio_driver libblkio_path libblkio_pre_connect_props libblkio_pre_start_props libblkio_vectored " +
			"libblkio_write_zeroes_on_trim libblkio_wait_mode libblkio_force_enable_completion_eventfd uri clientname clustername " +
			"pool rbdname busy_poll conf cont chunk_size object_class svcl gpu_dev_ids gpu_dev_id cuda_io rocm_io nfs_url volume " +
			"brick namenode hostname port protocol listen pingpong ttl interface verb bindname hdfsdirectory hdfs_use_direct " +
			"io_submit_mode userspace_reap http_host http_user http_pass https http_mode http_verbose http_s3_key http_s3_keyid " +
			"http_s3_region http_swift_auth_token http_s3_sse_customer_key http_s3_sse_customer_algorithm http_s3_storage_class " +
			"xnvme_async xnvme_sync xnvme_admin xnvme_dev_nsid xnvme_dev_subnqn xnvme_iovec xnvme_mem program arguments " +
			"grace_time std_redirect donorname inplace skip_bad",
		whyDirect:    "direct buffered",
		whyProcess:   "thread numa_cpu_nodes numa_mem_policy cpus_allowed cpus_allowed_policy cpumask nice gtod_cpu uid gid mem iomem mem_align iomem_align hugepage-size read_iolog_chunked",
		whyReport:    "description write_lat_log write_bw_log write_iops_log write_hist_log log_avg_msec log_hist_msec log_hist_coarseness log_offset log_prio log_issue_time log_max_value log_compression log_compression_cpus log_store_compressed log_unix_epoch log_alternate_epoch log_alternate_epoch_clock_id per_job_logs clat_percentiles lat_percentiles slat_percentiles percentile_list disable_lat disable_clat disable_slat disable_bw_measurement disable_bw gtod_reduce stats unified_rw_reporting write_iolog significant_figures unit_base block_error_percentiles bwavgtime iopsavgtime error_dump",
		whyObsolete:  "flow_watermark",
		whyVerify:    "verify do_verify verify_fatal verify_dump verify_pattern verify_interval verify_async verify_async_cpus verify_write_sequence verify_offset verify_header_seed verify_state_save verify_state_load experimental_verify",
		whyRandom:    "randrepeat allrandrepeat randseed random_generator",
		whyRateMin:   "ratemin rate_min rate_iops_min ratecycle rate_cycle",
		whyThinkSpin: "thinktime_spin",
		whyData: "buffer_pattern dedupe_percentage dedupe_mode dedupe_working_set_percentage dedupe_global buffer_compress_percentage " +
			"buffer_compress_chunk compress_percentage compress_chunk scramble_buffers zero_buffers refill_buffers",
		whyPrio:    "prio",
		whyReadFUA: "readfua",
		whyOnError: "continue_on_error ignore_error exitall_on_error",
	} {
		for _, k := range strings.Fields(keys) {
			fioIgnored[k] = why
		}
	}
}

// fioRefusedKey is a fio key runbench refuses: why, and the values that
// change nothing (fio's default), accepted as ignored.
type fioRefusedKey struct {
	why     string
	neutral []string
	// neutralWhy says why a neutral value changes nothing; "" means
	// whyDefault.
	neutralWhy string
}

// fioRefused maps fio keys that would change what runbench measures, and
// that it does not implement, to why.
var fioRefused = map[string]fioRefusedKey{}

func init() {
	for _, r := range []struct {
		keys, why, neutral string
	}{
		{"atomic", "atomic writes: runbench's image has none", "0"},
		{"write_zone_remainder", "with zonemode=zbd, fio then writes the remainder of a zone too small for a block rather than finish the zone, which runbench does not model", "0"},
		{"recover_zbd_write_error", "recovery from a zoned device's write errors (with continue_on_error): runbench's emulated zones fail no write, and a runbench run stops at its first failed request", "0"},
		{"max_latency", "fio fails the job at the first request slower than it; runbench does not", "0"},
		{"cmdprio_percentage cmdprio_bssplit cmdprio cmdprio_class cmdprio_hint",
			"per-command priorities order a job's own requests against each other at the device; runbench's image passes no priority down", ""},
		{"prioclass", "the idle class (3): the kernel's I/O schedulers serve idle-class I/O only when nothing else waits, each holding it back its own way; classes 0 to 2 are accepted", "0 1 2"},
		{"priohint", "priority hints drive device features such as command duration limits, which may abort a request that runs long; runbench's image has none", "0"},
		{"ioscheduler", "switches the device's I/O scheduler, which changes the system, not the job", ""},
		{"fdatasync end_fsync fsync_on_close write_barrier sync_file_range",
			"a flush pattern runbench does not issue (it has fsync=N, a flush after every N writes)", "0"},
		{"write_mode", "the write command of fio's io_uring_cmd engine: zone_append is a zoned device's zone append (the device places the data at the zone's write pointer and says where), uncor, zeroes and verify are other commands than a write; runbench's image has only writes (write, fio's default, is accepted)", "write"},
		{"sg_write_mode pi_act pi_chk apptag apptag_mask md_per_io_size fdp fdp_pli fdp_pli_select dataplacement plids num_range sprandom spr_op spr_num_regions",
			"a command feature of the device that runbench's image does not have", "0"},
		{"verify_only trim_verify_zero",
			"verification reads among the job's own I/O change what is measured", "0"},
		{"percentage_random", "a mix of random and sequential offsets runbench does not generate", "100"},
		{"bs_unaligned blocksize_unaligned bs_is_seq_rand offset_align", "block sizes or offsets not aligned as runbench's requests are", "0"},
		{"trim_percentage trim_backlog trim_backlog_batch", "trims of verified blocks, part of fio's verify, which runbench does not do (rw=trim, randtrim, trimwrite and randtrimwrite issue trims)", "0"},
		{"create_only pre_read exec_prerun exec_postrun fill_fs_only", "work before or instead of the job's I/O that runbench does not do", "0"},
		{"kb_base", "sizes in powers of 1000: runbench reads 4k as 4096, as fio's default", "1024"},
		{"thinktime_blocks_type thinktime_iotime rate_ignore_thinktime", "a thinktime rule runbench does not implement (its stalls follow thinktime_blocks completions)", "complete 0"},
		{"replay_align replay_scale merge_blktrace_file merge_blktrace_scalars merge_blktrace_iters",
			"rewrites an iolog's offsets or merges several; runbench replays one as it is", "0"},
		{"cpuload cpumode cpuchunks exit_on_io_done", "options of the cpuio engine, which does no I/O", ""},
	} {
		for _, k := range strings.Fields(r.keys) {
			fioRefused[k] = fioRefusedKey{why: r.why, neutral: strings.Fields(r.neutral)}
		}
	}
	pc := fioRefused["prioclass"]
	pc.neutralWhy = whyPrio
	fioRefused["prioclass"] = pc
}

// fioRefusal says why runbench refuses the fio key, if it does.
func fioRefusal(key string) (string, bool) {
	r, ok := fioRefused[key]
	if !ok {
		return "", false
	}
	return "not supported: " + r.why, true
}

// neutralFioValue reports whether value of a refused fio key changes
// nothing (fio's default, mostly), so that a job file may set it, and
// why.
func neutralFioValue(key, value string) (string, bool) {
	r, ok := fioRefused[key]
	if !ok {
		return "", false
	}
	for _, n := range r.neutral {
		if strings.EqualFold(value, n) {
			if r.neutralWhy != "" {
				return r.neutralWhy, true
			}
			return whyDefault, true
		}
	}
	return "", false
}

// engine classes.
const (
	engineAsync = iota // keeps iodepth requests in flight
	engineSync         // one request in flight per instance
)

// fioEngines classifies fio's I/O engines whose work is reads and writes
// of data at offsets (of a file, device or object): runbench does the
// same reads and writes on its image. fio's null engine only pretends
// to do them, which leaves the same requests for runbench to do.
var fioEngines = map[string]int{}

// fioNoDataEngines are fio's engines whose work is not reads and writes
// of data at offsets, with what it is.
var fioNoDataEngines = map[string]string{
	"cpuio": "burns CPU", "exec": "runs a program", "filecreate": "creates files", "filestat": "stats files",
	"filedelete": "deletes files", "dircreate": "creates directories", "dirstat": "stats directories",
	"dirdelete": "deletes directories", "ftruncate": "truncates a file", "falloc": "allocates file space (fallocate)",
	"e4defrag": "moves a file's extents", "page_fault": "faults memory pages in", "net": "sends over a network",
	"netsplice": "sends over a network", "rdma": "transfers memory over RDMA",
}

func init() {
	for _, e := range strings.Fields("sync psync vsync pvsync pvsync2 mmap splice dev-dax libpmem pmemblk ime_psync ime_psyncv libhdfs libiscsi sg gfapi http mtd libzbc libcufile libhipfile") {
		fioEngines[e] = engineSync
	}
	for _, e := range strings.Fields("libaio io_uring io_uring_cmd posixaio solarisaio windowsaio null cpp_null nbd nfs rbd rados dfs libblkio xnvme ime_aio gfapi_async spdk") {
		fioEngines[e] = engineAsync
	}
}

// engineClass returns the class of fio's engine e, or why it is refused.
func engineClass(e string) (int, error) {
	if c, ok := fioEngines[e]; ok {
		return c, nil
	}
	if what, ok := fioNoDataEngines[e]; ok {
		return 0, fmt.Errorf("not supported: fio's %s engine %s, not reads and writes of data; runbench would measure something else", e, what)
	}
	return 0, fmt.Errorf("unknown I/O engine %q", e)
}

// engineNote says what runbench makes of fio's engine e, for the line of
// ignored keys.
func engineNote(e string) string {
	c, _ := engineClass(e)
	switch {
	case e == "null" || e == "cpp_null":
		return "fio's " + e + " engine only pretends to do the I/O; runbench does it on its image"
	case c == engineSync:
		return e + " is synchronous, so its jobs keep one request in flight: queue depth 1 unless -qd"
	}
	return "runbench does the I/O on its image, see -backend and -aio"
}
