package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// stub writes an executable shell script named name into dir that logs
// its arguments, one invocation a line, to log, and prints out.
func stub(t *testing.T, dir, name, log, out string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\n", log)
	if out != "" {
		script += out + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// logLines returns the invocations a stub logged.
func logLines(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// render substitutes the named variables in text as envsubst with a
// variable list does ($VAR and ${VAR}, those names only), and fails if
// a ${...} is left.
func render(t *testing.T, text string, vars map[string]string) string {
	t.Helper()
	for k, v := range vars {
		text = strings.ReplaceAll(text, "${"+k+"}", v)
		text = regexp.MustCompile(`\$`+k+`\b`).ReplaceAllLiteralString(text, v)
	}
	if i := strings.Index(text, "${"); i >= 0 {
		t.Fatalf("rendered text still has a variable: %q", text[i:min(len(text), i+30)])
	}
	return text
}

// block returns the YAML literal block scalar ("- |") that follows the
// line holding key, dedented.
func block(t *testing.T, yaml, key string) string {
	t.Helper()
	lines := strings.Split(yaml, "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == key })
	if i < 0 || i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "- |" {
		t.Fatalf("no %q followed by a literal block", key)
	}
	indent := len(lines[i+1]) - len(strings.TrimLeft(lines[i+1], " "))
	var out []string
	body := -1
	for _, l := range lines[i+2:] {
		n := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) != "" && n <= indent {
			break
		}
		if body < 0 {
			body = n
		}
		out = append(out, strings.TrimPrefix(l, strings.Repeat(" ", body)))
	}
	return strings.Join(out, "\n")
}

// field returns the value of the first "key: value" line of yaml.
func field(t *testing.T, yaml, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + key + `:\s*(\S.*)$`).FindStringSubmatch(yaml)
	if m == nil {
		t.Fatalf("no %s in the job", key)
	}
	return m[1]
}

// shardRun is one runbench invocation of a shard.
type shardRun struct {
	k, n int
	out  string
}

// checkShards parses the runbench invocations of a sweep and checks
// they run shards 1 to n, each once, of n, into distinct directories,
// with the given flags first; it returns the directories in shard order.
func checkShards(t *testing.T, calls []string, n int, flags string) []string {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(flags) + `\s*-shard (\d+)/(\d+) -out (\S+)$`)
	var runs []shardRun
	for _, c := range calls {
		m := re.FindStringSubmatch(c)
		if m == nil {
			t.Fatalf("runbench %q: not %q followed by -shard K/N -out DIR", c, flags)
		}
		k, _ := strconv.Atoi(m[1])
		nn, _ := strconv.Atoi(m[2])
		runs = append(runs, shardRun{k, nn, m[3]})
	}
	dirs := make([]string, n+1)
	for _, r := range runs {
		if r.n != n {
			t.Errorf("shard %d/%d of a sweep of %d", r.k, r.n, n)
		}
		if r.k < 1 || r.k > n || dirs[r.k] != "" {
			t.Errorf("shard %d/%d out of range or run twice", r.k, r.n)
			continue
		}
		dirs[r.k] = r.out
	}
	for k := 1; k <= n; k++ {
		if dirs[k] == "" {
			t.Errorf("shard %d/%d never runs", k, n)
		}
	}
	seen := map[string]bool{}
	for _, d := range dirs[1:] {
		if seen[d] {
			t.Errorf("two shards write %s", d)
		}
		seen[d] = true
	}
	return dirs[1:]
}

// checkMerge runs the merge step cmd, with runbench a stub logging to
// log, and checks it runs runbench once, as prefix followed by exactly
// the shards' directories, in order.
func checkMerge(t *testing.T, cmd *exec.Cmd, log, prefix string, dirs []string) {
	t.Helper()
	os.Remove(log)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("merge step: %v\n%s", err, out)
	}
	calls := logLines(t, log)
	if len(calls) != 1 {
		t.Fatalf("the merge step runs runbench %d times: %q", len(calls), calls)
	}
	want := prefix + " " + strings.Join(dirs, " ")
	if got := strings.Join(strings.Fields(calls[0]), " "); got != want {
		t.Errorf("merge runs\n  runbench %s\nwant\n  runbench %s", got, want)
	}
}

func needShells(t *testing.T) {
	t.Helper()
	for _, sh := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Skipf("skipping: no %s", sh)
		}
	}
}

// TestKubernetesJobs renders the Indexed Job and its merge Job for
// sweeps and explorations of several sizes, runs each pod's script with
// its completion index and runbench replaced by a stub, and checks the
// shards cover 1..N exactly once and the merge gets all of them.
func TestKubernetesJobs(t *testing.T) {
	needShells(t)
	sweep, err := os.ReadFile(filepath.Join("kubernetes", "sweep-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	merge, err := os.ReadFile(filepath.Join("kubernetes", "merge-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		shards     int
		args, want string // want: the merge's command
	}{
		{1, "", "merge -out RESULTS/merged"},
		{5, "-device nvme,ssd,hdd -repeat 10", "merge -out RESULTS/merged"},
		{16, "explore -mode impl -policy all", "explore merge"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("shards=%d/args=%s", tt.shards, tt.args), func(t *testing.T) {
			dir := t.TempDir()
			results := filepath.Join(dir, "results")
			os.MkdirAll(results, 0o755)
			vars := map[string]string{"SWEEP": "review", "SHARDS": strconv.Itoa(tt.shards), "IMAGE": "registry.example/runbench:v1", "RESULTS": results, "ARGS": tt.args}
			job := render(t, string(sweep), vars)
			for key, want := range map[string]string{"kind": "Job", "completionMode": "Indexed", "completions": vars["SHARDS"], "parallelism": vars["SHARDS"], "image": vars["IMAGE"], "restartPolicy": "Never"} {
				if got := field(t, job, key); got != want {
					t.Errorf("%s: %q, want %q", key, got, want)
				}
			}
			log := filepath.Join(dir, "runbench.log")
			stub(t, dir, "runbench", log, "")
			script := block(t, job, "args:")
			// Kubernetes gives pod i JOB_COMPLETION_INDEX=i, 0 to completions-1.
			for i := range tt.shards {
				cmd := exec.Command("sh", "-c", script)
				cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("pod %d: %v\n%s", i, err, out)
				}
			}
			dirs := checkShards(t, logLines(t, log), tt.shards, tt.args)
			for k, d := range dirs {
				if want := filepath.Join(results, fmt.Sprintf("shard-%d", k+1)); d != want {
					t.Errorf("shard %d writes %s, want %s", k+1, d, want)
				}
			}

			mjob := render(t, string(merge), vars)
			if got := field(t, mjob, "name"); got != "review-merge" {
				t.Errorf("merge job named %q", got)
			}
			cmd := exec.Command("sh", "-c", block(t, mjob, "args:"))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			checkMerge(t, cmd, log, strings.ReplaceAll(tt.want, "RESULTS", results), dirs)
		})
	}
}

// TestSlurmJobs submits the sweep through submit.sh with sbatch replaced
// by a stub, runs the array's tasks as Slurm would start them (the task
// IDs of --array, with SLURM_ARRAY_TASK_COUNT, MIN and MAX), then the
// merge, with runbench a stub, and checks the shards cover 1..N exactly
// once, the merge waits for the array and gets every shard; and that
// sweep.sbatch alone, with the array its #SBATCH line sets, does too,
// refuses an array not from 1, and with SHARDS runs some shards alone.
func TestSlurmJobs(t *testing.T) {
	needShells(t)
	sbatchArray := func(s string) (lo, hi int) {
		m := regexp.MustCompile(`--array=(\d+)-(\d+)`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no --array=LO-HI in %q", s)
		}
		lo, _ = strconv.Atoi(m[1])
		hi, _ = strconv.Atoi(m[2])
		return lo, hi
	}
	runTasks := func(t *testing.T, dir, script string, lo, hi int, env ...string) {
		t.Helper()
		for id := lo; id <= hi; id++ {
			cmd := exec.Command("bash", script)
			cmd.Env = append(append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"),
				fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", id), fmt.Sprintf("SLURM_ARRAY_TASK_COUNT=%d", hi-lo+1),
				fmt.Sprintf("SLURM_ARRAY_TASK_MIN=%d", lo), fmt.Sprintf("SLURM_ARRAY_TASK_MAX=%d", hi)), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("task %d: %v\n%s", id, err, out)
			}
		}
	}
	sweep, _ := filepath.Abs(filepath.Join("slurm", "sweep.sbatch"))
	merge, _ := filepath.Abs(filepath.Join("slurm", "merge.sbatch"))

	t.Run("sbatch alone", func(t *testing.T) {
		text, err := os.ReadFile(sweep)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := sbatchArray(string(text))
		dir := t.TempDir()
		log := filepath.Join(dir, "runbench.log")
		stub(t, dir, "runbench", log, "")
		runTasks(t, dir, sweep, lo, hi, "RESULTS="+dir, "ARGS=-qd 1,32")
		checkShards(t, logLines(t, log), hi, "-qd 1,32")
		// An array that does not start at 1 is refused.
		cmd := exec.Command("bash", sweep)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "RESULTS="+dir,
			"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_MIN=2", "SLURM_ARRAY_TASK_MAX=4")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "the array must be 1-N") {
			t.Errorf("an array of 2-4 ran: %v\n%s", err, out)
		}
		// With SHARDS, some tasks alone: a failed one submitted again.
		os.Remove(log)
		runTasks(t, dir, sweep, 3, 3, "RESULTS="+dir, "ARGS=-qd 1", "SHARDS=5")
		if calls := logLines(t, log); len(calls) != 1 || !strings.HasPrefix(calls[0], "-qd 1 -shard 3/5 -out ") {
			t.Errorf("task 3 alone with SHARDS=5 runs %q", calls)
		}
		cmd = exec.Command("bash", sweep)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "RESULTS="+dir, "SHARDS=5",
			"SLURM_ARRAY_TASK_ID=6", "SLURM_ARRAY_TASK_COUNT=1", "SLURM_ARRAY_TASK_MIN=6", "SLURM_ARRAY_TASK_MAX=6")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "task 6 is no shard of 5") {
			t.Errorf("task 6 of 5 ran: %v\n%s", err, out)
		}
	})

	for _, tt := range []struct {
		shards     int
		args, want string
	}{
		{3, "-device nvme,ssd -repeat 7", "merge -out RESULTS/merged"},
		{12, "explore -mode model -requests 4", "explore merge"},
	} {
		t.Run(fmt.Sprintf("submit/shards=%d", tt.shards), func(t *testing.T) {
			dir := t.TempDir()
			results := filepath.Join(dir, "results")
			sblog, rblog := filepath.Join(dir, "sbatch.log"), filepath.Join(dir, "runbench.log")
			// The stub prints job IDs 100, 101, ... as sbatch --parsable does.
			stub(t, dir, "sbatch", sblog, fmt.Sprintf("echo $((99 + $(wc -l < %q)))\";cluster\"", sblog))
			stub(t, dir, "runbench", rblog, "")
			cmd := exec.Command("bash", filepath.Join("slurm", "submit.sh"), "-p", "batch")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), fmt.Sprintf("SHARDS=%d", tt.shards), "RESULTS="+results, "ARGS="+tt.args)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("submit.sh: %v\n%s", err, out)
			}
			subs := logLines(t, sblog)
			if len(subs) != 2 || !strings.HasSuffix(subs[0], "-p batch "+sweep) || !strings.HasSuffix(subs[1], "-p batch "+merge) {
				t.Fatalf("sbatch calls %q, want the sweep then the merge, each with -p batch", subs)
			}
			if !strings.Contains(subs[1], "--dependency=afterok:100 ") {
				t.Errorf("the merge does not wait for the array (job 100) to succeed: %q", subs[1])
			}
			if !strings.Contains(string(out), "job array 100") || !strings.Contains(string(out), "merge: job 101") {
				t.Errorf("submit.sh says %q", out)
			}
			lo, hi := sbatchArray(subs[0])
			if lo != 1 || hi != tt.shards {
				t.Errorf("array %d-%d, want 1-%d", lo, hi, tt.shards)
			}
			// sbatch exports the submitting environment (--export=ALL, its default).
			env := []string{fmt.Sprintf("SHARDS=%d", tt.shards), "RESULTS=" + results, "ARGS=" + tt.args}
			runTasks(t, dir, sweep, lo, hi, env...)
			dirs := checkShards(t, logLines(t, rblog), tt.shards, tt.args)
			mc := exec.Command("bash", merge)
			mc.Env = append(append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH")), env...)
			checkMerge(t, mc, rblog, strings.ReplaceAll(tt.want, "RESULTS", results), dirs)
		})
	}
}
