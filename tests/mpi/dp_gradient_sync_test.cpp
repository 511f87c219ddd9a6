// Bucketed gradient reduction (parallel/gradient_sync.h) over the world:
//   - all-reduce mode leaves in every parameter's gradient exactly the sum a
//     per-parameter reduction gives, with several buckets and padding;
//   - reduce-scatter mode leaves on each rank the sums of its shards, the shards
//     of all ranks covering every parameter element exactly once;
//   - owned_sum_squares() summed over the group is the norm^2 of the summed
//     gradient, in both modes.
// Gradients are multiples of 1/64, so sums are exact in any order.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "optim/param_buckets.h"
#include "parallel/gradient_sync.h"
#include "tests/mpi/dp_test_util.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

using dp_test::fill_grads;
using dp_test::make_store;
using dp_test::summed_grad;

std::vector<Parameter*> pointers(ParameterStore& store) {
  std::vector<Parameter*> out;
  for (const auto& p : store.all()) out.push_back(p.get());
  return out;
}

// Small buckets (100 elements) so the awkward store spans several of them.
constexpr int64_t kBucketElements = 100;

TEST(DpGradientSync, AllReduceBucketsEqualPerParameterReduction) {
  Communicator& world = test::world();
  ParameterStore store = make_store(11);
  ParameterStore per_param = make_store(11);
  ParamBuckets buckets(pointers(store), world.size(), kBucketElements);
  ASSERT_GT(buckets.buckets().size(), 2u);  // same on every rank: the layout is rank-independent
  GradientSync sync(buckets, world, GradientSync::Mode::all_reduce);
  fill_grads(store, world.rank());
  fill_grads(per_param, world.rank());

  sync.reduce();
  for (const auto& p : per_param.all())
    world.all_reduce(p->g<float>(), p->g<float>(), p->numel(), DType::f32, ReduceOp::sum);

  const auto& ps = store.all();
  for (size_t p = 0; p < ps.size(); ++p)
    for (int64_t i = 0; i < ps[p]->numel(); ++i) {
      ASSERT_EQ(ps[p]->g<float>()[i], per_param.all()[p]->g<float>()[i])
          << ps[p]->name << "[" << i << "]";
      ASSERT_EQ(ps[p]->g<float>()[i], summed_grad(p, i, world.size()))
          << ps[p]->name << "[" << i << "]";
    }
  // Padding stays zero: it is part of the reduced buffer.
  double total = 0;
  for (int64_t i = 0; i < buckets.size(); ++i) total += std::fabs(buckets.grads()[i]);
  double expected = 0;
  for (size_t p = 0; p < ps.size(); ++p)
    for (int64_t i = 0; i < ps[p]->numel(); ++i)
      expected += std::fabs(summed_grad(p, i, world.size()));
  EXPECT_EQ(total, expected);
}

TEST(DpGradientSync, ReduceScatterShardsHoldTheSumsAndCoverEveryElementOnce) {
  Communicator& world = test::world();
  ParameterStore store = make_store(12);
  ParamBuckets buckets(pointers(store), world.size(), kBucketElements);
  GradientSync sync(buckets, world, GradientSync::Mode::reduce_scatter);
  fill_grads(store, world.rank());
  sync.reduce();

  // Map every element of this rank's shards back to its parameter.
  std::vector<std::vector<int>> covered;
  for (const auto& p : store.all()) covered.emplace_back(static_cast<size_t>(p->numel()), 0);
  const auto& params = buckets.params();
  int64_t shard_cursor = 0;
  for (const auto& b : buckets.buckets()) {
    const int64_t begin = b.begin + world.rank() * b.shard_size;
    for (const auto& s : buckets.segments(begin, begin + b.shard_size)) {
      size_t p = 0;
      while (params[p] != s.param) ++p;
      for (int64_t j = 0; j < s.count; ++j) {
        const int64_t i = s.param_offset + j;
        EXPECT_EQ(sync.grad_shard()[shard_cursor + (s.flat_offset - begin) + j],
                  summed_grad(p, i, world.size()))
            << s.param->name << "[" << i << "]";
        covered[p][static_cast<size_t>(i)] += 1;
      }
    }
    shard_cursor += b.shard_size;
  }
  EXPECT_EQ(shard_cursor, sync.shard_elements());
  int64_t wrong = 0;  // elements owned by no rank or by several
  for (auto& c : covered) {
    world.all_reduce(c.data(), static_cast<int64_t>(c.size()), ReduceOp::sum);
    for (int v : c) wrong += v != 1;
  }
  EXPECT_EQ(wrong, 0);
}

TEST(DpGradientSync, OwnedSumSquaresAddUpToTheNormOfTheSum) {
  Communicator& world = test::world();
  for (auto mode : {GradientSync::Mode::all_reduce, GradientSync::Mode::reduce_scatter}) {
    ParameterStore store = make_store(13);
    ParamBuckets buckets(pointers(store), world.size(), kBucketElements);
    GradientSync sync(buckets, world, mode);
    fill_grads(store, world.rank());
    sync.reduce();
    double owned = sync.owned_sum_squares();
    world.all_reduce(&owned, 1, ReduceOp::sum);
    double expected = 0;
    const auto& ps = store.all();
    for (size_t p = 0; p < ps.size(); ++p)
      for (int64_t i = 0; i < ps[p]->numel(); ++i) {
        const double g = summed_grad(p, i, world.size());
        expected += g * g;
      }
    EXPECT_DOUBLE_EQ(owned, expected)
        << (mode == GradientSync::Mode::all_reduce ? "all_reduce" : "reduce_scatter");
  }
}

}  // namespace
}  // namespace sadari
