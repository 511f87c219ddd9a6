#!/usr/bin/env bash
# The README's test command: installs what is missing, builds in Release, runs the
# whole suite through ctest, then checks that the CUDA backend compiles and links
# (SADARI_CUDA=ON) where the CUDA toolkit is installed. Exit status: non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSADARI_CUDA=OFF >/dev/null
cmake --build build -j"$jobs"
# Tests run two at a time: several are multi-threaded already.
(cd build && ctest --output-on-failure -j2 --timeout 900)
# The README's main command (tools/quickstart.sh) runs build/sadari, in one process
# and over 2 ranks through launch/mpirun.sh: check both paths, end to end.
smoke=(--set train.steps=5 --set train.eval_every=5 --set optim.warmup_steps=2 --set logging.progress=plain)
echo "== smoke: build/sadari train configs/tiny-moe.yaml (5 steps, 1 process, then 2 ranks dp2 ep2) =="
build/sadari train configs/tiny-moe.yaml "${smoke[@]}" --set logging.run_dir=build/smoke-run | tail -n 1
launch/mpirun.sh -n 2 configs/tiny-moe.yaml "${smoke[@]}" --set logging.run_dir=build/smoke-run-dp2 \
  --set parallel.dp=2 --set parallel.ep=2 | tail -n 1

if command -v nvcc >/dev/null 2>&1; then
  echo "== CUDA backend: compile and link only (no GPU is needed for this step) =="
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DSADARI_CUDA=ON -DSADARI_BENCH=OFF >/dev/null
  # The CUDA code: the kernels and FP8 GEMMs with their tests, and the NCCL
  # communicator with its tests. (The CPU layers above them compile the same way
  # with CUDA on; rebuilding them here would double the step for nothing new.)
  cmake --build build-cuda -j"$jobs" --target test_cuda test_nccl
  echo "CUDA build: OK (kernels are checked against the CPU on a GPU by tools/gpu-check.sh)"
else
  echo "== CUDA backend: skipped, nvcc not found (install the CUDA toolkit to check it) =="
fi
