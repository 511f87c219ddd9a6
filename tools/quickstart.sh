#!/usr/bin/env bash
# The README's main command: installs what is missing, builds in Release and
# trains the default tiny MoE on the CPU over 2 MPI ranks (data parallel 2, the
# 8 experts split over them by expert parallelism 2), showing progress and ending
# with the final validation loss. On a one-core machine it trains in one process.
# Extra arguments go to `sadari train` (e.g. --set train.steps=50).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sadari
if [ "$(nproc)" -ge 2 ]; then
  exec launch/mpirun.sh -n 2 configs/tiny-moe.yaml --set parallel.dp=2 --set parallel.ep=2 "$@"
fi
exec build/sadari train configs/tiny-moe.yaml "$@"
