// ZeRO-1 (optim/zero1_adamw.h) against the replicated optimizer: over a few
// steps, reduce-scatter + sharded AdamW + all-gather leaves every rank with
// exactly (bit for bit) the weights of all-reduce + AdamW on the full store,
// including parameters without weight decay and parameters that span shards and
// buckets. Gradients are multiples of 1/64, so both reductions give the same sums.
#include <gtest/gtest.h>

#include <vector>

#include "optim/adamw.h"
#include "optim/param_buckets.h"
#include "optim/zero1_adamw.h"
#include "parallel/gradient_sync.h"
#include "tests/mpi/dp_test_util.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

std::vector<Parameter*> pointers(ParameterStore& store) {
  std::vector<Parameter*> out;
  for (const auto& p : store.all()) out.push_back(p.get());
  return out;
}

TEST(DpZero1, ShardedStepsEqualReplicatedAdamWBitForBit) {
  Communicator& world = test::world();
  OptimConfig cfg;
  cfg.weight_decay = 0.1;
  ParameterStore replicated = dp_test::make_store(21);
  ParameterStore sharded = dp_test::make_store(21);

  ParamBuckets replicated_buckets(pointers(replicated), world.size(), 150);
  GradientSync all_reduce(replicated_buckets, world, GradientSync::Mode::all_reduce);
  AdamW adamw(cfg, replicated);

  ParamBuckets sharded_buckets(pointers(sharded), world.size(), 150);
  GradientSync reduce_scatter(sharded_buckets, world, GradientSync::Mode::reduce_scatter);
  ShardedAdamW zero1(cfg, sharded_buckets, world);
  // Each rank keeps only about 1/size of the optimizer state.
  EXPECT_EQ(zero1.shard_elements() * world.size(), sharded_buckets.size());

  const double lrs[] = {1e-2, 3e-3, 5e-3};
  for (int step = 0; step < 3; ++step) {
    replicated.zero_grad();
    sharded.zero_grad();
    dp_test::fill_grads(replicated, world.rank(), step);
    dp_test::fill_grads(sharded, world.rank(), step);
    all_reduce.reduce();
    adamw.step(lrs[step]);
    reduce_scatter.reduce();
    zero1.step(lrs[step], reduce_scatter.grad_shard());
  }
  int64_t differing = 0;
  for (size_t p = 0; p < replicated.all().size(); ++p) {
    const Parameter& a = *replicated.all()[p];
    const Parameter& b = *sharded.all()[p];
    for (int64_t i = 0; i < a.numel(); ++i)
      if (a.w<float>()[i] != b.w<float>()[i]) {
        if (++differing < 5)
          ADD_FAILURE() << a.name << "[" << i << "]: replicated " << a.w<float>()[i] << ", sharded "
                        << b.w<float>()[i];
      }
  }
  EXPECT_EQ(differing, 0);
  // The weights moved (the test would be empty otherwise).
  const ParameterStore initial = dp_test::make_store(21);
  EXPECT_NE(initial.all()[1]->w<float>()[0], sharded.all()[1]->w<float>()[0]);
}

}  // namespace
}  // namespace sadari
