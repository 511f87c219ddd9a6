// Which GEMM library and kernel this process computes with, and the choice of
// OpenBLAS's kernel before the library does any work.
//
// Why: Debian's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels
// from the CPU's model number. A CPU it does not know, such as the Xeons of
// cloud VMs that report model 0xCF, gets the generic "Prescott" SSE3 kernels:
// 16 GFLOP/s per core where the AVX-512 kernels do 20x that (docs/performance.md).
// OpenBLAS reads its choice from OPENBLAS_CORETYPE once, in a library
// constructor that runs before main(), so the choice can only be changed by
// starting the program again with the variable set.
//
// The rule (select_gemm_kernel): only when OpenBLAS settled for a kernel below
// what the CPU's instruction set can run, pick the kernel by instruction set:
// AVX-512 F/BW/DQ/VL -> SkylakeX; AVX2 + FMA -> Haswell (Zen on AMD, the same
// kernels). A kernel OpenBLAS chose from a model it knows (Haswell, Zen,
// SkylakeX, Cooperlake, SapphireRapids) is kept, so AMD EPYC machines keep
// OpenBLAS's own choice. A user's OPENBLAS_CORETYPE always wins.
//
// Results: a kernel computes the same products with a different summation order
// inside a block; runs stay bit-reproducible for a given kernel (and
// independent of the thread count: kernels/cpu/gemm.cpp), and tests/reference
// pins the kernel its recorded sequences were made with.
#pragma once

#include <string>

namespace sadari {

struct GemmBackendInfo {
  std::string library;    // e.g. "OpenBLAS 0.3.21 (OpenMP)"
  std::string kernel;     // OpenBLAS's core name, e.g. "SkylakeX"
  std::string chosen_by;  // "OpenBLAS", "sadari (OpenBLAS detected Prescott)", "OPENBLAS_CORETYPE"
};

// Call first in main(), before any other work (no threads started, nothing
// printed): if OpenBLAS settled for a kernel below the CPU's instruction set and
// the user did not set OPENBLAS_CORETYPE, replaces this process (execv of
// /proc/self/exe, same argv, same pid: safe under mpirun and srun) by itself
// with OPENBLAS_CORETYPE set. Returns when nothing needs to change, when this
// already is the restarted process, or when the restart failed (the run then
// goes on with OpenBLAS's kernel and gemm_backend_info() says why).
void select_gemm_kernel(char** argv);

GemmBackendInfo gemm_backend_info();

// One line for start-up messages: "OpenBLAS 0.3.21 (OpenMP), kernel SkylakeX
// (chosen by sadari: OpenBLAS detected Prescott)".
std::string describe_gemm_backend();

}  // namespace sadari
