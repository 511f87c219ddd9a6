// The layout search (parallel/planner/layout_search.h) on known answers: a small
// model on one 8-GPU node is trained data-parallel; a model that does not fit one
// GPU is sharded; DeepSeek-V3 on 2048 H800 has plans that fit in 80 GB and
// DeepSeek's own layout evaluates and fits; a cluster too small says "no plan
// fits" with the closest plan's overshoot. And the search's own contract: the
// enumeration on a small case is exactly the expected set, the kept plans are the
// fastest fitting ones in order (checked against brute force), every one passes
// layout_problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "core/config_load.h"
#include "core/error.h"
#include "parallel/planner/layout_search.h"
#include "parallel/planner/layout_spec.h"

namespace sadari {
namespace {

std::string source(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

ModelConfig model_of(const std::string& rel) { return load_config(source(rel)).model; }

ClusterSpec one_node(const std::string& rel) {
  ClusterSpec c = load_cluster(source(rel));
  c.nodes = 1;
  return c;
}

Workload workload(int64_t global_batch, int64_t seq_len, const std::string& precision = "bf16") {
  Workload w;
  w.global_batch = global_batch;
  w.seq_len = seq_len;
  w.precision = precision;
  return w;
}

// Every estimated layout of a search, by brute force (for checking the search).
std::vector<Estimate> all_estimates(const ModelConfig& m, const ClusterSpec& c, const Workload& w,
                                    int64_t gpus) {
  std::vector<Estimate> out;
  for (const Layout& l : enumerate_layouts(m, w, gpus))
    if (layout_problem(m, c, w, l).empty()) out.push_back(estimate(m, c, w, l));
  return out;
}

TEST(LayoutSearch, EnumeratesExactlyTheExpectedLayoutsOnASmallCase) {
  // tiny-moe: 4 layers (1 dense + 3 MoE), 8 experts; 2 GPUs, global batch 4.
  const ModelConfig m = model_of("configs/tiny-moe.yaml");
  const std::vector<Layout> layouts = enumerate_layouts(m, workload(4, 64), 2, false);
  // pp1 dp2: ep {1,2} x mb {1,2} x 1f1b x zero {0,1} = 8.
  // pp2 dp1: ep 1 x mb {1,2,4} x 6 schedules (interleaved and dualpipev: 4 stages
  // <= 4 layers) x zero {0,1} = 36.
  EXPECT_EQ(layouts.size(), 44u);
  std::set<std::string> seen;
  for (const Layout& l : layouts) {
    EXPECT_TRUE(seen.insert(l.describe()).second) << "duplicate " << l.describe();
    EXPECT_EQ(l.world(), 2);
    EXPECT_EQ(l.dp * l.micro_batch * l.microbatches, 4) << l.describe();
    EXPECT_EQ(m.experts % l.ep, 0);
    EXPECT_EQ(l.dp % l.ep, 0);
    EXPECT_FALSE(l.recompute);
    if (l.pp == 1) {
      EXPECT_EQ(l.schedule, "1f1b");
    }
    const bool two = l.schedule == "interleaved" || l.schedule == "dualpipe" || l.schedule == "dualpipev";
    EXPECT_EQ(l.chunks, two ? 2 : 1) << l.describe();
  }
  // With recomputation every layout comes twice.
  EXPECT_EQ(enumerate_layouts(m, workload(4, 64), 2, true).size(), 88u);
  // 3 layers: pp2 interleaved and dualpipev would need 4 stages.
  ModelConfig three = m;
  three.layers = 3;
  for (const Layout& l : enumerate_layouts(three, workload(4, 64), 2, false))
    EXPECT_TRUE(l.pp == 1 || (l.schedule != "interleaved" && l.schedule != "dualpipev")) << l.describe();
}

TEST(LayoutSearch, KeepsTheFastestFittingLayoutsInOrder) {
  const ModelConfig m = model_of("configs/small-moe.yaml");
  const ClusterSpec c = one_node("configs/clusters/h100-2048.yaml");
  const Workload w = workload(64, 256);
  SearchOptions o;
  o.top = 7;
  const SearchResult r = search_layouts(m, c, w, o);
  ASSERT_EQ(r.gpus, 8);
  ASSERT_EQ(r.best.size(), 7u);
  EXPECT_EQ(r.enumerated, r.rejected + r.estimated);
  for (size_t i = 0; i < r.best.size(); ++i) {
    EXPECT_TRUE(r.best[i].fits);
    EXPECT_EQ(layout_problem(m, c, w, r.best[i].layout), "") << r.best[i].layout.describe();
    if (i > 0) {
      EXPECT_LE(r.best[i - 1].time.step, r.best[i].time.step);
      EXPECT_TRUE(ranks_before(r.best[i - 1], r.best[i]));
    }
  }
  // Brute force: the same count of fitting layouts and the same fastest ones.
  std::vector<Estimate> all = all_estimates(m, c, w, 8);
  EXPECT_EQ(static_cast<int64_t>(all.size()), r.estimated);
  std::vector<Estimate> fit;
  for (auto& e : all)
    if (e.fits) fit.push_back(e);
  EXPECT_EQ(static_cast<int64_t>(fit.size()), r.fitting);
  std::sort(fit.begin(), fit.end(), ranks_before);
  for (size_t i = 0; i < r.best.size(); ++i) EXPECT_EQ(fit[i].layout, r.best[i].layout) << i;
}

TEST(LayoutSearch, SmallModelOnOneNodeGetsPureDataParallelism) {
  // small-moe (12M parameters) with 1M tokens per step: everything fits one GPU, so
  // replicas need no pipeline bubble and no all-to-all. (With tiny batches the
  // cost model prefers pipelines: the data-parallel sync is exposed in full and a
  // pipeline stage syncs only its own share of the weights.)
  const ModelConfig m = model_of("configs/small-moe.yaml");
  const ClusterSpec c = one_node("configs/clusters/h100-2048.yaml");
  const Workload w = workload(4096, 256);
  const SearchResult r = search_layouts(m, c, w);
  const Estimate& best = best_plan(r, m, c, w);
  EXPECT_EQ(best.layout.pp, 1) << best.layout.describe();
  EXPECT_EQ(best.layout.dp, 8) << best.layout.describe();
  EXPECT_EQ(best.layout.ep, 1) << best.layout.describe();
  EXPECT_FALSE(best.layout.recompute) << best.layout.describe();
}

TEST(LayoutSearch, ModelThatDoesNotFitOneGpuGetsSharded) {
  // DeepSeek-V2-Lite (about 16B parameters) on one node of 8 H100 80 GB: replicated
  // weights, gradients and AdamW states need far more than 80 GB.
  const ModelConfig m = model_of("configs/models/deepseek-v2-lite.yaml");
  const ClusterSpec c = one_node("configs/clusters/h100-2048.yaml");
  const Workload w = workload(64, 4096);
  Layout replicated;
  replicated.dp = 8;
  replicated.micro_batch = 1;
  replicated.microbatches = 8;
  replicated.zero_stage = 0;
  ASSERT_EQ(layout_problem(m, c, w, replicated), "");
  EXPECT_FALSE(estimate(m, c, w, replicated).fits);

  const SearchResult r = search_layouts(m, c, w);
  const Estimate& best = best_plan(r, m, c, w);
  EXPECT_TRUE(best.fits);
  // The weights themselves are split: over pipeline stages or expert-parallel ranks.
  EXPECT_TRUE(best.layout.pp > 1 || best.layout.ep > 1) << best.layout.describe();
}

TEST(LayoutSearch, DeepSeekV3On2048H800HasFittingPlansAndItsOwnLayoutFits) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ClusterSpec c = load_cluster(source("configs/clusters/h800-2048.yaml"));
  // DeepSeek-V3's recipe (report 3.3): FP8 GEMMs with FP8-cached activations.
  const Workload w = workload(4096, 4096, "fp8");
  const SearchResult r = search_layouts(m, c, w);
  EXPECT_EQ(r.gpus, 2048);
  EXPECT_GT(r.fitting, 0);
  const Estimate& best = best_plan(r, m, c, w);
  EXPECT_TRUE(best.fits);
  EXPECT_LE(best.memory.total(), 80e9);
  EXPECT_GT(best.mfu, 0);
  EXPECT_LT(best.mfu, 1);

  const Layout ds = parse_layout("deepseek-v3", 2048, w, "test");
  EXPECT_EQ(ds.pp, 16);
  EXPECT_EQ(ds.dp, 128);
  EXPECT_EQ(ds.ep, 64);
  EXPECT_EQ(ds.schedule, "dualpipe");
  EXPECT_EQ(ds.chunks, 2);
  EXPECT_EQ(ds.zero_stage, 1);
  EXPECT_EQ(ds.micro_batch, 1);
  EXPECT_EQ(ds.microbatches, 4096 / 128);
  ASSERT_EQ(layout_problem(m, c, w, ds), "");
  const Estimate e = estimate(m, c, w, ds);
  // DeepSeek trained with this layout on 80 GB H800s (report section 3.2).
  EXPECT_TRUE(e.fits) << e.memory.total() / 1e9 << " GB, activations " << e.memory.activations / 1e9
                      << " GB";
  // Then the winner is at least as fast: DeepSeek's layout is in the searched set.
  if (e.fits) {
    EXPECT_LE(best.time.step, e.time.step);
  }
}

TEST(LayoutSearch, TooSmallClusterSaysNoPlanFitsWithTheClosestOvershoot) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ClusterSpec c = one_node("configs/clusters/h800-2048.yaml");
  const Workload w = workload(64, 4096);
  const SearchResult r = search_layouts(m, c, w);
  EXPECT_TRUE(r.best.empty());
  EXPECT_EQ(r.fitting, 0);
  ASSERT_TRUE(r.closest.has_value());
  // The closest is the smallest overshoot of all estimated layouts.
  double least = 1e300;
  for (const Estimate& e : all_estimates(m, c, w, 8)) least = std::min(least, e.memory_overshoot);
  EXPECT_EQ(r.closest->memory_overshoot, least);
  EXPECT_GT(least, 0);
  try {
    best_plan(r, m, c, w);
    FAIL() << "expected no plan to fit";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no plan fits"), std::string::npos) << msg;
    EXPECT_NE(msg.find(r.closest->layout.describe()), std::string::npos) << msg;
    EXPECT_NE(msg.find("GB over"), std::string::npos) << msg;
    EXPECT_NE(msg.find("deepseek-v3"), std::string::npos) << msg;
  }
}

TEST(LayoutSearch, NoValidLayoutSaysWhy) {
  // A global batch of 3 on 8 GPUs: dp = 8, 4 or 2 (pp <= tiny-moe's 4 layers) never
  // divides it, so nothing is generated at all.
  const ModelConfig m = model_of("configs/tiny-moe.yaml");
  const ClusterSpec c = one_node("configs/clusters/h100-2048.yaml");
  const SearchResult r = search_layouts(m, c, workload(3, 64));
  EXPECT_EQ(r.enumerated, 0);
  try {
    best_plan(r, m, c, workload(3, 64));
    FAIL() << "expected no valid layout";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no valid layout"), std::string::npos) << msg;
    EXPECT_NE(msg.find("global batch 3"), std::string::npos) << msg;
  }
}

TEST(LayoutSearch, PlansForFewerGpusWhenAskedAndRejectsMore) {
  const ModelConfig m = model_of("configs/tiny-moe.yaml");
  const ClusterSpec c = one_node("configs/clusters/h100-2048.yaml");
  SearchOptions o;
  o.gpus = 2;
  const SearchResult r = search_layouts(m, c, workload(16, 64), o);
  ASSERT_FALSE(r.best.empty());
  for (const Estimate& e : r.best) EXPECT_EQ(e.layout.world(), 2);
  o.gpus = 9;
  EXPECT_THROW(search_layouts(m, c, workload(16, 64), o), Error);
  // An extra check removes layouts: only pp 1 left.
  o.gpus = 2;
  o.extra_problem = [](const Layout& l) { return l.pp > 1 ? std::string("no pipelines") : std::string(); };
  const SearchResult only_dp = search_layouts(m, c, workload(16, 64), o);
  for (const Estimate& e : only_dp.best) EXPECT_EQ(e.layout.pp, 1);
  EXPECT_GT(only_dp.rejected, r.rejected);
}

TEST(LayoutSpec, ParsesKeysDefaultsAndRejectsMistakes) {
  const Workload w = workload(64, 128);
  const Layout l = parse_layout(" pp=2, ep=2 ,schedule=interleaved, mb=4, zero=0, recompute=on", 8, w, "x");
  EXPECT_EQ(l.pp, 2);
  EXPECT_EQ(l.dp, 4);
  EXPECT_EQ(l.ep, 2);
  EXPECT_EQ(l.micro_batch, 4);
  EXPECT_EQ(l.microbatches, 4);
  EXPECT_EQ(l.schedule, "interleaved");
  EXPECT_EQ(l.chunks, 2);
  EXPECT_EQ(l.zero_stage, 0);
  EXPECT_TRUE(l.recompute);
  auto message = [&](const std::string& text) {
    try {
      parse_layout(text, 8, w, "--layout");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("pp=2,tp=2").find("unknown layout key 'tp'"), std::string::npos);
  EXPECT_NE(message("pp=2,dp=2").find("is not the 8 GPUs"), std::string::npos);
  EXPECT_NE(message("pp=3").find("does not divide"), std::string::npos);
  EXPECT_NE(message("mb=3").find("does not divide the global batch 64"), std::string::npos);
  EXPECT_NE(message("pp=x").find("whole number"), std::string::npos);
  EXPECT_NE(message("schedule=zigzag").find("unknown schedule"), std::string::npos);
  EXPECT_NE(message("llama").find("built-in layouts: deepseek-v3"), std::string::npos);
  EXPECT_NE(message("pp=2,pp=4").find("given twice"), std::string::npos);
  EXPECT_NE(message("pp=2").find("no error"), std::string::npos);
}

}  // namespace
}  // namespace sadari
