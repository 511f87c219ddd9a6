// SelfCommunicator: what an MPI group of one process does, without MPI.
#include <gtest/gtest.h>

#include <vector>

#include "comm/self_communicator.h"
#include "core/error.h"

namespace sadari {
namespace {

TEST(SelfCommunicator, IdentityAndNames) {
  SelfCommunicator comm("ep", 5);
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.world_rank(), 5);
  EXPECT_EQ(comm.name(), "ep");
  EXPECT_EQ(comm.device(), Device::cpu);
  auto sub = comm.split(3, 0, "edp");
  EXPECT_EQ(sub->name(), "edp");
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->world_rank(), 5);
  EXPECT_THROW(comm.split(-1, 0, "bad"), Error);
}

TEST(SelfCommunicator, CollectivesCopyTheOnlyContribution) {
  SelfCommunicator comm;
  const std::vector<float> send = {1.5f, -2.0f, 3.25f};
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
    std::vector<float> recv(3, 0.0f);
    comm.all_reduce(send.data(), recv.data(), 3, DType::f32, op);
    EXPECT_EQ(recv, send);
    std::vector<float> in_place = send;
    comm.all_reduce(in_place.data(), in_place.data(), 3, DType::f32, op);
    EXPECT_EQ(in_place, send);
    std::vector<float> scattered(3, 0.0f);
    comm.reduce_scatter(send.data(), scattered.data(), 3, DType::f32, op);
    EXPECT_EQ(scattered, send);
  }
  std::vector<int64_t> gathered(2), exchanged(2);
  const std::vector<int64_t> mine = {7, -8};
  comm.all_gather(mine.data(), gathered.data(), 2, DType::i64);
  comm.all_to_all(mine.data(), exchanged.data(), 2, DType::i64);
  EXPECT_EQ(gathered, mine);
  EXPECT_EQ(exchanged, mine);
  double value = 4.0;
  comm.broadcast(&value, 1, 0);
  EXPECT_EQ(value, 4.0);
  comm.barrier();
}

TEST(SelfCommunicator, AllToAllVHonoursDisplacementsAndChecksCounts) {
  SelfCommunicator comm;
  const std::vector<int32_t> send = {-1, -1, 10, 11, 12};
  std::vector<int32_t> recv(6, 0);
  const int64_t send_count = 3, send_displ = 2, recv_count = 3, recv_displ = 1;
  comm.all_to_all_v(send.data(), &send_count, &send_displ, recv.data(), &recv_count, &recv_displ,
                    DType::i32);
  EXPECT_EQ(recv, (std::vector<int32_t>{0, 10, 11, 12, 0, 0}));
  const int64_t wrong_count = 2;
  EXPECT_THROW(comm.all_to_all_v(send.data(), &send_count, &send_displ, recv.data(), &wrong_count,
                                 &recv_displ, DType::i32),
               Error);
  const int64_t negative = -1;
  EXPECT_THROW(comm.all_to_all_v(send.data(), &negative, &send_displ, recv.data(), &recv_count,
                                 &recv_displ, DType::i32),
               Error);
}

TEST(SelfCommunicator, RejectsWhatTheMpiBackendRejects) {
  SelfCommunicator comm("dp");
  uint16_t h = 0;
  try {
    comm.all_reduce(&h, &h, 1, DType::bf16, ReduceOp::sum);
    ADD_FAILURE() << "bf16 reduction accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos);
    EXPECT_NE(e.where().find("group dp"), std::string::npos) << e.where();
  }
  float x = 0;
  EXPECT_THROW(comm.reduce_scatter(&x, &x, 1, DType::f8_e4m3, ReduceOp::max), Error);
  EXPECT_THROW(comm.all_reduce(&x, &x, -1, DType::f32, ReduceOp::sum), Error);
  EXPECT_THROW(comm.broadcast(&x, 1, DType::f32, 1), Error);
  EXPECT_THROW(comm.send(&x, 1, DType::f32, 1, 0), Error);
  EXPECT_THROW(comm.send(&x, 1, DType::f32, 0, -3), Error);
  // Moving bf16 is fine.
  uint16_t out = 0;
  comm.all_gather(&h, &out, 1, DType::bf16);
}

TEST(SelfCommunicator, SendThenReceiveInOrderPerTag) {
  SelfCommunicator comm;
  const std::vector<double> a = {1, 2}, b = {3, 4}, c = {5, 6};
  comm.send(a.data(), 2, DType::f64, 0, 1);
  comm.send(b.data(), 2, DType::f64, 0, 2);
  comm.send(c.data(), 2, DType::f64, 0, 1);
  EXPECT_EQ(comm.queued_messages(), 3u);
  std::vector<double> got(2);
  comm.recv(got.data(), 2, DType::f64, 0, 2);  // tags select
  EXPECT_EQ(got, b);
  comm.recv(got.data(), 2, DType::f64, 0, 1);  // same tag: in order
  EXPECT_EQ(got, a);
  comm.recv(got.data(), 2, DType::f64, 0, 1);
  EXPECT_EQ(got, c);
  EXPECT_EQ(comm.queued_messages(), 0u);
}

TEST(SelfCommunicator, ReceiveWithoutSendIsAnErrorNotAHang) {
  SelfCommunicator comm;
  float x = 0;
  EXPECT_THROW(comm.recv(&x, 1, DType::f32, 0, 0), Error);
  auto pending = comm.irecv(&x, 1, DType::f32, 0, 0);
  EXPECT_THROW(comm.wait(*pending), Error);
}

TEST(SelfCommunicator, SizeMismatchIsAnError) {
  SelfCommunicator comm;
  const std::vector<float> three = {1, 2, 3};
  comm.send(three.data(), 3, DType::f32, 0, 0);
  std::vector<float> two(2);
  EXPECT_THROW(comm.recv(two.data(), 2, DType::f32, 0, 0), Error);
}

TEST(SelfCommunicator, NonBlockingReceivePostedBeforeTheSend) {
  SelfCommunicator comm;
  std::vector<int32_t> got(3, 0), early(1, 0);
  auto receive = comm.irecv(got.data(), 3, DType::i32, 0, 7);
  const std::vector<int32_t> message = {4, 5, 6};
  auto send = comm.isend(message.data(), 3, DType::i32, 0, 7);
  comm.wait(*send);
  comm.wait(*receive);
  EXPECT_EQ(got, message);
  EXPECT_THROW(comm.wait(*receive), Error);  // waited once only
  // A message sent before the irecv is taken from the queue.
  const int32_t value = 9;
  comm.send(&value, 1, DType::i32, 0, 8);
  auto late = comm.irecv(early.data(), 1, DType::i32, 0, 8);
  comm.wait(*late);
  EXPECT_EQ(early[0], 9);
  // Dropping an unmatched irecv unposts it: a later send is queued instead.
  {
    int32_t never = 0;
    auto dropped = comm.irecv(&never, 1, DType::i32, 0, 9);
  }
  comm.send(&value, 1, DType::i32, 0, 9);
  EXPECT_EQ(comm.queued_messages(), 1u);
}

}  // namespace
}  // namespace sadari
