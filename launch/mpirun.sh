#!/usr/bin/env bash
# Starts `sadari train CONFIG [ARGS...]` with OpenMPI's mpirun: one process per GPU
# (or per group of cores on a CPU box), ranks placed node by node, each rank's
# threads bound to its own cores. See launch/README.md.
#
#   launch/mpirun.sh [options] CONFIG [sadari train args, e.g. --set train.steps=10]
#
# Options:
#   -n N            processes in total (default: per-node count x nodes in --hostfile, else per-node count)
#   -N PPN          processes per node (default: GPUs on this node from nvidia-smi; without
#                   GPUs: N on one node, or 1 per node of --hostfile)
#   --hostfile F    OpenMPI hostfile ("node01 slots=8" per line); default: this node only
#   --net-if IF     network interface for MPI's TCP traffic and NCCL's bootstrap (e.g. ib0, eth0)
#   --oversubscribe more processes than cores (CPU tests): no core binding
#   --dry-run       print the mpirun command and exit
# Environment: SADARI (path of the sadari binary; default `sadari` on PATH, else
# build/sadari of this checkout). NCCL_*, UCX_*, OMP_*, SADARI_* and CUDA_VISIBLE_DEVICES
# variables of the calling shell are forwarded to every rank.
set -euo pipefail

# The help is the comment block above.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-2}"; }

np="" ppn="" hostfile="" net_if="" oversubscribe=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) np="${2:?-n needs a number}"; shift 2 ;;
    -N) ppn="${2:?-N needs a number}"; shift 2 ;;
    --hostfile) hostfile="${2:?--hostfile needs a file}"; shift 2 ;;
    --net-if) net_if="${2:?--net-if needs an interface name}"; shift 2 ;;
    --oversubscribe) oversubscribe=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) echo "mpirun.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "mpirun.sh: missing CONFIG" >&2; usage; }
config="$1"; shift

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sadari="${SADARI:-$(command -v sadari || echo "$checkout/build/sadari")}"
[ -x "$sadari" ] || { echo "mpirun.sh: no sadari binary at $sadari (build it, or set SADARI=/path/to/sadari)" >&2; exit 2; }

# One process per GPU: the per-node count defaults to this node's GPU count.
if [ -z "$ppn" ]; then
  ppn=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  if [ "$ppn" -lt 1 ]; then
    # No GPU: a CPU run, all -n processes on this node unless a hostfile spreads them.
    if [ -n "$np" ] && [ -z "$hostfile" ]; then ppn="$np"; else ppn=1; fi
  fi
fi
nodes=1
if [ -n "$hostfile" ]; then
  nodes=$(grep -cvE '^[[:space:]]*(#|$)' "$hostfile")
fi
[ -n "$np" ] || np=$((ppn * nodes))
# Cores each rank owns on its node (its OpenMP threads run there).
cores_per_rank=$(( $(nproc --all) / ppn ))
[ "$cores_per_rank" -ge 1 ] || cores_per_rank=1

cmd=(mpirun -np "$np")
# Containers often run as root; OpenMPI refuses that unless told.
[ "$(id -u)" -ne 0 ] || cmd+=(--allow-run-as-root)
[ -z "$hostfile" ] || cmd+=(--hostfile "$hostfile")
if [ "$oversubscribe" -eq 1 ]; then
  # More ranks than cores (tests on a small box): binding would stack ranks on
  # the same core, so leave scheduling to the kernel.
  cmd+=(--oversubscribe --map-by "ppr:$ppn:node" --bind-to none)
  cores_per_rank=1
  bound=0
else
  # ppr:PPN:node = PPN processes on each node, PE=C = C cores per process;
  # ranks are numbered slot by slot, so node 0 holds ranks 0..PPN-1 and an
  # expert-parallel group (consecutive ranks) stays inside a node.
  cmd+=(--map-by "ppr:$ppn:node:PE=$cores_per_rank" --rank-by slot --bind-to core)
  bound=1
fi
# OpenMP threads: one per owned core. When the rank is bound, its threads are
# pinned to its cores (OpenMP's places are the cores of the rank's binding);
# unbound ranks must not pin, or every rank's first thread lands on core 0.
cmd+=(-x "OMP_NUM_THREADS=${OMP_NUM_THREADS:-$cores_per_rank}")
if [ "$bound" -eq 1 ]; then
  cmd+=(-x "OMP_PROC_BIND=${OMP_PROC_BIND:-close}" -x "OMP_PLACES=${OMP_PLACES:-cores}")
fi
# NCCL reports its own errors and warnings (with rank and device) in the job log.
cmd+=(-x "NCCL_DEBUG=${NCCL_DEBUG:-WARN}")
if [ -n "$net_if" ]; then
  # MPI's TCP traffic and its out-of-band wire-up on the chosen network, and the
  # same interface for NCCL's bootstrap sockets (not docker0 or a management NIC).
  cmd+=(--mca btl_tcp_if_include "$net_if" --mca oob_tcp_if_include "$net_if"
        -x "NCCL_SOCKET_IFNAME=$net_if")
fi
# Forward the caller's NCCL/UCX/CUDA/sadari settings (IB HCAs, GID index, ...).
while IFS='=' read -r name _; do
  case "$name" in
    NCCL_DEBUG|OMP_NUM_THREADS|OMP_PROC_BIND|OMP_PLACES) ;;  # already set above
    NCCL_*|UCX_*|SADARI_*|OMP_*|CUDA_VISIBLE_DEVICES) cmd+=(-x "$name") ;;
  esac
done < <(env)
# A rank that exits non-zero ends the job (OpenMPI's default, stated here because
# sadari relies on it: a failed rank must not leave the others waiting).
cmd+=(--mca orte_abort_on_non_zero_status 1)
cmd+=("$sadari" train "$config" "$@")

if [ "$dry_run" -eq 1 ]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
