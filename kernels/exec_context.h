// ExecContext: where the compute interface (kernels/ops.h) runs a kernel, and
// with what.
//
// A backend makes its contexts: the CPU backend has one, ExecContext::cpu()
// (OpenMP threads, OpenBLAS); a device backend sets `device` and `stream` and
// keeps the rest of its state (GEMM handles, workspace, its allocator) behind
// `backend_state`, which it owns. Every tensor an operation reads or writes must
// live on ctx.device: the interface checks, and says which tensor does not.
//
// Ownership: a context borrows what it points to; the backend that made it
// keeps those alive for as long as the context is used. Copies are cheap and
// refer to the same state. Thread-safety: a context is read-only; two threads
// may use one context when the backend allows it (the CPU's does).
#pragma once

#include "core/dtype.h"

namespace sadari {

struct ExecContext {
  Device device = Device::cpu;
  void* stream = nullptr;         // the backend's stream (CUDA: a cudaStream_t); unused on the CPU
  void* backend_state = nullptr;  // GEMM handles, workspace, allocator: the backend's own

  // The CPU backend's context.
  static const ExecContext& cpu();
};

}  // namespace sadari
