// `--set KEY=VALUE` overrides: applied after the file, before validation, and
// recorded as the origin of the key.
#include <gtest/gtest.h>

#include "config_test_util.h"
#include "core/config_load.h"

namespace sadari {
namespace {

using testing::expect_config_error;
using testing::load_text;
using testing::source_path;

TEST(ConfigOverride, OverridesReplaceFileValuesAndRecordTheirOrigin) {
  Config c = load_config(source_path("configs/tiny-moe.yaml"),
                         {"train.steps=50", "data.synthetic.order=3", "optim.lr=1e-3", "model.name=my run",
                          "model.norm_topk_prob=false", "data.val_path="});
  EXPECT_EQ(c.train.steps, 50);
  EXPECT_EQ(c.data.synthetic.order, 3);
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-3);
  EXPECT_EQ(c.model.name, "my run");
  EXPECT_FALSE(c.model.norm_topk_prob);
  EXPECT_EQ(c.data.val_path, "");
  EXPECT_EQ(c.origin.at("train.steps"), "--set");
  EXPECT_EQ(c.where("train.steps"), "--set train.steps");
  // Untouched keys keep pointing at the file.
  EXPECT_NE(c.where("model.hidden").find("tiny-moe.yaml:"), std::string::npos);
  EXPECT_NE(c.where("model.hidden").find(" model.hidden"), std::string::npos);
}

TEST(ConfigOverride, LaterOverridesWin) {
  Config c = load_text("", {"train.steps=25", "train.steps=30"});
  EXPECT_EQ(c.train.steps, 30);
}

TEST(ConfigOverride, OverridesAreValidatedAndNamedInErrors) {
  expect_config_error([] { load_text("model:\n  experts: 8\n", {"model.top_k=9"}); },
                      {"--set model.top_k", "top_k (9) exceeds experts (8)", "t.yaml:2 model.experts"});
  expect_config_error([] { load_text("", {"model.layers=0"}); }, {"--set model.layers", "must be >= 1"});
}

TEST(ConfigOverride, UnknownKeySuggestsTheFullPath) {
  expect_config_error([] { load_text("", {"model.hiden=32"}); },
                      {"--set model.hiden", "unknown key", "did you mean 'model.hidden'?"});
  expect_config_error([] { load_text("", {"modle.hidden=32"}); },
                      {"--set modle.hidden", "unknown section", "did you mean 'model.hidden'?"});
  expect_config_error([] { load_text("", {"data.synthetic.ordr=3"}); },
                      {"--set data.synthetic.ordr", "did you mean 'data.synthetic.order'?"});
  expect_config_error([] { load_text("", {"steps=3"}); }, {"--set steps", "train.steps"});
}

TEST(ConfigOverride, SectionOrKeyMisusedAsTheOther) {
  expect_config_error([] { load_text("", {"model=3"}); }, {"--set model", "is a section, not a key", "hidden"});
  expect_config_error([] { load_text("", {"model.hidden.x=3"}); }, {"--set model.hidden.x", "is a key, not a section"});
}

TEST(ConfigOverride, MissingEqualsSign) {
  expect_config_error([] { load_text("", {"train.steps"}); }, {"--set 'train.steps'", "KEY=VALUE"});
  expect_config_error([] { load_text("", {"=5"}); }, {"needs a key"});
}

TEST(ConfigOverride, ValueIsTypedLikeTheKey) {
  expect_config_error([] { load_text("", {"train.steps=ten"}); }, {"--set train.steps", "expected an integer, got 'ten'"});
  expect_config_error([] { load_text("", {"train.steps="}); }, {"--set train.steps", "got nothing"});
  expect_config_error([] { load_text("", {"model.name=a: b"}); }, {"--set model.name", "got a map"});
  expect_config_error([] { load_text("", {"model.name=[1"}); }, {"--set model.name", "cannot read the value"});
  // A quoted YAML scalar keeps characters that would otherwise be structure.
  EXPECT_EQ(load_text("", {"model.name=\"a: b\""}).model.name, "a: b");
}

TEST(ConfigOverride, ApplyThenValidateProgrammatically) {
  Config c = load_text("");
  apply_config_override(c, "parallel.dp=4");
  EXPECT_EQ(c.parallel.dp, 4);
  // 16 sequences in micro-batches of 8 cannot feed 4 replicas.
  expect_config_error([&] { validate_config(c); }, {"train.global_batch", "dp (4)"});
  apply_config_override(c, "train.micro_batch=4");
  EXPECT_NO_THROW(validate_config(c));
}

}  // namespace
}  // namespace sadari
