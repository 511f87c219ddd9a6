// The device layer: errors become sadari::Error with call, location and hint;
// backend_info() and device_count() work with or without a GPU; the Tensor
// allocator and copies move bytes unchanged.
//
// The first four tests need no GPU on purpose: they check exactly the behaviour a
// CPU-only machine running a CUDA build relies on (`sadari version`, clean errors).
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/backend_info.h"
#include "kernels/cuda/device.h"
#include "tests/cuda/cuda_test_util.h"

namespace sadari::cuda {
namespace {

using test::download;
using test::upload;

TEST(CudaErrors, CudaStatusNamesCallLocationAndHint) {
  try {
    SADARI_CUDA_CHECK(cudaErrorMemoryAllocation);
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_NE(e.what_failed().find("cudaErrorMemoryAllocation"), std::string::npos) << e.what();
    EXPECT_NE(e.where().find("device_test.cpp:"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("micro-batch"), std::string::npos) << e.what();
  }
}

TEST(CudaErrors, CublasStatusesBecomeErrors) {
  try {
    SADARI_CUBLAS_CHECK(CUBLAS_STATUS_NOT_SUPPORTED);
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_NE(e.what_failed().find("CUBLAS_STATUS_NOT_SUPPORTED"), std::string::npos) << e.what();
    EXPECT_NE(e.where().find("device_test.cpp:"), std::string::npos) << e.what();
  }
}

TEST(CudaBackend, InfoNamesTheLinkedLibraries) {
  const std::string info = backend_info();
  std::printf("backend_info: %s\n", info.c_str());
  EXPECT_NE(info.find("CUDA runtime 13."), std::string::npos) << info;
  EXPECT_NE(info.find("cuBLASLt "), std::string::npos) << info;
  EXPECT_EQ(info.find("NCCL"), std::string::npos) << "NCCL is comm/nccl's: " << info;
  EXPECT_EQ(info.find('\n'), std::string::npos) << "must be one line: " << info;
  if (device_count() == 0) {
    EXPECT_NE(info.find("no GPU"), std::string::npos) << info;
  } else {
    EXPECT_NE(info.find(" GPU"), std::string::npos) << info;
  }
}

TEST(CudaBackend, DeviceCountNeverThrows) {
  EXPECT_NO_THROW(device_count());
  if (device_count() == 0) {
    EXPECT_FALSE(no_device_reason().empty());
  }
}

TEST(CudaBackend, DeviceIsHopper) {
  SADARI_REQUIRE_GPU();
  const DeviceInfo info = device_info(current_device());
  std::printf("device %d: %s, sm_%d%d, %zu MiB, %d SMs\n", info.index, info.name.c_str(),
              info.cc_major, info.cc_minor, info.total_memory >> 20, info.sm_count);
  // The build carries sm_90a code only; anything else fails every kernel launch.
  EXPECT_EQ(info.cc_major * 10 + info.cc_minor, 90) << info.name << " is not a Hopper GPU";
  EXPECT_THROW(device_info(device_count()), Error);
  EXPECT_THROW(set_device(-1), Error);
}

TEST(CudaBackend, TensorRoundTripAndZeroFill) {
  SADARI_REQUIRE_GPU();
  std::vector<float> v = test::random_floats(1000, 1);
  Tensor d = upload(v);
  EXPECT_EQ(d.device(), Device::cuda);
  EXPECT_EQ(download<float>(d, 1000), v);

  // Device to device through copy_async, then to the host.
  Tensor d2 = Tensor::empty({1000}, DType::f32, Device::cuda);
  copy_async(d2, d, nullptr);
  EXPECT_EQ(download<float>(d2, 1000), v);

  fill_zero_async(d2, nullptr);
  EXPECT_EQ(download<float>(d2, 1000), std::vector<float>(1000, 0.f));

  // Views (rows) of device tensors copy only their part.
  Tensor part = to_host(d.reshape({10, 100}).rows(3, 5));
  EXPECT_EQ(part.shape(), (Shape{2, 100}));
  EXPECT_EQ(part.data<float>()[0], v[300]);

  // Mismatched copies are rejected before touching the device.
  Tensor small = Tensor::empty({10}, DType::f32, Device::cuda);
  EXPECT_THROW(copy_async(small, d, nullptr), Error);

  // Empty tensors are defined, as on the host.
  EXPECT_TRUE(Tensor::empty({0}, DType::f32, Device::cuda).defined());
}

TEST(CudaBackend, OutOfMemoryIsAnErrorWithHint) {
  SADARI_REQUIRE_GPU();
  try {
    Tensor huge = Tensor::empty({int64_t(1) << 50}, DType::f32, Device::cuda);  // 4 PiB
    FAIL() << "allocated 4 PiB";
  } catch (const Error& e) {
    EXPECT_NE(e.what_failed().find("cudaMalloc"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty()) << e.what();
  }
  // The failed allocation leaves no error behind for the next call.
  EXPECT_NO_THROW(SADARI_CUDA_CHECK(cudaDeviceSynchronize()));
}

}  // namespace
}  // namespace sadari::cuda
