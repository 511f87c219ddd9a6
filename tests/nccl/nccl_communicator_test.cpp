// NcclCommunicator as a group of one on one GPU. What a group of one must do is
// exactly known (collectives copy, all_to_all_v honours displacements, sends to
// self arrive), so each call is checked against that, on device buffers.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "comm/nccl/nccl_communicator.h"
#include "comm/self_communicator.h"
#include "comm/watchdog.h"
#include "core/error.h"

namespace sadari {
namespace {

bool have_gpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

#define REQUIRE_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device"

// A device buffer of T, filled from and read back to std::vector.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), (n ? n : 1) * sizeof(T)), cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v); }
  ~DeviceBuffer() { cudaFree(p_); }
  void upload(const std::vector<T>& v) {
    EXPECT_EQ(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    EXPECT_EQ(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  size_t n_;
};

struct NcclOfOne {
  SelfCommunicator bootstrap{"world"};
  Watchdog watchdog{60, 0};
  NcclCommunicator comm{bootstrap, "world", watchdog};
};

TEST(NcclCommunicator, CollectivesOfOneCopy) {
  REQUIRE_GPU();
  NcclOfOne one;
  NcclCommunicator& comm = one.comm;
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.device(), Device::cuda);
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 8.0f};
  DeviceBuffer<float> send(values), recv(values.size());
  comm.all_reduce(send.get(), recv.get(), 4, DType::f32, ReduceOp::sum);
  EXPECT_EQ(recv.download(), values);
  comm.all_reduce(send.get(), send.get(), 4, DType::f32, ReduceOp::max);  // in place
  EXPECT_EQ(send.download(), values);
  DeviceBuffer<float> block(4);
  comm.reduce_scatter(send.get(), block.get(), 4, DType::f32, ReduceOp::sum);
  EXPECT_EQ(block.download(), values);
  comm.reduce_scatter(send.get(), send.get(), 4, DType::f32, ReduceOp::sum);  // in place
  EXPECT_EQ(send.download(), values);
  DeviceBuffer<float> gathered(4), exchanged(4);
  comm.all_gather(send.get(), gathered.get(), 4, DType::f32);
  comm.all_to_all(send.get(), exchanged.get(), 4, DType::f32);
  EXPECT_EQ(gathered.download(), values);
  EXPECT_EQ(exchanged.download(), values);
  comm.broadcast(send.get(), 4, DType::f32, 0);
  EXPECT_EQ(send.download(), values);
  comm.barrier();
}

TEST(NcclCommunicator, AllToAllVHonoursDisplacementsAndMovesFp8Bytes) {
  REQUIRE_GPU();
  NcclOfOne one;
  const std::vector<uint8_t> bytes = {0, 0, 0x7f, 0x80, 0xff, 0x01, 0};
  DeviceBuffer<uint8_t> send(bytes), recv(std::vector<uint8_t>(8, 0));
  const int64_t send_count = 4, send_displ = 2, recv_count = 4, recv_displ = 3;
  one.comm.all_to_all_v(send.get(), &send_count, &send_displ, recv.get(), &recv_count,
                        &recv_displ, DType::f8_e4m3);
  EXPECT_EQ(recv.download(), (std::vector<uint8_t>{0, 0, 0, 0x7f, 0x80, 0xff, 0x01, 0}));
}

TEST(NcclCommunicator, SendToSelfWithNonBlockingCalls) {
  REQUIRE_GPU();
  NcclOfOne one;
  const std::vector<int64_t> message = {4, 5, 6};
  DeviceBuffer<int64_t> out(message), in(std::vector<int64_t>(3, 0));
  auto receive = one.comm.irecv(in.get(), 3, DType::i64, 0, 1);
  auto send = one.comm.isend(out.get(), 3, DType::i64, 0, 1);
  one.comm.wait(*receive);
  one.comm.wait(*send);
  EXPECT_EQ(in.download(), message);
  EXPECT_THROW(one.comm.wait(*send), Error);
}

TEST(NcclCommunicator, SplitAndArgumentChecks) {
  REQUIRE_GPU();
  NcclOfOne one;
  auto part = one.comm.split(0, 0, "ep");
  EXPECT_EQ(part->size(), 1);
  EXPECT_EQ(part->name(), "ep");
  DeviceBuffer<float> x(std::vector<float>{2.0f});
  part->all_reduce(x.get(), x.get(), 1, DType::f32, ReduceOp::sum);
  EXPECT_EQ(x.download(), std::vector<float>{2.0f});
  EXPECT_THROW(one.comm.all_reduce(x.get(), x.get(), 1, DType::bf16, ReduceOp::sum), Error);
  EXPECT_THROW(one.comm.broadcast(x.get(), 1, DType::f32, 1), Error);
}

}  // namespace
}  // namespace sadari
