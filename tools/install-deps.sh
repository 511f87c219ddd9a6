#!/usr/bin/env bash
# Installs sadari's build and test dependencies from Debian 12 packages, only
# those missing. Needs root (or sudo). Nothing else is downloaded, ever.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libyaml-cpp-dev          # config files
  libopenblas-openmp-dev   # GEMM (the OpenMP build: nests cleanly inside our OpenMP loops)
  libgomp1                 # OpenMP runtime (ships with g++)
  libgtest-dev googletest  # unit tests
  libbenchmark-dev         # bench/
  libprotobuf-dev protobuf-compiler  # plans and checkpoint manifests
  libopenmpi-dev openmpi-bin         # multi-rank runs
  # tests/slurm starts a one-node Slurm (its own munged, slurmctld and slurmd in a
  # temporary directory): the daemons, the client commands (sbatch, srun, sinfo)
  # and munge. slurmd pulls in slurm-wlm-basic-plugins, whose mpi_pmix_v4 plugin
  # talks to the PMIx 4 (libpmix2) that Debian's OpenMPI is built against.
  slurmctld slurmd slurm-client munge
  # tests/checkpoint reads the safetensors export with Hugging Face's own reader
  # (the `safetensors` package from PyPI, in a virtual environment: see the end).
  python3 python3-venv
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages from PyPI, in <repo>/.venv (never the system's Python):
# safetensors, the independent reader of `sadari ckpt export` files in the tests.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
if ! "$venv/bin/python3" -c "import safetensors" >/dev/null 2>&1; then
  echo "install-deps: creating $venv with the safetensors package (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check safetensors
fi
