#!/usr/bin/env bash
# The README's main command: installs what is missing, builds in Release and
# trains the default tiny MoE on the CPU, showing progress and ending with the
# final validation loss. Extra arguments go to `sadari train` (e.g. --set train.steps=50).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sadari
exec build/sadari train configs/tiny-moe.yaml "$@"
