// Expert migration (parallel/expert_migration.h) moves every expert's weights
// AND its AdamW state exactly, under ZeRO-0 and ZeRO-1, with and without
// replicas, with a different placement per MoE layer.
//
// Two runs of the same tiny-moe parameters on every rank:
//   X: placements A (per layer), two optimizer steps, migrate to placements B,
//      a third step;
//   Y: placements B from the start, three steps.
// Values start from a formula of the parameter's global name, and every step's
// gradient of a logical parameter element is a formula of (name, element, step)
// placed on ONE rank holding the parameter (zero on its other copies), so the
// reduced gradient is exact whatever the placement. Then AdamW's element-wise
// update makes X and Y bit-identical iff the migration moved values, m, v and
// the step count exactly and re-formed the reduction groups right (a replica
// missing from its group, a stale shard or a reset step count would change
// bits). Replicas therefore end identical too: each is compared with Y's.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "comm/process_groups.h"
#include "core/config_load.h"
#include "model/transformer.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_migration.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

constexpr uint64_t kSeed = 11;

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// Multiples of 1/64 below 1 in size: exact in f32.
float formula(const std::string& name, int64_t i, int salt) {
  const uint64_t h = (name_hash(name) + static_cast<uint64_t>(i) * 40503u + salt * 977u) % 113;
  return static_cast<float>(static_cast<int64_t>(h) - 56) / 64.0f;
}

// Rank r, slot j: expert (r * S + j + offset) mod E (valid: see round_robin).
ExpertPlacement shifted(int64_t experts, int ep, int64_t slots, int64_t offset) {
  std::vector<std::vector<int64_t>> s(static_cast<size_t>(ep));
  for (int r = 0; r < ep; ++r)
    for (int64_t j = 0; j < slots; ++j) s[r].push_back((r * slots + j + offset) % experts);
  return ExpertPlacement::from_slots(experts, s);
}

// A model whose MoE layer l runs on placements[l], with values from formula().
struct MigrationRun {
  MigrationRun(const ModelConfig& cfg, const ParallelConfig& parallel, ProcessGroups& groups,
      std::vector<ExpertPlacement> per_layer)
      : placements(std::move(per_layer)),
        first(*groups.ep, placements[0], parallel),
        model(cfg, kSeed, &first) {
    size_t l = 0;
    for (const auto& block : model.blocks()) {
      if (!block.is_moe()) continue;
      dispatchers.push_back(
          std::make_unique<ExpertParallelDispatcher<float>>(*groups.ep, placements[l], parallel));
      block.moe()->set_dispatcher(*dispatchers.back());
      layers.push_back(block.moe());
      ++l;
    }
    for (const auto& p : model.params().all())
      for (int64_t i = 0; i < p->numel(); ++i) p->w<float>()[i] = formula(p->name, i, 0);
    OptimConfig optim;
    optim.grad_clip = 0;  // the clip factor would depend on the norm's summation order
    opt = std::make_unique<DistributedOptimizer>(optim, parallel, model.params(), groups,
                                                 placement_of());
  }

  DistributedOptimizer::PlacementOf placement_of() const {
    std::unordered_map<const Parameter*, const ExpertPlacement*> map;
    for (size_t l = 0; l < layers.size(); ++l)
      for (int64_t j = 0; j < layers[l]->local_experts(); ++j) {
        map[layers[l]->expert_gate_up(j)] = &placements[l];
        map[layers[l]->expert_down(j)] = &placements[l];
      }
    return [map](const Parameter& p) {
      const auto it = map.find(&p);
      return it == map.end() ? nullptr : it->second;
    };
  }

  // One step: each logical element's gradient on exactly one holder (the
  // lowest dp rank holding the parameter: edp index 0 and the lowest ep holder).
  void step(ProcessGroups& groups, int step_index) {
    model.params().zero_grad();
    const int ep_rank = groups.coords.ep, edp_rank = groups.dp->rank() / groups.layout.ep;
    for (size_t l = 0; l < layers.size(); ++l)
      for (int64_t j = 0; j < layers[l]->local_experts(); ++j) {
        const int64_t e = layers[l]->local_expert_id(j);
        const bool primary = edp_rank == 0 && placements[l].replicas(e)[0].rank == ep_rank;
        if (!primary) continue;
        for (Parameter* p : {layers[l]->expert_gate_up(j), layers[l]->expert_down(j)})
          for (int64_t i = 0; i < p->numel(); ++i) p->g<float>()[i] = formula(p->name, i, step_index);
      }
    if (groups.dp->rank() == 0)
      for (const auto& p : model.params().all())
        if (p->trainable && p->expert_id < 0)
          for (int64_t i = 0; i < p->numel(); ++i) p->g<float>()[i] = formula(p->name, i, step_index);
    opt->step(1e-2);
  }

  std::vector<ExpertPlacement> placements;
  ExpertParallelDispatcher<float> first;
  Transformer<float> model;
  std::vector<std::unique_ptr<ExpertParallelDispatcher<float>>> dispatchers;
  std::vector<MoELayer<float>*> layers;
  std::unique_ptr<DistributedOptimizer> opt;
};

void check_migration(const ModelConfig& cfg, int ep, int64_t slots, int zero_stage) {
  Communicator& world = test::world();
  const int P = world.size();
  ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, ep});
  ParallelConfig parallel;
  parallel.dp = P;
  parallel.ep = ep;
  parallel.zero_stage = zero_stage;
  parallel.bucket_mb = 0.05;  // several buckets, so shards straddle parameters
  const int64_t E = cfg.experts, L = cfg.layers - cfg.first_dense_layers;
  std::vector<ExpertPlacement> a, b;
  for (int64_t l = 0; l < L; ++l) {
    a.push_back(shifted(E, ep, slots, l));          // layer 0: the round robin
    b.push_back(shifted(E, ep, slots, 3 * l + 2));  // other replicas, other ranks
  }
  const std::string what = detail::cat("ep ", ep, ", ", slots, " slots, zero_stage ", zero_stage);

  MigrationRun x(cfg, parallel, groups, a);
  MigrationRun y(cfg, parallel, groups, b);
  for (int s = 1; s <= 2; ++s) {
    x.step(groups, s);
    y.step(groups, s);
  }
  std::vector<std::unique_ptr<ExpertParallelDispatcher<float>>> to;
  std::vector<ExpertMove> moves;
  int64_t want_moved = 0;
  for (int64_t l = 0; l < L; ++l) {
    to.push_back(std::make_unique<ExpertParallelDispatcher<float>>(*groups.ep, b[l], parallel));
    moves.push_back({x.layers[l], &x.placements[l], &b[l], to.back().get()});
    want_moved += slots_changing(a[l], b[l]);
  }
  const MigrationStats stats = migrate_experts(moves, *groups.ep, *x.opt);
  EXPECT_EQ(stats.moved_slots, want_moved) << what;
  EXPECT_GT(stats.moved_slots, 0) << what;
  x.placements = b;
  x.dispatchers = std::move(to);
  EXPECT_EQ(x.opt->steps_taken(), 2) << what;
  x.step(groups, 3);
  y.step(groups, 3);

  // Weights of every parameter, by global name, bit for bit.
  int experts_compared = 0;
  for (const auto& p : x.model.params().all()) {
    const Parameter* want = y.model.params().find(p->name);
    if (!want) {
      ADD_FAILURE() << what << ": " << p->name << " is not held by the same rank in Y (rank "
                    << world.rank() << ")";
      continue;
    }
    EXPECT_EQ(p->expert_id, want->expert_id) << p->name;
    EXPECT_EQ(std::memcmp(p->w<float>(), want->w<float>(), sizeof(float) * p->numel()), 0)
        << what << ": values of " << p->name << " on rank " << world.rank();
    experts_compared += p->expert_id >= 0;
  }
  EXPECT_EQ(experts_compared, 2 * L * slots) << what;
  // Moments of every expert parameter, by name.
  const auto mx = x.opt->expert_moments();
  const auto my = y.opt->expert_moments();
  EXPECT_EQ(mx.size(), my.size()) << what;
  std::unordered_map<std::string, const DistributedOptimizer::Moments*> by_name;
  for (const auto& [p, m] : my) by_name[p->name] = &m;
  for (const auto& [p, m] : mx) {
    const auto it = by_name.find(p->name);
    if (it == by_name.end()) {
      ADD_FAILURE() << what << ": no reference moments for " << p->name;
      continue;
    }
    EXPECT_TRUE(m.m == it->second->m) << what << ": m of " << p->name << " on rank " << world.rank();
    EXPECT_TRUE(m.v == it->second->v) << what << ": v of " << p->name << " on rank " << world.rank();
  }
  // The moments are not trivially equal: three steps of non-zero gradients.
  double sum_v = 0;
  for (const auto& [p, m] : mx)
    for (float v : m.v) sum_v += v;
  EXPECT_GT(sum_v, 0) << what;
}

ModelConfig small_moe() {
  ModelConfig cfg = load_config(std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml").model;
  cfg.hidden = 32;
  cfg.moe_ffn_hidden = 16;
  cfg.dense_ffn_hidden = 48;
  cfg.max_seq_len = 16;
  return cfg;
}

TEST(ExpertMigration, MovesWeightsAndAdamWStateExactly) {
  const ModelConfig cfg = small_moe();
  const int P = test::world().size();
  for (int ep = 2; ep <= P; ++ep) {
    if (P % ep != 0) continue;
    const int64_t base = (cfg.experts + ep - 1) / ep;
    for (int64_t slots : {base, base + 1})
      for (int zero : {0, 1}) check_migration(cfg, ep, slots, zero);
  }
}

TEST(ExpertMigration, RejectsPlacementsThatDoNotFit) {
  const ModelConfig cfg = small_moe();
  Communicator& world = test::world();
  const int P = world.size();
  if (P % 2 != 0) GTEST_SKIP() << "needs an even number of ranks";
  ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, 2});
  ParallelConfig parallel;
  parallel.dp = P;
  parallel.ep = 2;
  const int64_t L = cfg.layers - cfg.first_dense_layers;
  MigrationRun x(cfg, parallel, groups, std::vector<ExpertPlacement>(L, shifted(8, 2, 4, 0)));
  const ExpertPlacement more_slots = shifted(8, 2, 5, 0);
  std::vector<ExpertMove> moves;
  for (int64_t l = 0; l < L; ++l)
    moves.push_back({x.layers[l], &x.placements[l], &more_slots, &x.first});
  try {
    migrate_experts(moves, *groups.ep, *x.opt);
    ADD_FAILURE() << "a placement with other slots per rank was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("slots per rank"), std::string::npos) << e.what();
  }
  // A layer left out of the moves.
  moves.clear();
  moves.push_back({x.layers[0], &x.placements[0], &x.placements[0], nullptr});
  const ExpertPlacement other = shifted(8, 2, 4, 1);
  ExpertParallelDispatcher<float> d(*groups.ep, other, parallel);
  moves[0].to = &other;
  moves[0].to_dispatcher = &d;
  try {
    migrate_experts(moves, *groups.ep, *x.opt);
    ADD_FAILURE() << "moves missing two layers were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no migrated layer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sadari
