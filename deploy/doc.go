// Package deploy holds, as files, the job definitions that run a
// runbench sweep on the schedulers people have, sharded (runbench -shard
// K/N) and then merged (runbench merge, runbench explore merge): a
// Kubernetes Indexed Job and its merge Job (kubernetes/), a Slurm job
// array, its merge and a script submitting both (slurm/), and the image
// they run (Dockerfile). It has no code; its test renders the
// definitions, runs their shell parts with runbench and sbatch replaced
// by stubs, and checks that the shards they ask for are 1 to N, each
// once, and that the merge gets every shard's directory.
package deploy
