#!/usr/bin/env bash
# Builds the CUDA backend and runs its tests (test_cuda) on a machine with a Hopper
# GPU (H100/H200/H800): configure with -DSADARI_CUDA=ON, build test_cuda only, run it.
#
# usage: tools/gpu-check.sh [gtest options...]   e.g. --gtest_filter='CudaGemmLt.*'
# env:   BUILD_DIR (default build-gpu), JOBS (default: all cores), BUILD_TYPE (Release)
#
# Exits non-zero when the build fails, a test fails, or a GPU is present but the
# tests skipped (the CUDA runtime did not see it), so "passed" means "ran on a GPU".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
jobs=${JOBS:-$(nproc)}

if ! command -v nvcc >/dev/null; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH=/usr/local/cuda/bin:$PATH
  else
    echo "gpu-check: nvcc not found; install the CUDA toolkit or put its bin/ on PATH" >&2
    exit 1
  fi
fi

gpus=0
if command -v nvidia-smi >/dev/null; then
  echo "== GPUs (nvidia-smi)"
  nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv,noheader \
    || true
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  if nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | grep -qv '^9\.0'; then
    echo "gpu-check: warning: a GPU is not compute capability 9.0; this build carries sm_90a code only" >&2
  fi
else
  echo "gpu-check: warning: nvidia-smi not found; the tests will skip if no GPU is visible" >&2
fi

echo "== configure ($build)"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DSADARI_CUDA=ON -DSADARI_BENCH=OFF \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
grep -E 'CUDA compiler identification|sadari: NCCL' "$build/configure.log" || true

echo "== build test_cuda (-j$jobs)"
cmake --build "$build" --target test_cuda -j "$jobs"

echo "== run"
log="$build/test_cuda.log"
set +e
"$build/tests/test_cuda" --gtest_color=no "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  echo "gpu-check: FAILED (test_cuda exit status $status; log: $log)" >&2
  exit "$status"
fi
if [[ $gpus -gt 0 ]] && grep -q '^\[  SKIPPED \]' "$log"; then
  echo "gpu-check: FAILED: nvidia-smi sees $gpus GPU(s) but tests were skipped (see the skip reasons above)" >&2
  exit 1
fi
if [[ $gpus -eq 0 ]]; then
  echo "gpu-check: OK, but no GPU was seen: only the device-free tests ran"
else
  echo "gpu-check: OK on $gpus GPU(s)"
fi
