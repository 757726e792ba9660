#!/bin/bash
# submit.sh submits a runbench sweep to Slurm: the job array of SHARDS
# shards (sweep.sbatch) and its merge (merge.sbatch), which starts once
# every task of the array has succeeded. It prints both job IDs.
#
#   SHARDS=16 RESULTS=/shared/sweeps/review ARGS='-device nvme,ssd,hdd -repeat 10' deploy/slurm/submit.sh
#   SHARDS=8 RESULTS=/shared/sweeps/explore ARGS='explore -mode impl -policy all -config w3r1-2x2x1' deploy/slurm/submit.sh
#
# RESULTS must be on a file system every node sees; RUNBENCH names the
# binary where runbench is not on PATH. Extra arguments go to both
# sbatch calls (-A account, -p partition).
set -euo pipefail
: "${SHARDS:?set SHARDS, the number of shards}"
: "${RESULTS:?set RESULTS to a directory every node sees}"
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RESULTS"
export SHARDS RESULTS ARGS="${ARGS:-}"
array=$(sbatch --parsable --array="1-$SHARDS" "$@" "$here/sweep.sbatch")
array=${array%%;*} # --parsable prints "jobid[;cluster]"
merge=$(sbatch --parsable --dependency="afterok:$array" "$@" "$here/merge.sbatch")
echo "sweep: job array $array ($SHARDS shards into $RESULTS/shard-K); merge: job ${merge%%;*} (into $RESULTS/merged)"
