// Gradients of a real model under data + expert parallelism equal the
// one-process gradients of the same global batch, parameter by parameter
// (by global name): dense parameters after the dp sum, routed experts after the
// edp sum. The classic bug this guards against is an expert gradient scaled by
// ep (or by dp/edp) -- averaging instead of summing, or counting the rows an
// expert receives from its ep group twice; any such factor is far outside the
// tolerance. Layouts: dp = world size with every ep dividing it and the 8
// experts (world 2: dp2 ep1, dp2 ep2; world 4: dp4 ep1, ep2, ep4), with the
// identity placement and, for ep >= 2, a placement where every ep rank also
// holds a replica of its neighbour's first expert: each replica must receive
// the whole logical expert's gradient (the sum over replicas and edp copies).
// The global gradient norm must equal the one-process norm: replicas and
// replicated dense parameters counted once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "comm/process_groups.h"
#include "core/config_load.h"
#include "model/transformer.h"
#include "optim/grad_clip.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

constexpr int64_t kGlobalBatch = 12;  // sequences: divisible by 2, 3 and 4 ranks
constexpr int64_t kSeq = 16;
constexpr uint64_t kSeed = 5;

std::vector<int32_t> tokens(int64_t n, uint64_t salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[i] = static_cast<int32_t>((static_cast<uint64_t>(i) * 2654435761u + salt * 97) % 251);
  return t;
}

// Relative to the largest reference gradient of the parameter.
double worst_relative_difference(const Parameter& got, const Parameter& want) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(want.g<float>()[i])));
    diff = std::max(diff, std::fabs(static_cast<double>(got.g<float>()[i]) - want.g<float>()[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Rank r holds its identity experts plus the first expert of rank r+1 (mod ep).
ExpertPlacement neighbour_replicas(int64_t experts, int ep) {
  const int64_t per = experts / ep;
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(ep));
  for (int r = 0; r < ep; ++r) {
    for (int64_t j = 0; j < per; ++j) slots[r].push_back(r * per + j);
    slots[r].push_back(((r + 1) * per) % experts);
  }
  return ExpertPlacement::from_slots(experts, slots);
}

void check_layout_gradients(const ModelConfig& model_cfg, int ep, bool replicas) {
  Communicator& world = test::world();
  const int P = world.size();
  ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, ep});
  const std::vector<int32_t> ids = tokens(kGlobalBatch * kSeq, 1);
  const std::vector<int32_t> targets = tokens(kGlobalBatch * kSeq, 2);
  const float ce_scale = 1.0f / static_cast<float>(kGlobalBatch * kSeq);

  // One process: the whole global batch as one micro-batch.
  Transformer<float> one(model_cfg, kSeed);
  {
    Transformer<float>::Cache cache;
    one.params().zero_grad();
    one.forward(ids.data(), targets.data(), kGlobalBatch, kSeq, cache);
    one.backward(cache, ce_scale, 1.0f);
  }

  // This rank's slice, experts over the ep group, gradients summed (zero_stage 0
  // leaves the sums in the parameters).
  ParallelConfig parallel;
  parallel.dp = P;
  parallel.ep = ep;
  parallel.zero_stage = 0;
  const ExpertPlacement placement = replicas ? neighbour_replicas(model_cfg.experts, ep)
                                             : ExpertPlacement::identity(model_cfg.experts, ep);
  ExpertParallelDispatcher<float> dispatcher(*groups.ep, placement, parallel);
  Transformer<float> model(model_cfg, kSeed, &dispatcher);
  DistributedOptimizer opt(OptimConfig{}, parallel, model.params(), groups, &placement);
  const int64_t per_rank = kGlobalBatch / P, first = groups.coords.dp * per_rank * kSeq;
  {
    Transformer<float>::Cache cache;
    model.params().zero_grad();
    model.forward(ids.data() + first, targets.data() + first, per_rank, kSeq, cache);
    model.backward(cache, ce_scale, static_cast<float>(per_rank) / kGlobalBatch);
  }
  opt.reduce_gradients();
  const double norm = opt.global_grad_norm();
  const double one_norm = gradient_norm(one.params());
  EXPECT_NEAR(norm, one_norm, 1e-5 * one_norm) << "dp " << P << ", ep " << ep
                                               << (replicas ? ", replicated experts" : "");

  int experts_checked = 0;
  for (const auto& p : model.params().all()) {
    if (!p->trainable) continue;
    const Parameter* want = one.params().find(p->name);
    if (!want) {  // not ASSERT: returning early would leave the other ranks in a collective
      ADD_FAILURE() << p->name << " has no one-process counterpart";
      continue;
    }
    EXPECT_LE(worst_relative_difference(*p, *want), 1e-4)
        << p->name << " (dp " << P << ", ep " << ep << (replicas ? ", replicated" : "")
        << ", rank " << world.rank() << ")";
    experts_checked += p->expert_id >= 0;
  }
  const int64_t moe_layers = model_cfg.layers - model_cfg.first_dense_layers;
  EXPECT_EQ(experts_checked, 2 * moe_layers * (model_cfg.experts / ep + (replicas ? 1 : 0)));
}

TEST(DpExpertGradients, EqualOneProcessGradientsInEveryLayout) {
  ModelConfig cfg = load_config(std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml").model;
  cfg.max_seq_len = kSeq;
  const int P = test::world().size();
  for (int ep = 1; ep <= P; ++ep)
    if (P % ep == 0 && cfg.experts % ep == 0) {
      check_layout_gradients(cfg, ep, /*replicas=*/false);
      if (ep >= 2) check_layout_gradients(cfg, ep, /*replicas=*/true);
    }
}

}  // namespace
}  // namespace sadari
