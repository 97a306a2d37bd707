#!/bin/sh
# crashtest on a Slurm cluster: a job array runs one shard per task, then a job that
# depends on the whole array joins their results with `crashtest merge`; its exit status
# is the verdict.
#
#SBATCH --job-name=crashtest
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --time=00:20:00
#SBATCH --output=crashtest-%A_%a.out
#
# --array is the shard count: N tasks, 0-3 for N = 4 (1-4 works the same: see below).
# --cpus-per-task is what crashtest runs trials on (--jobs defaults to the cores it may
# use). --time covers the budget (90 s), the trials in flight when it ends, and the wait.
#
# From the repository root, on a shared file system, with crashtest built there:
#   cargo build --release --locked && export PATH="$PWD/target/release:$PATH"
#   harness/ci/slurm-array.sh                 # submits the array, then the merge after it
#   cat crashtest-merge-JOBID.out             # the merge's verdict; its exit code is the gate
# sbatch passes PATH on to the jobs. Results go to crashtest-results/ARRAYJOBID/shard-K/
# (CRASHTEST_RESULTS moves them), junit.xml and report.html beside them. Change the
# scenario and the budget with SCENARIO and BUDGET, e.g. SCENARIO=scenarios/smoke.toml.
#
# crashtest traces only its own children with ptrace: no privilege is needed, unless the
# nodes' Yama ptrace_scope is 3 (no ptrace at all); crashtest then exits 3 and says so.
#
# The three ways this script runs, and tests/integration/cluster.rs runs the last two as
# Slurm would (with a small N and a fast scenario):
#   harness/ci/slurm-array.sh             (no SLURM_ARRAY_TASK_ID) submit both jobs
#   (inside the array)                    run shard SLURM_ARRAY_TASK_ID
#   harness/ci/slurm-array.sh merge JOBID merge the shards of array job JOBID
set -eu

SCENARIO="${SCENARIO:-scenarios/torture.toml}"
BUDGET="${BUDGET:-90s}"
RESULTS="${CRASHTEST_RESULTS:-$PWD/crashtest-results}"

if [ "${1:-}" = merge ]; then
    # Every shard 1..N (N as the tasks noted it) must have ended with 0 or 1 and reported;
    # exit 0 passes the gate, 1 fails it (2 and 3 mean the job or crashtest is broken).
    dir="$RESULTS/${2:?usage: $0 merge ARRAYJOBID}"
    n=$(cat "$dir/shards" 2>/dev/null) || { echo "no shard of job $2 started ($dir)" >&2; exit 1; }
    set --
    for k in $(seq 1 "$n"); do
        status=$(cat "$dir/shard-$k/exit-status" 2>/dev/null) || status=""
        case "$status" in
            0 | 1) ;;
            "") echo "shard $k of $n did not finish" >&2; exit 1 ;;
            *) echo "shard $k of $n failed: crashtest exited $status" >&2; exit 1 ;;
        esac
        for f in "$dir/shard-$k"/*.jsonl; do
            [ -e "$f" ] || { echo "no results from shard $k of $n" >&2; exit 1; }
            set -- "$@" "$f"
        done
    done
    exec crashtest merge "$@" --junit "$dir/junit.xml" --report "$dir/report.html"
fi

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    # Slurm numbers the tasks as --array says: 0-3 gives 0..3, 1-4 gives 1..4. --shard K/N
    # is 1-based, so K counts from the array's lowest index. The range must be contiguous
    # (no step, no list): crashtest refuses a K outside 1..N (exit 2).
    k=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1))
    n=$SLURM_ARRAY_TASK_COUNT
    dir="$RESULTS/$SLURM_ARRAY_JOB_ID"
    mkdir -p "$dir"
    echo "$n" >"$dir/shards"
    rm -rf "$dir/shard-$k"
    status=0
    crashtest run "$SCENARIO" --budget "$BUDGET" --shard "$k/$n" \
        --results "$dir/shard-$k" || status=$?
    # For the merge: how this shard ended.
    mkdir -p "$dir/shard-$k" && echo "$status" >"$dir/shard-$k/exit-status"
    # Exit 1 (the scenario's expect not met) is left to the merge, which judges all shards
    # together; 2 (usage/scenario error), 3 (harness failure) and 130 (interrupted: Slurm
    # sends SIGTERM at the time limit or on scancel) fail this task, and the merge too.
    case "$status" in
        0 | 1) exit 0 ;;
        *) echo "crashtest exited $status" >&2; exit "$status" ;;
    esac
fi

# Not inside Slurm: submit the array (this script, its #SBATCH lines) and the merge,
# which starts once every task has ended, however it ended (afterany), and judges them.
array=$(sbatch --parsable "$0")
array=${array%%;*} # --parsable prints JOBID or JOBID;CLUSTER
sbatch --parsable --dependency="afterany:$array" --job-name=crashtest-merge \
    --output="crashtest-merge-%j.out" --time=00:15:00 --wrap "$0 merge $array"
echo "submitted shard array $array and its merge; results in $RESULTS/$array" >&2
