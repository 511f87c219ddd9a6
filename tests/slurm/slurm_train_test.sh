#!/usr/bin/env bash
# slurm.train_dp2: launch/slurm/train.sbatch on a real one-node Slurm.
#
# Starts munged, slurmctld and slurmd (Debian's packages) on this machine with a
# munge key, slurm.conf, state, spool and logs in a fresh temporary directory and
# ports nobody listens on, then
#   1. checks that srun offers --mpi=pmix and that `srun --mpi=pmix -n 2` builds an
#      MPI world whose ranks agree with comm/launch_env (test_mpi LaunchEnvUnderMpi);
#   2. runs tiny-moe for a few steps in one process (the reference);
#   3. submits launch/slurm/train.sbatch with `sbatch --wait`, 2 tasks, dp=2;
#   4. requires exit 0 and the same training and validation losses as the
#      reference, step by step, within 1e-5 relative (dp=2 is parity with one
#      process; a dp=2 config cannot run in a one-process world, so success also
#      shows that srun built a two-rank MPI world).
# Every daemon and job process it started is stopped on exit (trap), found by a
# marker variable in its environment, never by name.
#
# Needs root (the daemons run as SlurmUser root) and the packages of
# tools/install-deps.sh; without them it exits 77, which ctest reports as SKIPPED.
#
# Usage: slurm_train_test.sh --sadari BIN --test-mpi BIN --source DIR
set -uo pipefail

SKIP=77
skip() { echo "SKIPPED: $*"; exit "$SKIP"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

sadari="" test_mpi="" source_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sadari) sadari="$2"; shift 2 ;;
    --test-mpi) test_mpi="$2"; shift 2 ;;
    --source) source_dir="$2"; shift 2 ;;
    *) fail "unknown argument $1" ;;
  esac
done
[ -x "$sadari" ] && [ -x "$test_mpi" ] && [ -d "$source_dir" ] ||
  fail "usage: $0 --sadari BIN --test-mpi BIN --source DIR"
sadari="$(realpath "$sadari")" test_mpi="$(realpath "$test_mpi")" source_dir="$(realpath "$source_dir")"

PATH="$PATH:/usr/sbin:/sbin"  # the daemons live in sbin, which a user's PATH may lack
[ "$(id -u)" -eq 0 ] || skip "needs root: slurmctld and slurmd run as SlurmUser root"
for tool in munged slurmctld slurmd sbatch srun sinfo scontrol scancel squeue; do
  command -v "$tool" >/dev/null ||
    skip "$tool not installed (tools/install-deps.sh installs slurmctld slurmd slurm-client munge)"
done

# A job of an outer Slurm (CI on a cluster) must not leak into this one.
while IFS='=' read -r name _; do
  case "$name" in SLURM_*|SBATCH_*|SRUN_*|SALLOC_*) unset "$name" ;; esac
done < <(env)
unset OMP_NUM_THREADS

tmp="$(mktemp -d /tmp/sadari-slurm-test.XXXXXX)"
chmod 755 "$tmp"
# Every daemon, client and job task started below gets this marker in its
# environment (not this script: it is passed per command with `env`), so that
# cleanup can find exactly them, including job steps that outlive slurmd.
marker="SADARI_SLURM_TEST_DIR=$tmp"
conf="$tmp/slurm.conf"
export SLURM_CONF="$conf"
daemon_pids=()

show_logs() {
  for f in "$tmp"/log/*.log "$tmp"/job.out; do
    [ -f "$f" ] || continue
    echo "---- $f (last 30 lines)"
    tail -n 30 "$f"
  done
}

# PIDs of the processes whose environment holds the marker.
marked_processes() {
  local p
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "$marker" && echo "$p"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT
  if [ -S "$tmp/munge/munge.socket" ]; then
    scancel --quiet --full "--name=sadari-slurm-test" 2>/dev/null || true
    local jobs
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    [ -z "$jobs" ] || scancel $jobs 2>/dev/null || true
  fi
  # Daemons one by one in reverse order of start (slurmd, slurmctld, munged):
  # slurmd and slurmctld still talk to munged while they shut down.
  local i pid
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
    pid="${daemon_pids[i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Job steps (slurmstepd, tasks) that outlived their daemon.
  for pid in $(marked_processes); do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then show_logs; fi
  if [ -n "$(marked_processes)" ]; then
    echo "FAILED: processes still running after cleanup: $(marked_processes)" >&2
    rc=1
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two TCP ports nothing on this machine uses (local ports in /proc/net/tcp{,6}).
used_ports=" "
while read -r _ local_address _; do
  [[ "$local_address" == *:* ]] || continue
  used_ports+="$((16#${local_address##*:})) "
done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -v local_address)
free_port() {
  local port
  while :; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    case "$used_ports" in *" $port "*) continue ;; esac
    used_ports+="$port "
    echo "$port"
    return
  done
}
ctld_port="$(free_port)"
slurmd_port="$(free_port)"

# This node as slurmd sees it (hostname, CPUs, sockets, cores, memory): the node
# line of slurm.conf must match the hardware or slurmd refuses to register.
node_line="$(slurmd -C 2>/dev/null | head -n 1)"
node="$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node_line")"
cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")"
[ -n "$node" ] && [ -n "$cpus" ] || skip "slurmd -C cannot describe this machine: '$node_line'"

mkdir -p "$tmp"/{munge,state,spool,log,run}
chmod 700 "$tmp/munge"

cat >"$conf" <<EOF
# One-node cluster for tests/slurm (written by slurm_train_test.sh).
ClusterName=sadaritest
# The controller is this node, reached over loopback whatever DNS says.
SlurmctldHost=$node(127.0.0.1)
# Daemons run as root (the test runs as root; no slurm user is needed).
SlurmUser=root
SlurmdUser=root
# Free ports, so a real Slurm on 6817/6818 (or a second test) is not disturbed.
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Munge for authentication (Slurm 22.05 has no other), on our own socket and key.
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.socket
CredType=cred/munge
# All state, spool, pid and log files inside the temporary directory.
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: tracking by /proc parentage and binding by sched_setaffinity work
# in containers (and gVisor), where cgroup plugins often cannot.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
# No accounting database or job completion log.
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Cores as the unit of allocation, like a GPU cluster's --cpus-per-task.
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Jobs choose their MPI plugin (the template asks for pmix).
MpiDefault=none
# A node that was down comes back as soon as slurmd registers.
ReturnToService=2
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=sadaritest Nodes=$node Default=YES MaxTime=10 State=UP
EOF

# munge: a fresh random key, readable only by root.
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"
env "$marker" munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" \
  >/dev/null 2>&1 &
daemon_pids+=($!)

wait_for() {  # wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "$what not ready after ${seconds}s"
}
wait_for 10 "munged" test -S "$tmp/munge/munge.socket"

env "$marker" slurmctld -D -f "$conf" >"$tmp/log/slurmctld.stdout" 2>&1 &
daemon_pids+=($!)
wait_for 20 "slurmctld" scontrol ping
env "$marker" slurmd -D -f "$conf" -N "$node" >"$tmp/log/slurmd.stdout" 2>&1 &
daemon_pids+=($!)
node_idle() { [ "$(sinfo -h -n "$node" -o %t)" = "idle" ]; }
wait_for 30 "slurmd (node $node idle)" node_idle
echo "slurm: node $node ($cpus CPUs) idle; slurmctld port $ctld_port, slurmd port $slurmd_port"

# run_bounded SECONDS DIR OUT COMMAND...: runs COMMAND in DIR with the marker, at
# most SECONDS, output to OUT. In the background plus `wait`, so that a signal to
# this script runs the cleanup at once instead of after the command. The limits
# of all steps add up to less than ctest's TIMEOUT, whose SIGKILL would skip cleanup.
run_bounded() {
  local seconds="$1" dir="$2" out="$3"
  shift 3
  (cd "$dir" && exec env "$marker" timeout "$seconds" "$@") >"$out" 2>&1 &
  wait $!
}

# 1. The MPI machinery: srun's PMIx plugin with Debian's OpenMPI.
srun --mpi=list 2>&1 | grep -q pmix || fail "srun offers no pmix plugin: $(srun --mpi=list 2>&1 | tr '\n' ' ')"
run_bounded 60 "$tmp" "$tmp/srun-mpi.out" env SADARI_COMM_TIMEOUT_S=30 OMP_NUM_THREADS=1 \
  srun --mpi=pmix -n 2 --kill-on-bad-exit=1 --job-name=sadari-slurm-test \
  "$test_mpi" --gtest_filter='LaunchEnvUnderMpi.*' ||
  { cat "$tmp/srun-mpi.out"; fail "srun --mpi=pmix -n 2 test_mpi (launch_env against the MPI world)"; }
grep -q "PASSED.*1 test" "$tmp/srun-mpi.out" || { cat "$tmp/srun-mpi.out"; fail "LaunchEnvUnderMpi did not run"; }
echo "srun --mpi=pmix -n 2: MPI world and launch_env agree"

# 2. The one-process reference.
train_args=(--set train.steps=5 --set optim.warmup_steps=2 --set train.eval_every=5 --set train.eval_batches=2
            --set logging.progress=plain)
run_bounded 60 "$tmp" "$tmp/ref.out" env OMP_NUM_THREADS=1 \
  "$sadari" train "$source_dir/configs/tiny-moe.yaml" "${train_args[@]}" --set logging.run_dir="$tmp/run-ref" ||
  { cat "$tmp/ref.out"; fail "one-process reference run"; }

# 3. The template, as a user submits it (from the checkout, relative config path).
# Overrides of its 8-GPU defaults for this node: 2 tasks, 1 CPU each, no GPUs.
sbatch_args=(--wait --job-name=sadari-slurm-test --nodes=1 --ntasks-per-node=2 --cpus-per-task=1
             --gpus-per-node=0 --time=5 --output="$tmp/job.out")
[ "$cpus" -ge 2 ] || sbatch_args+=(--overcommit)  # a 1-CPU machine still runs 2 tasks
export SADARI="$sadari"
run_bounded 120 "$source_dir" "$tmp/sbatch.out" sbatch "${sbatch_args[@]}" launch/slurm/train.sbatch \
  configs/tiny-moe.yaml --set parallel.dp=2 "${train_args[@]}" --set logging.run_dir="$tmp/run-dp2"
job_rc=$?
cat "$tmp/sbatch.out"
[ "$job_rc" -eq 0 ] || { cat "$tmp/job.out"; fail "sbatch --wait launch/slurm/train.sbatch exited $job_rc"; }

# 4. Parity with the reference, step by step.
values() {  # values KEY FILE: the KEY values of metrics.jsonl, one per line
  sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" "$2"
}
for key in loss val_loss; do
  ref="$(values "$key" "$tmp/run-ref/metrics.jsonl")"
  got="$(values "$key" "$tmp/run-dp2/metrics.jsonl" 2>/dev/null)"
  [ -n "$ref" ] || fail "the reference run logged no $key"
  paste <(echo "$ref") <(echo "$got") | awk -v key="$key" -v number='^-?[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?$' '
    function abs(x) { return x < 0 ? -x : x }
    {
      n++
      if ($1 !~ number || $2 !~ number) { printf "%s %d: not a finite number: one process \"%s\", dp=2 \"%s\"\n", key, n, $1, $2; bad = 1; next }
      scale = abs($1) > abs($2) ? abs($1) : abs($2)
      if (abs($1 - $2) > 1e-5 * scale) { printf "%s %d: one process %s, dp=2 %s\n", key, n, $1, $2; bad = 1 }
    }
    END { exit bad }' || { cat "$tmp/job.out"; fail "dp=2 under Slurm differs from one process ($key)"; }
  [ "$(echo "$ref" | wc -l)" -eq "$(echo "$got" | wc -l)" ] ||
    fail "dp=2 logged $(echo "$got" | wc -l) ${key}es, the reference $(echo "$ref" | wc -l)"
  echo "$key: $(echo "$got" | wc -l) values equal to one process within 1e-5 relative ($(echo "$got" | tr '\n' ' '))"
done
echo "PASSED: launch/slurm/train.sbatch ran dp=2 on Slurm with one-process losses"
