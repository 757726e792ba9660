package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/results"
)

// nbdFlagOf maps the bench.NBDConfig fields a bench.SettingError names
// to nbd's flags.
var nbdFlagOf = map[string]string{
	"Dir": "dir", "Policies": "policies", "Baselines": "baselines", "Count": "count", "QD": "qd",
	"Repeat": "repeat", "AIO": "aio", "Out": "out",
}

// nbdMain is the "nbd" subcommand: the same fio job through NBD, side by
// side, against our image under each policy (served in-process, as
// qedimg serve serves it) and against qemu-nbd -f qed and -f qcow2
// (bench.NBDSetup), interleaved, with the results in an ordinary results
// directory: runs.json (the qemu-nbd runs as baselines), summary, report.
// Exit status: 0, 1 when a run failed, a tool is missing or the results
// could not be written, 2 for bad flags, 128 plus the signal's number
// when interrupted.
func nbdMain(args []string, stdout, stderr io.Writer) int {
	cfg := bench.NBDConfig{}
	var policies, baselines string
	fs := flag.NewFlagSet("runbench nbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Dir, "dir", "", "existing `directory` on the disk to measure (a tmpfs refuses O_DIRECT); runbench nbd works in a directory of its own inside it and removes it")
	fs.StringVar(&policies, "policies", "safe", "comma-separated `policies` our image is served under, safe (every policy that claims to be safe) or all: "+strings.Join(model.Names(), ", "))
	fs.StringVar(&baselines, "baselines", bench.BaselinesAuto, "`list` of qemu-nbd baselines ("+strings.Join(results.NBDBaselineNames(), ", ")+"), auto (both, where qemu-nbd and qemu-img are installed) or none")
	fs.IntVar(&cfg.Count, "count", bench.DefaultNBDCount, "4 KiB writes per run, each to a fresh 64 KiB cluster (`N`)")
	fs.IntVar(&cfg.QD, "qd", bench.DefaultNBDQD, "fio's iodepth (`N`)")
	fs.IntVar(&cfg.Repeat, "repeat", bench.DefaultNBDRepeat, "rounds, each running every target once, in a rotated order")
	fs.Int64Var(&cfg.Seed, "seed", 1, "`seed` of the write order: round k uses seed+k-1, the same order for every target of the round")
	fs.BoolVar(&cfg.Direct, "direct", true, "O_DIRECT on both sides (our file backend's, qemu-nbd --cache=none); false: the page cache (--cache=writeback)")
	fs.StringVar(&cfg.AIO, "aio", bench.AIOAuto, "how both servers submit I/O, as QEMU's aio= option: io_uring, threads or auto")
	fs.StringVar(&cfg.Out, "out", "results/latest-nbd", "results `directory` (runs.json, runs.csv, bench.txt, summary.txt, report)")
	fs.BoolVar(&cfg.NoPlots, "noplots", false, "skip the figures")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench nbd -dir DIR [-policies LIST] [-baselines LIST] [-count N] [-qd N] [-repeat N] [-aio MODE] [-out DIR]\n\nRuns one fio job (nbd engine, 4 KiB first-touch writes in a shuffled order, then a flush) against our image\nunder each policy and against qemu-nbd -f qed and -f qcow2, side by side, and writes the results.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseSubcommand(fs, args, stderr); !ok {
		return code
	}
	if err := nbdConfig(fs, &cfg, policies, baselines); err != nil {
		return fail(stderr, err)
	}
	cfg.Command = strings.TrimSpace("runbench nbd " + strings.Join(args, " "))
	s, err := bench.NewNBD(cfg)
	if se := (*bench.SettingError)(nil); errors.As(err, &se) {
		err = usageError{fmt.Errorf("-%s: %w", nbdFlagOf[se.Setting], se.Err)}
	}
	if err != nil {
		return fail(stderr, err)
	}
	ctx, stop := signalContext()
	defer stop()
	_, err = s.Run(ctx, stdout)
	return fail(stderr, err)
}

// nbdConfig checks the flags bench.NewNBD does not and puts the
// policies and baselines into cfg.
func nbdConfig(fs *flag.FlagSet, cfg *bench.NBDConfig, policies, baselines string) error {
	if err := checkEmptyFlags(fs); err != nil {
		return err
	}
	if cfg.Dir == "" {
		return usageError{errors.New("-dir: missing (an existing directory on the disk to measure, as /var/tmp)")}
	}
	if _, err := workloads.SplitList(policies); err != nil {
		return usageError{fmt.Errorf("-policies: %w", err)}
	}
	if strings.TrimSpace(policies) != "safe" {
		regs, err := model.ParseList(policies)
		if err != nil {
			return usageError{fmt.Errorf("-policies: %w", err)}
		}
		cfg.Policies = regs
	}
	list, err := workloads.SplitList(baselines)
	if err != nil {
		return usageError{fmt.Errorf("-baselines: %w", err)}
	}
	cfg.Baselines = list
	return nil
}
