// MpiCommunicator against serial computations, at every world size test_mpi
// runs with (2, 3, 4). Each rank's input is a formula of (rank, index), so every
// rank computes the expected result of the whole group itself. Input values are
// small integers and halves: their sums are exact in every type, so results are
// compared exactly. The determinism test uses inexact values and compares bits
// across ranks instead.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "comm/communicator_checks.h"
#include "core/error.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

using test::world;

// Exactly representable in every tested type: (rank+1) * 0.5 * (1 + index % 3)
// for floating types, rank * 7 + index % 11 for integers (negative too).
template <typename T>
T input_value(int rank, int64_t index) {
  if constexpr (std::is_floating_point_v<T>)
    return static_cast<T>((rank + 1) * 0.5 * static_cast<double>(1 + index % 3));
  else
    return static_cast<T>(rank * 7 + index % 11 - 5);
}

template <typename T>
std::vector<T> inputs_of(int rank, int64_t count, int64_t offset = 0) {
  std::vector<T> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = input_value<T>(rank, offset + i);
  return v;
}

template <typename T>
T serial_reduce(int ranks, int64_t index, ReduceOp op) {
  T result = input_value<T>(0, index);
  for (int r = 1; r < ranks; ++r) {
    const T x = input_value<T>(r, index);
    result = op == ReduceOp::sum ? static_cast<T>(result + x) : std::max(result, x);
  }
  return result;
}

template <typename T>
class CommCollectivesTyped : public testing::Test {};
using ElementTypes = testing::Types<float, double, int32_t, int64_t>;
TYPED_TEST_SUITE(CommCollectivesTyped, ElementTypes);

TYPED_TEST(CommCollectivesTyped, AllReduceSumAndMaxMatchSerial) {
  using T = TypeParam;
  Communicator& comm = world();
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
    // 0 and 1 elements, fewer than ranks, not a multiple of the size, larger.
    for (int64_t count : {0, 1, 2, 5, 1001}) {
      const std::vector<T> send = inputs_of<T>(comm.rank(), count);
      std::vector<T> recv(static_cast<size_t>(count), T(-99));
      comm.all_reduce(send.data(), recv.data(), count, dtype_of<T>::value, op);
      std::vector<T> in_place = send;
      comm.all_reduce(in_place.data(), in_place.data(), count, dtype_of<T>::value, op);
      for (int64_t i = 0; i < count; ++i) {
        const T expected = serial_reduce<T>(comm.size(), i, op);
        ASSERT_EQ(recv[static_cast<size_t>(i)], expected) << "count " << count << " index " << i;
        ASSERT_EQ(in_place[static_cast<size_t>(i)], expected) << "in place, count " << count;
      }
    }
  }
}

TYPED_TEST(CommCollectivesTyped, ReduceScatterMatchesSerial) {
  using T = TypeParam;
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
    for (int64_t block : {0, 1, 37}) {
      const std::vector<T> send = inputs_of<T>(me, block * n);
      std::vector<T> recv(static_cast<size_t>(block), T(-99));
      comm.reduce_scatter(send.data(), recv.data(), block, dtype_of<T>::value, op);
      std::vector<T> in_place = send;
      comm.reduce_scatter(in_place.data(), in_place.data(), block, dtype_of<T>::value, op);
      for (int64_t i = 0; i < block; ++i) {
        const T expected = serial_reduce<T>(n, me * block + i, op);
        ASSERT_EQ(recv[static_cast<size_t>(i)], expected) << "block " << block << " index " << i;
        ASSERT_EQ(in_place[static_cast<size_t>(i)], expected) << "in place, index " << i;
      }
    }
  }
}

TYPED_TEST(CommCollectivesTyped, AllGatherPlacesBlocksByRank) {
  using T = TypeParam;
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  for (int64_t block : {0, 1, 29}) {
    const std::vector<T> send = inputs_of<T>(me, block);
    std::vector<T> recv(static_cast<size_t>(block * n), T(-99));
    comm.all_gather(send.data(), recv.data(), block, dtype_of<T>::value);
    std::vector<T> in_place(static_cast<size_t>(block * n), T(-99));
    std::copy(send.begin(), send.end(), in_place.begin() + me * block);
    comm.all_gather(in_place.data() + me * block, in_place.data(), block, dtype_of<T>::value);
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < block; ++i) {
        const size_t at = static_cast<size_t>(r * block + i);
        ASSERT_EQ(recv[at], input_value<T>(r, i)) << "block of rank " << r;
        ASSERT_EQ(in_place[at], input_value<T>(r, i)) << "in place, block of rank " << r;
      }
  }
}

TYPED_TEST(CommCollectivesTyped, AllToAllTransposesBlocks) {
  using T = TypeParam;
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  for (int64_t block : {0, 1, 13}) {
    // Block r of rank s holds input_value(s, r * 1000 + i): says who sent it to whom.
    std::vector<T> send(static_cast<size_t>(block * n));
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < block; ++i)
        send[static_cast<size_t>(r * block + i)] = input_value<T>(me, r * 1000 + i);
    std::vector<T> recv(static_cast<size_t>(block * n), T(-99));
    comm.all_to_all(send.data(), recv.data(), block, dtype_of<T>::value);
    for (int s = 0; s < n; ++s)
      for (int64_t i = 0; i < block; ++i)
        ASSERT_EQ(recv[static_cast<size_t>(s * block + i)], input_value<T>(s, me * 1000 + i))
            << "from rank " << s;
  }
}

// Uneven counts (some zero) with gaps between the blocks, in both buffers.
// Rank s sends count(s, r) elements to rank r.
int64_t uneven_count(int from, int to) { return (from * 3 + to * 5 + 1) % 7; }

TYPED_TEST(CommCollectivesTyped, AllToAllVUnevenCountsAndGaps) {
  using T = TypeParam;
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  std::vector<int64_t> recv_counts(n), recv_displs(n);
  int64_t recv_total = 0;
  for (int r = 0; r < n; ++r) {
    recv_counts[r] = uneven_count(r, me);
    recv_displs[r] = recv_total + 3;  // a gap of 3 before every block
    recv_total += recv_counts[r] + 3;
  }
  // The send blocks lie in reverse rank order in memory, with gaps of 2, to
  // show that displacements (not rank order) decide where data comes from.
  std::vector<int64_t> counts_by_peer(n), displs_by_peer(n);
  int64_t offset = 0;
  for (int r = n - 1; r >= 0; --r) {
    counts_by_peer[r] = uneven_count(me, r);
    displs_by_peer[r] = offset + 2;
    offset += counts_by_peer[r] + 2;
  }
  std::vector<T> send(static_cast<size_t>(offset), T(-7));
  for (int r = 0; r < n; ++r)
    for (int64_t i = 0; i < counts_by_peer[r]; ++i)
      send[static_cast<size_t>(displs_by_peer[r] + i)] = input_value<T>(me, r * 100 + i);
  std::vector<T> recv(static_cast<size_t>(recv_total), T(-99));
  comm.all_to_all_v(send.data(), counts_by_peer.data(), displs_by_peer.data(), recv.data(),
                    recv_counts.data(), recv_displs.data(), dtype_of<T>::value);
  for (int s = 0; s < n; ++s) {
    for (int64_t i = 0; i < recv_counts[s]; ++i)
      ASSERT_EQ(recv[static_cast<size_t>(recv_displs[s] + i)], input_value<T>(s, me * 100 + i))
          << "from rank " << s << " element " << i;
    for (int64_t gap = 1; gap <= 3; ++gap)  // the gaps are untouched
      ASSERT_EQ(recv[static_cast<size_t>(recv_displs[s] - gap)], T(-99));
  }
}

TYPED_TEST(CommCollectivesTyped, BroadcastFromEveryRoot) {
  using T = TypeParam;
  Communicator& comm = world();
  for (int root = comm.size() - 1; root >= 0; --root) {
    std::vector<T> buf = inputs_of<T>(comm.rank(), 301);
    comm.broadcast(buf.data(), 301, dtype_of<T>::value, root);
    EXPECT_EQ(buf, inputs_of<T>(root, 301)) << "root " << root;
  }
}

TEST(CommCollectives, LargeAllReduceIsExactAndLargeAllToAllVDeliversEverything) {
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  // 24 MiB of f32.
  const int64_t count = 6 * 1024 * 1024;
  std::vector<float> buf = inputs_of<float>(me, count);
  comm.all_reduce(buf.data(), buf.data(), count, DType::f32, ReduceOp::sum);
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i)
    wrong += buf[static_cast<size_t>(i)] != serial_reduce<float>(n, i, ReduceOp::sum);
  EXPECT_EQ(wrong, 0);

  // ~16 MiB in total over the group, unevenly: rank s sends (s + r + 1) units
  // of 64 Ki f32 to rank r, scaled so the total is about 16 MiB.
  const int64_t unit = 16 * 1024 * 1024 / 4 / (n * n * n);
  std::vector<int64_t> sc(n), sd(n), rc(n), rd(n);
  int64_t st = 0, rt = 0;
  for (int r = 0; r < n; ++r) {
    sc[r] = unit * (me + r + 1) / 2;
    rc[r] = unit * (r + me + 1) / 2;
    sd[r] = st;
    rd[r] = rt;
    st += sc[r];
    rt += rc[r];
  }
  std::vector<float> send(static_cast<size_t>(st)), recv(static_cast<size_t>(rt), -1.0f);
  for (int r = 0; r < n; ++r)
    for (int64_t i = 0; i < sc[r]; ++i)
      send[static_cast<size_t>(sd[r] + i)] = static_cast<float>((me * 131 + r * 17 + i) % 4093);
  comm.all_to_all_v(send.data(), sc.data(), sd.data(), recv.data(), rc.data(), rd.data(),
                    DType::f32);
  wrong = 0;
  for (int s = 0; s < n; ++s)
    for (int64_t i = 0; i < rc[s]; ++i)
      wrong += recv[static_cast<size_t>(rd[s] + i)] !=
               static_cast<float>((s * 131 + me * 17 + i) % 4093);
  EXPECT_EQ(wrong, 0);
}

// Inexact sums: the contract promises the same bits on every rank and on a
// repeated call, not a particular rounding. Checked by gathering every rank's
// result bits.
TEST(CommCollectives, AllReduceGivesIdenticalBitsOnEveryRank) {
  Communicator& comm = world();
  const int n = comm.size();
  const int64_t count = 100003;
  std::vector<float> send(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)  // values with many significant bits
    send[static_cast<size_t>(i)] = 1.0f / static_cast<float>(3 + (i * 7 + comm.rank() * 13) % 101);
  std::vector<float> first(send.size()), second(send.size());
  comm.all_reduce(send.data(), first.data(), count, DType::f32, ReduceOp::sum);
  comm.all_reduce(send.data(), second.data(), count, DType::f32, ReduceOp::sum);
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0);
  std::vector<float> everyone(first.size() * static_cast<size_t>(n));
  comm.all_gather(first.data(), everyone.data(), count, DType::f32);
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(std::memcmp(everyone.data() + r * count, first.data(), first.size() * sizeof(float)),
              0)
        << "rank " << r << " got different bits";
}

TEST(CommCollectives, Bf16AndFp8AreMovedBitExactly) {
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  std::vector<uint16_t> bf16(64);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = static_cast<uint16_t>(0xFF00u + me * 64 + i);
  std::vector<uint16_t> gathered(bf16.size() * n);
  comm.all_gather(bf16.data(), gathered.data(), 64, DType::bf16);
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < 64; ++i)
      ASSERT_EQ(gathered[r * 64 + i], static_cast<uint16_t>(0xFF00u + r * 64 + i));
  std::vector<uint8_t> fp8(static_cast<size_t>(n) * 5);
  for (size_t i = 0; i < fp8.size(); ++i) fp8[i] = static_cast<uint8_t>(me * 40 + i);
  std::vector<uint8_t> exchanged(fp8.size());
  comm.all_to_all(fp8.data(), exchanged.data(), 5, DType::f8_e4m3);
  for (int s = 0; s < n; ++s)
    for (int i = 0; i < 5; ++i)
      ASSERT_EQ(exchanged[s * 5 + i], static_cast<uint8_t>(s * 40 + me * 5 + i));
}

TEST(CommCollectives, SendRecvRingAndNonBlockingRing) {
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  const int next = (me + 1) % n, previous = (me + n - 1) % n;
  // Blocking ring: even ranks send first, odd ranks receive first (no deadlock
  // even without buffering; with an odd size the last pair still resolves
  // because rank n-1 (even) sends to rank 0 which has sent already).
  std::vector<double> out = inputs_of<double>(me, 1000), in(1000, -1.0);
  if (me % 2 == 0) {
    comm.send(out.data(), 1000, DType::f64, next, 5);
    comm.recv(in.data(), 1000, DType::f64, previous, 5);
  } else {
    comm.recv(in.data(), 1000, DType::f64, previous, 5);
    comm.send(out.data(), 1000, DType::f64, next, 5);
  }
  EXPECT_EQ(in, inputs_of<double>(previous, 1000));

  // Non-blocking, both directions, two tags, messages on one tag in order.
  std::vector<int64_t> first = inputs_of<int64_t>(me, 50), second = inputs_of<int64_t>(me, 50, 7);
  std::vector<int64_t> got_first(50), got_second(50), backwards(3);
  const std::vector<int64_t> zero_length;
  int64_t token = me * 10;
  auto r1 = comm.irecv(got_first.data(), 50, DType::i64, previous, 1);
  auto r2 = comm.irecv(got_second.data(), 50, DType::i64, previous, 1);
  auto r3 = comm.irecv(backwards.data(), 1, DType::i64, next, 2);
  auto r4 = comm.irecv(nullptr, 0, DType::i64, next, 3);
  auto s1 = comm.isend(first.data(), 50, DType::i64, next, 1);
  auto s2 = comm.isend(second.data(), 50, DType::i64, next, 1);
  auto s3 = comm.isend(&token, 1, DType::i64, previous, 2);
  auto s4 = comm.isend(zero_length.data(), 0, DType::i64, previous, 3);
  for (auto* request : {r1.get(), r2.get(), r3.get(), r4.get(), s1.get(), s2.get(), s3.get(),
                        s4.get()})
    comm.wait(*request);
  EXPECT_EQ(got_first, inputs_of<int64_t>(previous, 50));
  EXPECT_EQ(got_second, inputs_of<int64_t>(previous, 50, 7));
  EXPECT_EQ(backwards[0], next * 10);
  EXPECT_THROW(comm.wait(*s1), Error);  // each request is waited once
}

TEST(CommCollectives, SplitMakesIndependentOrderedGroups) {
  Communicator& comm = world();
  const int n = comm.size(), me = comm.rank();
  // Even and odd ranks, ordered by DEScending world rank.
  auto half = comm.split(me % 2, -me, "parity");
  const int members = (n + 1 - me % 2) / 2;
  ASSERT_EQ(half->size(), members);
  EXPECT_EQ(half->name(), "parity");
  EXPECT_EQ(half->world_rank(), me);
  std::vector<int32_t> world_ranks(static_cast<size_t>(members));
  const int32_t mine = me;
  half->all_gather(&mine, world_ranks.data(), 1, DType::i32);
  for (int i = 0; i < members; ++i) {
    EXPECT_EQ(world_ranks[static_cast<size_t>(i)] % 2, me % 2);
    if (i > 0) {
      EXPECT_LT(world_ranks[static_cast<size_t>(i)], world_ranks[static_cast<size_t>(i - 1)]);
    }
  }
  EXPECT_EQ(world_ranks[static_cast<size_t>(half->rank())], me);
  // A reduction inside the group sums only its members.
  int64_t value = me, sum = 0;
  half->all_reduce(&value, &sum, 1, DType::i64, ReduceOp::sum);
  int64_t expected = 0;
  for (int r = me % 2; r < n; r += 2) expected += r;
  EXPECT_EQ(sum, expected);
  // Splitting a split works too (every rank alone).
  auto single = half->split(half->rank(), 0, "single");
  EXPECT_EQ(single->size(), 1);
  value = 42;
  single->all_reduce(&value, &sum, 1, DType::i64, ReduceOp::sum);
  EXPECT_EQ(sum, 42);
}

// The paths for counts above MPI's int range (derived datatypes, chunked
// reductions, point-to-point all_to_all_v), exercised with small buffers by
// lowering the limit to 7 elements per MPI call.
TEST(CommCollectives, LargeCountPathsMatchSerial) {
  MpiCommunicatorOptions options;
  options.max_count_per_call = 7;
  MpiCommunicator comm(world().handle(), "small-limit", test::mpi_environment().watchdog(), options);
  const int n = comm.size(), me = comm.rank();
  for (int64_t count : {21, 23}) {  // a multiple of the limit, and one with a remainder
    std::vector<double> send = inputs_of<double>(me, count * n), recv(send.size(), -1.0);
    comm.all_reduce(send.data(), recv.data(), count * n, DType::f64, ReduceOp::sum);
    std::vector<double> reduced_in_place = send;
    comm.all_reduce(reduced_in_place.data(), reduced_in_place.data(), count * n, DType::f64,
                    ReduceOp::max);
    for (int64_t i = 0; i < count * n; ++i) {
      ASSERT_EQ(recv[i], serial_reduce<double>(n, i, ReduceOp::sum)) << "all_reduce " << i;
      ASSERT_EQ(reduced_in_place[i], serial_reduce<double>(n, i, ReduceOp::max)) << i;
    }

    std::vector<double> block(static_cast<size_t>(count));
    comm.reduce_scatter(send.data(), block.data(), count, DType::f64, ReduceOp::max);
    std::vector<double> in_place = send;
    comm.reduce_scatter(in_place.data(), in_place.data(), count, DType::f64, ReduceOp::sum);
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(block[i], serial_reduce<double>(n, me * count + i, ReduceOp::max));
      ASSERT_EQ(in_place[i], serial_reduce<double>(n, me * count + i, ReduceOp::sum));
    }

    const std::vector<int32_t> mine = inputs_of<int32_t>(me, count);
    std::vector<int32_t> gathered(static_cast<size_t>(count * n));
    comm.all_gather(mine.data(), gathered.data(), count, DType::i32);
    std::vector<int32_t> gathered_in_place(static_cast<size_t>(count * n), -1);
    std::copy(mine.begin(), mine.end(), gathered_in_place.begin() + me * count);
    comm.all_gather(gathered_in_place.data() + me * count, gathered_in_place.data(), count,
                    DType::i32);
    EXPECT_EQ(gathered_in_place, gathered);
    std::vector<int32_t> transposed(static_cast<size_t>(count * n));
    std::vector<int32_t> to_send(static_cast<size_t>(count * n));
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < count; ++i) to_send[r * count + i] = me * 1000 + r * 100 + i;
    comm.all_to_all(to_send.data(), transposed.data(), count, DType::i32);
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < count; ++i) {
        ASSERT_EQ(gathered[r * count + i], input_value<int32_t>(r, i));
        ASSERT_EQ(transposed[r * count + i], r * 1000 + me * 100 + i);
      }

    std::vector<float> payload = inputs_of<float>(n - 1, count);
    if (me != n - 1) std::fill(payload.begin(), payload.end(), 0.0f);
    comm.broadcast(payload.data(), count, DType::f32, n - 1);
    EXPECT_EQ(payload, inputs_of<float>(n - 1, count));

    // all_to_all_v beyond the limit: rank s sends (1 + (s + r) % 2) rows of
    // `count` elements to rank r, so counts and displacements exceed 7 but are
    // multiples of the row width and go as rows (a derived unit type).
    std::vector<int64_t> sc(n), sd(n), rc(n), rd(n);
    int64_t st = 0, rt = 0;
    for (int r = 0; r < n; ++r) {
      sc[r] = count * (1 + (me + r) % 2);
      rc[r] = count * (1 + (r + me) % 2);
      sd[r] = st;
      rd[r] = rt;
      st += sc[r];
      rt += rc[r];
    }
    std::vector<int64_t> vsend(static_cast<size_t>(st)), vrecv(static_cast<size_t>(rt), -1);
    for (int r = 0; r < n; ++r)
      for (int64_t i = 0; i < sc[r]; ++i) vsend[sd[r] + i] = me * 100000 + r * 1000 + i;
    comm.all_to_all_v(vsend.data(), sc.data(), sd.data(), vrecv.data(), rc.data(), rd.data(),
                      DType::i64);
    for (int s = 0; s < n; ++s)
      for (int64_t i = 0; i < rc[s]; ++i)
        ASSERT_EQ(vrecv[rd[s] + i], s * 100000 + me * 1000 + i);

    // Point to point with derived types, blocking and not.
    const int next = (me + 1) % n, previous = (me + n - 1) % n;
    std::vector<double> ring(static_cast<size_t>(count), -1.0);
    auto receive = comm.irecv(ring.data(), count, DType::f64, previous, 9);
    comm.send(send.data(), count, DType::f64, next, 9);
    comm.wait(*receive);
    EXPECT_EQ(ring, inputs_of<double>(previous, count));
  }
}

// Beyond the limit without a common row width, all_to_all_v cannot be
// described to MPI: an Error naming the fix, here on every rank alike (each
// sends 9 elements to rank 0 and 8 to the others: displacements 0, 9, 17, ...).
TEST(CommCollectives, AllToAllVBeyondTheLimitWithoutARowWidthIsAnError) {
  MpiCommunicatorOptions options;
  options.max_count_per_call = 7;
  MpiCommunicator comm(world().handle(), "small-limit", test::mpi_environment().watchdog(), options);
  const int n = comm.size();
  std::vector<int64_t> counts(n), displs(n);
  int64_t total = 0;
  for (int r = 0; r < n; ++r) {
    counts[r] = r == 0 ? 9 : 8;
    displs[r] = total;
    total += counts[r];
  }
  std::vector<float> send(static_cast<size_t>(total)), recv(static_cast<size_t>(total));
  try {
    comm.all_to_all_v(send.data(), counts.data(), displs.data(), recv.data(), counts.data(),
                      displs.data(), DType::f32);
    ADD_FAILURE() << "should not be describable with a limit of 7";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("greatest common divisor"), std::string::npos)
        << e.what();
    EXPECT_NE(e.hint().find("row width"), std::string::npos) << e.hint();
  }
  comm.barrier();  // nothing was sent: the group is still in step
}

TEST(CommCollectives, ZeroLengthCallsTakePart) {
  Communicator& comm = world();
  const int n = comm.size();
  float nothing = 0;
  comm.all_reduce(&nothing, &nothing, 0, DType::f32, ReduceOp::sum);
  comm.reduce_scatter(&nothing, &nothing, 0, DType::f32, ReduceOp::sum);
  comm.all_gather(&nothing, &nothing, 0, DType::f32);
  comm.all_to_all(&nothing, &nothing, 0, DType::f32);
  std::vector<int64_t> zeros(n, 0);
  comm.all_to_all_v(&nothing, zeros.data(), zeros.data(), &nothing, zeros.data(), zeros.data(),
                    DType::f32);
  comm.broadcast(&nothing, 0, DType::f32, n - 1);
  comm.barrier();
  // Still in step: a real reduction after the empty ones sees everyone.
  int32_t one = 1, ranks = 0;
  comm.all_reduce(&one, &ranks, 1, DType::i32, ReduceOp::sum);
  EXPECT_EQ(ranks, n);
}

// Argument errors are detected before any message is sent, identically on
// every rank, so every rank throws and the group stays usable.
TEST(CommCollectives, BadArgumentsThrowOnEveryRankAndLeaveTheGroupUsable) {
  Communicator& comm = world();
  float x = 1;
  EXPECT_THROW(comm.broadcast(&x, 1, DType::f32, comm.size()), Error);
  EXPECT_THROW(comm.all_reduce(&x, &x, -1, DType::f32, ReduceOp::sum), Error);
  uint16_t h = 0;
  try {
    comm.all_reduce(&h, &h, 1, DType::bf16, ReduceOp::sum);
    ADD_FAILURE() << "a bf16 all_reduce should be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
    EXPECT_NE(e.where().find("group world"), std::string::npos) << e.where();
  }
  EXPECT_THROW(comm.send(&x, 1, DType::f32, 0, MpiCommunicator::kMaxTag + 1), Error);
  EXPECT_THROW(comm.split(-1, 0, "bad"), Error);
  int32_t one = 1, ranks = 0;
  comm.all_reduce(&one, &ranks, 1, DType::i32, ReduceOp::sum);
  EXPECT_EQ(ranks, comm.size());
}

// A receive that gets a shorter message than it expects is an Error on the
// receiving rank (never silently partial data).
TEST(CommCollectives, ShortMessageIsAnErrorOnTheReceiver) {
  Communicator& comm = world();
  if (comm.rank() == 0) {
    const std::vector<int32_t> three = {1, 2, 3};
    comm.send(three.data(), 3, DType::i32, 1, 4);
  } else if (comm.rank() == 1) {
    std::vector<int32_t> five(5);
    try {
      comm.recv(five.data(), 5, DType::i32, 0, 4);
      ADD_FAILURE() << "a short message should be an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("peer 0"), std::string::npos) << e.what();
    }
  }
  comm.barrier();
}

}  // namespace
}  // namespace sadari

namespace sadari {
namespace {

// The contract lets two communicators be used from two threads at once (e.g. a
// gradient reduction overlapping compute). Needs MPI_THREAD_MULTIPLE, which
// MpiEnvironment asks for; skipped where the MPI library provides less.
TEST(CommCollectives, TwoGroupsFromTwoThreadsAtOnce) {
  if (test::mpi_environment().thread_level() < MPI_THREAD_MULTIPLE)
    GTEST_SKIP() << "the MPI library does not provide MPI_THREAD_MULTIPLE";
  Communicator& world = test::world();
  const int n = world.size(), me = world.rank();
  auto first = world.split(0, me, "first");
  auto second = world.split(0, n - 1 - me, "second");  // the reverse order
  int64_t first_wrong = 0, second_wrong = 0;
  auto hammer = [n, me](Communicator& group, int64_t salt, int64_t& wrong) {
    for (int64_t i = 0; i < 50; ++i) {
      int64_t value = me * 1000 + i + salt, sum = 0;
      group.all_reduce(&value, &sum, 1, DType::i64, ReduceOp::sum);
      wrong += sum != (static_cast<int64_t>(n) * (n - 1) / 2) * 1000 + n * (i + salt);
    }
  };
  std::thread other([&] { hammer(*second, 7, second_wrong); });
  hammer(*first, 0, first_wrong);
  other.join();
  EXPECT_EQ(first_wrong, 0);
  EXPECT_EQ(second_wrong, 0);
}

}  // namespace
}  // namespace sadari
