// The CUDA device layer: status checks, device queries, the device allocator for
// Tensor, and host <-> device copies.
//
// Errors: every failing CUDA or cuBLAS(Lt) call becomes a sadari::Error (the one
// error mechanism, core/error.h) whose `where` is the file:line of the call, whose
// `what` names the call and the library's own message, and whose hint says what to do
// for the failures a user can act on (out of memory, no driver, wrong GPU).
// Kernel launches are checked with SADARI_CUDA_CHECK_LAUNCH() right after the
// launch: that catches bad launch configurations at once; faults inside a kernel
// surface at the next synchronising call, which is then the one reported.
//
// Streams: every function that enqueues work takes a cudaStream_t; nullptr means the
// legacy default stream. Nothing here creates streams.
// Devices: functions act on the calling thread's current device (cudaSetDevice).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "core/tensor.h"

namespace sadari::cuda {

// Throw sadari::Error for a failed call. `call` is the source text of the call,
// file/line its location; status is the library's status code (cublasStatus_t is
// passed as int so that this header does not need cuBLAS). NCCL's errors are
// comm/nccl's business (comm/nccl/nccl_check.h).
[[noreturn]] void throw_cuda_error(const char* call, cudaError_t status, const char* file,
                                   int line);
[[noreturn]] void throw_cublas_error(const char* call, int status, const char* file, int line);

}  // namespace sadari::cuda

#define SADARI_CUDA_CHECK(call)                                                  \
  do {                                                                           \
    const cudaError_t sadari_status_ = (call);                                   \
    if (sadari_status_ != cudaSuccess)                                           \
      ::sadari::cuda::throw_cuda_error(#call, sadari_status_, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: reports (and clears) a launch-configuration error.
#define SADARI_CUDA_CHECK_LAUNCH() SADARI_CUDA_CHECK(cudaGetLastError())

#define SADARI_CUBLAS_CHECK(call)                                                     \
  do {                                                                                \
    const int sadari_status_ = static_cast<int>(call);                                \
    if (sadari_status_ != 0 /* CUBLAS_STATUS_SUCCESS */)                              \
      ::sadari::cuda::throw_cublas_error(#call, sadari_status_, __FILE__, __LINE__); \
  } while (0)

namespace sadari::cuda {

// Number of CUDA devices this process sees. Returns 0 (never throws) when there is
// no device or no usable driver, so that callers can fall back to the CPU or skip.
int device_count();

// Why device_count() is 0, in words ("no CUDA driver", "no CUDA device", ...);
// empty when it is not 0.
std::string no_device_reason();

struct DeviceInfo {
  int index = 0;
  std::string name;            // "NVIDIA H200"
  int cc_major = 0, cc_minor = 0;  // compute capability: 9.0 for Hopper
  size_t total_memory = 0;     // bytes
  int sm_count = 0;
};
// REQUIRES: 0 <= index < device_count(); throws Error otherwise.
DeviceInfo device_info(int index);

// Makes `index` the calling thread's current device; throws Error naming the
// device count when it does not exist.
void set_device(int index);
int current_device();

// Registers the cudaMalloc / cudaFree allocator for Device::cuda with
// Storage::register_device_allocator, so Tensor::empty(shape, dtype, Device::cuda)
// works. Idempotent and thread-safe; touches no device, so it may be called on a
// machine without one (allocations then throw Error with a hint).
// Allocations land on the current device of the allocating thread; storage must be
// freed when no kernel still uses it (cudaFree synchronises the device, which
// guarantees that, at a cost: hot paths should reuse buffers, not reallocate).
void init_cuda_backend();

// Host <-> device copies of whole tensors (dense, same shape and dtype).
//
// copy_async: enqueues dst <- src on `stream` (any direction: cpu/cuda to cpu/cuda).
//   REQUIRES: same dtype and element count; host memory stays alive and unmodified
//   until the stream reaches the copy (pageable memory may be copied synchronously,
//   but that is not guaranteed).
// to_device / to_host: allocate the destination, copy on `stream`, and synchronise
//   the stream before returning, so the result is ready and the source may be freed.
void copy_async(const Tensor& dst, const Tensor& src, cudaStream_t stream);
Tensor to_device(const Tensor& host, cudaStream_t stream = nullptr);
Tensor to_host(const Tensor& device, cudaStream_t stream = nullptr);

// Enqueues a zero fill of a device tensor on `stream` (Tensor::fill_zero is host only).
void fill_zero_async(const Tensor& device, cudaStream_t stream);

}  // namespace sadari::cuda
