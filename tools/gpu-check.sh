#!/usr/bin/env bash
# Builds the CUDA backend and runs its tests (test_cuda) on a machine with a Hopper
# GPU (H100/H200/H800): configure with -DSADARI_CUDA=ON, build test_cuda and the GPU
# timing tool fp8_gemm_gpu_bench only, run the tests, then (when a GPU is present)
# the timing tool: cuBLASLt BF16 vs cuBLASLt block-scaled FP8 vs sadari's sm_90a FP8
# GEMM (tools/gpu/fp8_gemm_gpu_bench.cpp), its table kept in
# $BUILD_DIR/fp8_gemm_gpu_bench.txt. About 3-5 minutes on a 16-core H200 box, most
# of it the build.
#
# usage: tools/gpu-check.sh [gtest options...]   e.g. --gtest_filter='CudaGemmLt.*'
# env:   BUILD_DIR (default build-gpu), JOBS (default: all cores), BUILD_TYPE (Release),
#        BENCH=0 to skip the timing tool, BENCH_ARGS (default "--json") for it.
#
# Exits non-zero when the build fails, a test fails, or a GPU is present but the
# tests skipped (the CUDA runtime did not see it), so "passed" means "ran on a GPU";
# also when the timing tool fails to run (its per-kernel errors are in its table).
# The timing tool runs even when a test failed (its figures and errors help find
# why); the exit status is then the tests'.
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

echo "== build test_cuda fp8_gemm_gpu_bench (-j$jobs)"
cmake --build "$build" --target test_cuda fp8_gemm_gpu_bench -j "$jobs"

echo "== run"
log="$build/test_cuda.log"
set +e
# Bounded: a kernel that deadlocks must end the check, not stall it (124: timed out).
timeout 600 "$build/tests/test_cuda" --gtest_color=no "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The timing tool needs a GPU; bounded so that a hung kernel cannot stall the check.
bench_status=0
if [[ $gpus -gt 0 && ${BENCH:-1} != 0 ]]; then
  echo "== fp8_gemm_gpu_bench (log: $build/fp8_gemm_gpu_bench.txt)"
  set +e
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of options
  timeout 300 "$build/tools/gpu/fp8_gemm_gpu_bench" ${BENCH_ARGS:---json} 2>&1 \
    | tee "$build/fp8_gemm_gpu_bench.txt"
  bench_status=${PIPESTATUS[0]}
  set -e
fi

if [[ $status -ne 0 ]]; then
  echo "gpu-check: FAILED (test_cuda exit status $status; log: $log)" >&2
  exit "$status"
fi
if [[ $gpus -gt 0 ]] && grep -q '^\[  SKIPPED \]' "$log"; then
  echo "gpu-check: FAILED: nvidia-smi sees $gpus GPU(s) but tests were skipped (see the skip reasons above)" >&2
  exit 1
fi
if [[ $bench_status -ne 0 ]]; then
  echo "gpu-check: FAILED: fp8_gemm_gpu_bench exit status $bench_status (124: timed out)" >&2
  exit 1
fi
if [[ $gpus -eq 0 ]]; then
  echo "gpu-check: OK, but no GPU was seen: only the device-free tests ran"
else
  echo "gpu-check: OK on $gpus GPU(s)"
fi
