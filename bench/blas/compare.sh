#!/usr/bin/env bash
# Which BLAS and which kernel, measured side by side on this machine: a 1024^3
# sgemm (bench/blas/sgemm_probe.c) through Debian's OpenBLAS with each of its
# x86-64 kernels forced by OPENBLAS_CORETYPE, with the kernel OpenBLAS picks by
# itself, and through Debian's BLIS (runtime detection) when libblis-openmp-dev
# is installed (apt-get install libblis-openmp-dev; not a sadari dependency).
# Usage: bench/blas/compare.sh [n] [threads...]   (default 1024, threads 1 2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-1024}; shift || true
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=(1 2)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
arch=$(gcc -print-multiarch)
ob=/usr/lib/$arch/openblas-openmp
gcc -O2 "$here/sgemm_probe.c" -o "$out/probe_openblas" -I/usr/include/$arch/openblas-openmp \
  -L"$ob" -lopenblas -Wl,-rpath,"$ob"
if [ -e /usr/lib/$arch/blis-openmp/libblis.so ]; then
  gcc -O2 -DUSE_BLIS "$here/sgemm_probe.c" -o "$out/probe_blis" -I/usr/include/$arch/blis-openmp \
    -L/usr/lib/$arch/blis-openmp -lblis -Wl,-rpath,/usr/lib/$arch/blis-openmp -fopenmp
fi
for t in "${threads[@]}"; do
  echo "== $t thread(s), ${n}^3 sgemm =="
  (unset OPENBLAS_CORETYPE; OMP_NUM_THREADS=$t "$out/probe_openblas" "$n" | sed 's/^/  own choice: /')
  for core in PRESCOTT HASWELL SKYLAKEX; do
    OMP_NUM_THREADS=$t OPENBLAS_CORETYPE=$core "$out/probe_openblas" "$n" | sed "s/^/  $core: /"
  done
  [ -x "$out/probe_blis" ] && OMP_NUM_THREADS=$t BLIS_NUM_THREADS=$t "$out/probe_blis" "$n" | sed 's/^/  BLIS: /'
done
