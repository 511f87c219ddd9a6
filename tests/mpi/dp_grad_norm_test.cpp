// The global gradient norm of the distributed optimizer
// (parallel/distributed_optimizer.h) equals the one-process norm
// (optim/grad_clip.h gradient_norm on a store holding every parameter with the
// summed gradients), for dp = world size and every ep that fits, in both ZeRO
// stages: dense parameters replicated over dp and expert parameters replicated
// over edp are counted once each, never once per replica.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "comm/process_groups.h"
#include "optim/grad_clip.h"
#include "parallel/distributed_optimizer.h"
#include "tests/mpi/dp_test_util.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

constexpr int64_t kExpertsPerRank = 2;
const Shape kExpertShape = {9, 5};

std::string expert_name(int64_t e) { return "experts." + std::to_string(e) + ".w"; }

// Dense awkward parameters plus, for ep rank `ep_rank`, its experts.
ParameterStore make_rank_store(int64_t experts, int ep, int ep_rank) {
  ParameterStore store = dp_test::make_store(31);
  const int64_t per_rank = experts / ep;
  for (int64_t e = ep_rank * per_rank; e < (ep_rank + 1) * per_rank; ++e)
    store.add(expert_name(e), kExpertShape, Init::normal, 0.5, 31, true, true, e);
  return store;
}

// Expert e's gradient on dp rank d (indexed after the dense parameters).
float expert_grad(int64_t e, int64_t i, int dp_rank) {
  return dp_test::exact_grad(100 + static_cast<size_t>(e), i, dp_rank);
}

void check_norm(int ep, int zero_stage) {
  Communicator& world = test::world();
  const int P = world.size();
  const int64_t E = kExpertsPerRank * ep;
  ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, ep});
  ParameterStore store = make_rank_store(E, ep, groups.coords.ep);
  OptimConfig optim;
  ParallelConfig parallel;
  parallel.dp = P;
  parallel.ep = ep;
  parallel.zero_stage = zero_stage;
  parallel.bucket_mb = 200.0 * 4 / (1024 * 1024);  // 200-element buckets: several of them
  DistributedOptimizer opt(optim, parallel, store, groups);

  const int d = groups.coords.dp;
  const size_t dense_count = dp_test::awkward_shapes().size();
  for (size_t p = 0; p < store.all().size(); ++p) {
    Parameter& param = *store.all()[p];
    for (int64_t i = 0; i < param.numel(); ++i)
      param.g<float>()[i] =
          param.expert_id < 0 ? dp_test::exact_grad(p, i, d) : expert_grad(param.expert_id, i, d);
  }
  opt.reduce_gradients();
  const double distributed = opt.global_grad_norm();

  // One process: every parameter once, with the gradient summed over the ranks
  // that hold it (dense: all dp ranks; expert e: the dp ranks of e's ep index).
  ParameterStore one = dp_test::make_store(31);
  for (int64_t e = 0; e < E; ++e)
    one.add(expert_name(e), kExpertShape, Init::normal, 0.5, 31, true, true, e);
  for (size_t p = 0; p < one.all().size(); ++p) {
    Parameter& param = *one.all()[p];
    for (int64_t i = 0; i < param.numel(); ++i) {
      if (p < dense_count) {
        param.g<float>()[i] = dp_test::summed_grad(p, i, P);
      } else {
        const int owner = static_cast<int>(param.expert_id / kExpertsPerRank);
        float s = 0;
        for (int r = 0; r < P; ++r)
          if (r % ep == owner) s += expert_grad(param.expert_id, i, r);
        param.g<float>()[i] = s;
      }
    }
  }
  const double expected = gradient_norm(one);
  EXPECT_NEAR(distributed, expected, 1e-12 * expected)
      << "dp " << P << " ep " << ep << " zero_stage " << zero_stage;
}

TEST(DpGradNorm, EqualsOneProcessNormForEveryEp) {
  const int P = test::world().size();
  for (int ep = 1; ep <= P; ++ep) {
    if (P % ep != 0) continue;  // the same decision on every rank
    for (int zero_stage : {0, 1}) check_norm(ep, zero_stage);
  }
}

}  // namespace
}  // namespace sadari
