// Every config shipped under configs/ loads and validates.
#include <gtest/gtest.h>

#include <filesystem>

#include "config_test_util.h"
#include "core/config_load.h"

namespace sadari {
namespace {

using testing::source_path;
namespace fs = std::filesystem;

TEST(ShippedConfigs, EveryFileUnderConfigsLoads) {
  int loaded = 0;
  for (const auto& entry : fs::recursive_directory_iterator(source_path("configs"))) {
    if (!entry.is_regular_file()) continue;
    auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".yml") continue;
    // configs/clusters/ describes machines for the planner, not runs: another format.
    if (entry.path().parent_path().filename() == "clusters") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW({
      try {
        load_config(entry.path().string());
      } catch (const Error& e) {
        ADD_FAILURE() << e.what();
        throw;
      }
    });
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
}

TEST(ShippedConfigs, TinyMoeIsTheCpuDefault) {
  Config c = load_config(source_path("configs/tiny-moe.yaml"));
  EXPECT_EQ(c.model.hidden, 64);
  EXPECT_EQ(c.model.experts, 8);
  EXPECT_EQ(c.model.score_func, "sigmoid");
  EXPECT_EQ(c.train.global_batch, 16);
  EXPECT_EQ(c.data.source, "synthetic");
  EXPECT_EQ(c.logging.run_dir, "runs/tiny-moe");
}

TEST(ShippedConfigs, SmallMoeUsesGroupLimitedRouting) {
  Config c = load_config(source_path("configs/small-moe.yaml"));
  EXPECT_EQ(c.model.hidden, 256);
  EXPECT_EQ(c.model.n_groups, 4);
  EXPECT_EQ(c.model.topk_groups, 2);
  EXPECT_EQ(c.train.seq_len, 256);
}

TEST(ShippedConfigs, ModelFilesCarryThePublishedShapes) {
  Config v3 = load_config(source_path("configs/models/deepseek-v3.yaml"));
  EXPECT_EQ(v3.model.attention, "mla");
  EXPECT_EQ(v3.model.experts, 256);
  EXPECT_EQ(v3.model.top_k, 8);
  EXPECT_EQ(v3.model.layers, 61);
  EXPECT_EQ(v3.model.first_dense_layers, 3);
  EXPECT_DOUBLE_EQ(v3.model.routed_scaling_factor, 2.5);

  Config lite = load_config(source_path("configs/models/deepseek-v2-lite.yaml"));
  EXPECT_EQ(lite.model.q_lora_rank, 0);
  EXPECT_EQ(lite.model.shared_experts, 2);
  EXPECT_EQ(lite.model.top_k, 6);

  Config mixtral = load_config(source_path("configs/models/mixtral-8x7b.yaml"));
  EXPECT_EQ(mixtral.model.kv_heads, 8);
  EXPECT_EQ(mixtral.kv_heads(), 8);
  EXPECT_EQ(mixtral.head_dim(), 128);
  EXPECT_EQ(mixtral.model.first_dense_layers, 0);
}

}  // namespace
}  // namespace sadari
