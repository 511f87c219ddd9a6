// config_to_yaml prints the whole resolved config, and loading that text gives
// back an equal Config.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "config_test_util.h"
#include "core/config_load.h"
#include "core/config_schema.h"

namespace sadari {
namespace {

using testing::load_text;
using testing::source_path;

// A valid config with every field away from its default, set member by member
// (not through the schema), so that a field missing from the schema table would
// come back with its default and fail the comparison.
Config unusual_config() {
  Config c;
  ModelConfig& m = c.model;
  m.name = "weird \"name\" # not a comment: x\ty";
  m.vocab_size = 300;
  m.hidden = 96;
  m.layers = 6;
  m.heads = 6;
  m.kv_heads = 3;
  m.head_dim = 32;
  m.max_seq_len = 200;
  m.attention = "mha";
  m.q_lora_rank = 7;
  m.kv_lora_rank = 9;
  m.qk_nope_head_dim = 11;
  m.qk_rope_head_dim = 12;
  m.v_head_dim = 13;
  m.rope_theta = 123456.789;
  m.norm_eps = 1e-300;
  m.init_std = 1.0 / 3.0;
  m.dense_ffn_hidden = 333;
  m.first_dense_layers = 2;
  m.experts = 12;
  m.moe_ffn_hidden = 44;
  m.shared_experts = 0;
  m.top_k = 3;
  m.score_func = "sigmoid";
  m.n_groups = 3;
  m.topk_groups = 2;
  m.norm_topk_prob = false;
  m.routed_scaling_factor = 2.5;
  m.bias_update_speed = 0.1 + 0.2;  // 0.30000000000000004: needs 17 digits
  m.aux_loss_alpha = 5e-324;         // smallest subnormal
  c.parallel = {2, 4, 2};
  TrainConfig& t = c.train;
  t.steps = 1000;
  t.global_batch = 64;
  t.micro_batch = 4;
  t.seq_len = 100;
  t.seed = 18446744073709551615ull;  // largest uint64
  t.precision = "bf16";
  t.eval_every = 0;
  t.eval_batches = 2;
  t.threads = 3;
  OptimConfig& o = c.optim;
  o.lr = 0.1 * 3;
  o.min_lr = 0.0;
  o.warmup_steps = 1000;
  o.schedule = "wsd";
  o.wsd_decay_fraction = 1.0;
  o.beta1 = 0.0;
  o.beta2 = 0.9999999999999999;
  o.eps = 1e-12;
  o.weight_decay = 0.0;
  o.grad_clip = 0.0;
  DataConfig& d = c.data;
  d.source = "shards";
  d.train_path = "/data/train tokens.bin";
  d.val_path = "null";  // a path that YAML would read as null unless quoted
  d.val_fraction = 0.5;
  d.synthetic = {42, 30, 3, 1e-3, 2048};
  c.checkpoint = {"~", 0, 1, ""};
  c.logging = {"runs/x-1", 7, "none", false};
  return c;
}

TEST(ConfigRoundTrip, UnusualConfigSurvivesPrintAndLoad) {
  Config c = unusual_config();
  ASSERT_NO_THROW(validate_config(c));
  std::string yaml = config_to_yaml(c);
  Config back = load_text(yaml);
  EXPECT_TRUE(back.same_settings(c)) << yaml;
  EXPECT_EQ(back.model.name, c.model.name);
  EXPECT_EQ(back.data.val_path, "null");
  EXPECT_EQ(back.checkpoint.dir, "~");
  EXPECT_EQ(back.train.seed, c.train.seed);
  EXPECT_EQ(std::memcmp(&back.model.bias_update_speed, &c.model.bias_update_speed, sizeof(double)), 0);
  EXPECT_EQ(back.model.aux_loss_alpha, 5e-324);
  // Printing is a fixed point.
  EXPECT_EQ(config_to_yaml(back), yaml);
}

TEST(ConfigRoundTrip, ShippedConfigSurvivesPrintAndLoad) {
  Config c = load_config(source_path("configs/tiny-moe.yaml"));
  Config back = load_text(config_to_yaml(c));
  EXPECT_TRUE(back.same_settings(c));
}

TEST(ConfigRoundTrip, DefaultsSurvivePrintAndLoad) {
  Config c;
  Config back = load_text(config_to_yaml(c));
  EXPECT_TRUE(back.same_settings(c));
}

TEST(ConfigRoundTrip, EveryKeyIsPrintedUnderItsSection) {
  std::string yaml = config_to_yaml(Config{});
  for (const auto& s : config_sections()) {
    std::string leaf = s.substr(s.rfind('.') == std::string::npos ? 0 : s.rfind('.') + 1);
    std::string indent(2 * std::count(s.begin(), s.end(), '.'), ' ');
    EXPECT_NE(yaml.find("\n" + indent + leaf + ":\n"), std::string::npos) << s;
  }
  for (const auto& f : config_fields()) {
    std::string indent(2 * (std::count(f.path.begin(), f.path.end(), '.')), ' ');
    EXPECT_NE(yaml.find("\n" + indent + std::string(f.key()) + ": "), std::string::npos) << f.path;
  }
  // Sections appear in schema order.
  EXPECT_LT(yaml.find("\nmodel:"), yaml.find("\nparallel:"));
  EXPECT_LT(yaml.find("\nparallel:"), yaml.find("\ntrain:"));
  EXPECT_LT(yaml.find("\ndata:"), yaml.find("\n  synthetic:"));
  EXPECT_LT(yaml.find("\n  synthetic:"), yaml.find("\ncheckpoint:"));
}

TEST(ConfigRoundTrip, EmptyAndCommentOnlyFilesGiveDefaults) {
  EXPECT_TRUE(load_text("").same_settings(Config{}));
  EXPECT_TRUE(load_text("# nothing here\n\n").same_settings(Config{}));
  EXPECT_TRUE(load_text("model:\n").same_settings(Config{}));
}

TEST(ConfigRoundTrip, OriginRecordsFileLines) {
  Config c = load_text("# header\nmodel:\n  hidden: 128\n  heads: 8\n");
  EXPECT_EQ(c.origin.at("model.hidden"), "t.yaml:3");
  EXPECT_EQ(c.where("model.heads"), "t.yaml:4 model.heads");
  EXPECT_EQ(c.where("train.steps"), "train.steps");  // default: no line to point at
}

}  // namespace
}  // namespace sadari
