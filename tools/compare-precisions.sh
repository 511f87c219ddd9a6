#!/usr/bin/env bash
# Trains one config in several precisions (train.precision: f32, bf16, fp8; one
# seed, one data order) and prints the validation losses side by side with the
# relative difference of each against the first precision named: the figures of
# docs/performance.md "FP8 training against BF16".
#
# usage: tools/compare-precisions.sh CONFIG [PRECISION...]   (default: bf16 fp8)
# env:   SADARI (default build/sadari), OUT (default build/precision-runs),
#        THREADS (OpenMP threads per run, default 1: the runs go side by side).
# Runs in parallel, one per precision; extra `--set` overrides go in SETS, e.g.
#   SETS="--set train.steps=200" tools/compare-precisions.sh configs/tiny-moe.yaml
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:?usage: tools/compare-precisions.sh CONFIG [PRECISION...]}
shift
precisions=("$@")
[[ ${#precisions[@]} -gt 0 ]] || precisions=(bf16 fp8)
sadari=${SADARI:-build/sadari}
out=${OUT:-build/precision-runs}
[[ -x $sadari ]] || { echo "compare-precisions: $sadari not found; build first (cmake --build build)" >&2; exit 1; }
name=$(basename "$config" .yaml)
mkdir -p "$out"

pids=()
for p in "${precisions[@]}"; do
  dir="$out/${name}_$p"
  rm -rf "$dir"
  # shellcheck disable=SC2086  # SETS is a list of options
  OMP_NUM_THREADS=${THREADS:-1} OMP_WAIT_POLICY=passive "$sadari" train "$config" \
    --set train.precision="$p" --set logging.progress=plain --set logging.run_dir="$dir" ${SETS:-} \
    >"$out/${name}_$p.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
if [[ $status -ne 0 ]]; then
  echo "compare-precisions: a run failed; logs in $out/${name}_*.log" >&2
  exit 1
fi

python3 - "$out" "$name" "${precisions[@]}" <<'PY'
import json, sys
out, name, precisions = sys.argv[1], sys.argv[2], sys.argv[3:]
val = {}
for p in precisions:
    v = {}
    with open(f"{out}/{name}_{p}/metrics.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if "val_loss" in row:
                v[row["step"]] = row["val_loss"]
    val[p] = v
base = precisions[0]
print(f"{name}: validation loss per step; relative difference against {base}")
print("| step | " + " | ".join(precisions) + " | " +
      " | ".join(f"{p} vs {base}" for p in precisions[1:]) + " |")
print("|---" * (1 + 2 * len(precisions) - 1) + "|")
for step in sorted(val[base]):
    cells = [f"{val[p][step]:.4f}" for p in precisions]
    diffs = [f"{100 * (val[p][step] / val[base][step] - 1):+.2f}%" for p in precisions[1:]]
    print(f"| {step} | " + " | ".join(cells + diffs) + " |")
PY
