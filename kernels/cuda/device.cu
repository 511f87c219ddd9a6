#include "kernels/cuda/device.h"

#include <cublasLt.h>

#include <mutex>

#include "core/error.h"

namespace sadari::cuda {

namespace {

std::string location(const char* file, int line) { return detail::cat(file, ":", line); }

// Hints for the failures a user can do something about; the rest are bugs or
// hardware faults, for which the call and the message are the useful part.
std::string cuda_hint(cudaError_t status) {
  switch (status) {
    case cudaErrorMemoryAllocation:
      return "the GPU is out of memory: reduce the micro-batch size or sequence length, or "
             "use more pipeline stages; check nvidia-smi for other processes on the GPU";
    case cudaErrorNoDevice:
      return "no CUDA device is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES";
    case cudaErrorInsufficientDriver:
      return "the NVIDIA driver is missing or older than this CUDA runtime: install a driver "
             "that supports CUDA " + std::to_string(CUDART_VERSION / 1000) + "." +
             std::to_string(CUDART_VERSION % 1000 / 10);
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidDeviceFunction:
      return "this build has code for sm_90a (H100/H200/H800) only: run on a Hopper GPU";
    case cudaErrorInvalidDevice:
      return "the device index is out of range: check CUDA_VISIBLE_DEVICES and ranks per node";
    default:
      return {};
  }
}

}  // namespace

void throw_cuda_error(const char* call, cudaError_t status, const char* file, int line) {
  // Clear the non-sticky error so that the next unrelated check does not report it
  // again (sticky errors - a fault inside a kernel - stay, as they must).
  (void)cudaGetLastError();
  fail(detail::cat(call, " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status),
                   ")"),
       location(file, line), cuda_hint(status));
}

void throw_cublas_error(const char* call, int status, const char* file, int line) {
  const auto s = static_cast<cublasStatus_t>(status);
  std::string hint;
  if (s == CUBLAS_STATUS_ALLOC_FAILED) hint = cuda_hint(cudaErrorMemoryAllocation);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED)
    hint = "no cuBLASLt kernel supports these types, shapes or alignments";
  fail(detail::cat(call, " failed: ", cublasLtGetStatusName(s), " (", cublasLtGetStatusString(s),
                   ")"),
       location(file, line), hint);
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::string no_device_reason() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  (void)cudaGetLastError();
  if (status == cudaSuccess) return n > 0 ? std::string() : std::string("no CUDA device");
  if (status == cudaErrorInsufficientDriver) return "no CUDA driver, or one too old";
  if (status == cudaErrorNoDevice) return "no CUDA device";
  return cudaGetErrorString(status);
}

DeviceInfo device_info(int index) {
  const int n = device_count();
  SADARI_CHECK(index >= 0 && index < n, "CUDA device ", index, " does not exist (", n,
               " visible)");
  cudaDeviceProp prop{};
  SADARI_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.total_memory = prop.totalGlobalMem;
  info.sm_count = prop.multiProcessorCount;
  return info;
}

void set_device(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    fail(detail::cat("CUDA device ", index, " does not exist (", n, " visible)"), {},
         "check CUDA_VISIBLE_DEVICES and the number of ranks per node");
  SADARI_CUDA_CHECK(cudaSetDevice(index));
}

int current_device() {
  int d = 0;
  SADARI_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

namespace {

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  // cudaMalloc(0) may return nullptr, which Tensor reads as "undefined"; a minimal
  // allocation keeps empty tensors defined, as on the host.
  const cudaError_t status = cudaMalloc(&p, bytes ? bytes : 1);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    int device = -1;
    (void)cudaGetDevice(&device);
    size_t free_bytes = 0, total_bytes = 0;
    std::string usage;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
      usage = detail::cat(" (", free_bytes >> 20, " MiB free of ", total_bytes >> 20, " MiB)");
    (void)cudaGetLastError();
    fail(detail::cat("cudaMalloc of ", bytes, " bytes on CUDA device ", device, " failed: ",
                     cudaGetErrorString(status), usage),
         {}, cuda_hint(status));
  }
  return p;
}

// A deleter runs inside ~Storage and must not throw. cudaFree fails only when the
// runtime is already shutting down at process exit (the memory is gone anyway) or
// after a sticky fault, which the next checked call reports with its context.
void device_free(void* p) {
  if (p && cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

cudaMemcpyKind copy_kind(Device dst, Device src) {
  if (dst == Device::cuda) return src == Device::cuda ? cudaMemcpyDeviceToDevice
                                                      : cudaMemcpyHostToDevice;
  return src == Device::cuda ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
}

}  // namespace

void init_cuda_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    Storage::register_device_allocator(Device::cuda, device_alloc, device_free);
  });
}

void copy_async(const Tensor& dst, const Tensor& src, cudaStream_t stream) {
  SADARI_CHECK(dst.dtype() == src.dtype() && dst.numel() == src.numel(), "copy of a ",
               dtype_name(src.dtype()), " tensor ", shape_str(src.shape()), " into a ",
               dtype_name(dst.dtype()), " tensor ", shape_str(dst.shape()));
  if (src.nbytes() == 0) return;
  SADARI_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(),
                                    copy_kind(dst.device(), src.device()), stream));
}

Tensor to_device(const Tensor& host, cudaStream_t stream) {
  Tensor out = Tensor::empty(host.shape(), host.dtype(), Device::cuda);
  copy_async(out, host, stream);
  SADARI_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

Tensor to_host(const Tensor& device, cudaStream_t stream) {
  Tensor out = Tensor::empty(device.shape(), device.dtype(), Device::cpu);
  copy_async(out, device, stream);
  SADARI_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

void fill_zero_async(const Tensor& device, cudaStream_t stream) {
  SADARI_CHECK(device.device() == Device::cuda, "fill_zero_async on a ",
               device_name(device.device()), " tensor ", shape_str(device.shape()));
  if (device.nbytes()) SADARI_CUDA_CHECK(cudaMemsetAsync(device.raw(), 0, device.nbytes(), stream));
}

}  // namespace sadari::cuda
