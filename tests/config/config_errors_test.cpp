// Every kind of bad config input is rejected with one line that names the file,
// the line and the key path, and says what to do.
#include <gtest/gtest.h>

#include "config_test_util.h"
#include "core/config_load.h"

namespace sadari {
namespace {

using testing::expect_config_error;
using testing::load_text;

TEST(ConfigErrors, MalformedYamlNamesFileLineAndColumn) {
  // Line 3 opens a flow list that a mapping key on line 4 cannot continue.
  const std::string yaml = "model:\n  hidden: 64\n  layers: [4, 5\n  heads: 4\n";
  std::string msg = expect_config_error([&] { load_text(yaml); }, {"t.yaml:", "malformed YAML"});
  // file:line:col, with a line inside the document.
  EXPECT_TRUE(msg.find("t.yaml:3:") != std::string::npos || msg.find("t.yaml:4:") != std::string::npos) << msg;
}

TEST(ConfigErrors, TabIndentationIsMalformed) {
  expect_config_error([] { load_text("model:\n\thidden: 64\n"); }, {"t.yaml:2:", "malformed YAML"});
}

TEST(ConfigErrors, UnknownKeySuggestsTheClosestKey) {
  expect_config_error([] { load_text("model:\n  hidden: 64\n  hiden: 32\n"); },
                      {"t.yaml:3 model.hiden", "unknown key", "did you mean 'hidden'?"});
}

TEST(ConfigErrors, UnknownKeyInNestedSection) {
  expect_config_error([] { load_text("data:\n  synthetic:\n    ordr: 3\n"); },
                      {"t.yaml:3 data.synthetic.ordr", "unknown key", "did you mean 'order'?"});
}

TEST(ConfigErrors, KeyInTheWrongSectionNamesTheRightOne) {
  expect_config_error([] { load_text("model:\n  lr: 0.1\n"); },
                      {"t.yaml:2 model.lr", "unknown key", "section 'optim'", "optim.lr"});
}

TEST(ConfigErrors, UnknownKeyWithNoCloseMatchListsTheKeys) {
  expect_config_error([] { load_text("parallel:\n  zzzzzz: 1\n"); },
                      {"t.yaml:2 parallel.zzzzzz", "unknown key", "keys of parallel: pp, dp, ep"});
}

TEST(ConfigErrors, UnknownSectionSuggestsTheClosestSection) {
  expect_config_error([] { load_text("train:\n  steps: 5\nmodle:\n  hidden: 64\n"); },
                      {"t.yaml:3 modle", "unknown section", "did you mean 'model'?"});
}

TEST(ConfigErrors, ControlCharactersInKeysAndValuesStayOnOneLine) {
  // The helper asserts that the message has no newline.
  expect_config_error([] { load_text("model:\n  \"hid\\nden\": 5\n"); }, {"t.yaml:2 model.hid\\nden", "unknown key"});
  expect_config_error([] { load_text("model:\n  layers: \"4\\n5\"\n"); }, {"got '4\\n5'"});
  expect_config_error([] { load_text("", {"model.hid\nden=5"}); }, {"--set model.hid\\nden"});
}

TEST(ConfigErrors, WrongTypeQuotesTheValue) {
  expect_config_error([] { load_text("model:\n  layers: four\n"); },
                      {"t.yaml:2 model.layers", "expected an integer, got 'four'"});
}

TEST(ConfigErrors, FractionForAnIntegerSaysSo) {
  expect_config_error([] { load_text("train:\n  steps: 100.5\n"); },
                      {"t.yaml:2 train.steps", "expected an integer", "whole number"});
}

TEST(ConfigErrors, WrongTypeForNumberAndBool) {
  expect_config_error([] { load_text("optim:\n  lr: fast\n"); }, {"t.yaml:2 optim.lr", "expected a number, got 'fast'"});
  expect_config_error([] { load_text("model:\n  norm_topk_prob: yes\n"); },
                      {"t.yaml:2 model.norm_topk_prob", "expected true or false, got 'yes'"});
  expect_config_error([] { load_text("train:\n  seed: -1\n"); },
                      {"t.yaml:2 train.seed", "expected a non-negative integer"});
}

TEST(ConfigErrors, ListWhereAScalarIsExpected) {
  expect_config_error([] { load_text("model:\n  hidden: [64, 128]\n"); },
                      {"t.yaml:2 model.hidden", "expected an integer, got a list"});
}

TEST(ConfigErrors, SectionThatIsNotAMap) {
  expect_config_error([] { load_text("model: 5\n"); }, {"t.yaml:1 model", "expected a map of keys"});
  expect_config_error([] { load_text("data:\n  synthetic: [1]\n"); },
                      {"t.yaml:2 data.synthetic", "expected a map of keys, got a list"});
}

TEST(ConfigErrors, FileThatIsNotAMap) {
  expect_config_error([] { load_text("- model\n- train\n"); }, {"t.yaml:1", "must be a map of sections"});
  expect_config_error([] { load_text("just text\n"); }, {"t.yaml", "must be a map of sections"});
}

TEST(ConfigErrors, MultipleDocuments) {
  expect_config_error([] { load_text("model:\n  hidden: 64\n---\nmodel:\n  hidden: 32\n"); },
                      {"t.yaml", "2 YAML documents"});
}

TEST(ConfigErrors, DuplicateKey) {
  expect_config_error([] { load_text("train:\n  steps: 5\n  steps: 6\n"); },
                      {"t.yaml:3 train.steps", "duplicate key", "line 2"});
}

TEST(ConfigErrors, OutOfRangeStatesTheRange) {
  expect_config_error([] { load_text("model:\n  layers: 0\n"); },
                      {"t.yaml:2 model.layers", "must be >= 1, got 0"});
  expect_config_error([] { load_text("optim:\n  beta2: 1.0\n"); },
                      {"t.yaml:2 optim.beta2", "must be in [0, 1), got 1.0"});
  expect_config_error([] { load_text("optim:\n  eps: 0\n"); }, {"t.yaml:2 optim.eps", "must be > 0"});
  expect_config_error([] { load_text("data:\n  synthetic:\n    order: 5\n"); },
                      {"t.yaml:3 data.synthetic.order", "must be in [1, 4], got 5"});
}

TEST(ConfigErrors, BadEnumListsTheAllowedValues) {
  expect_config_error([] { load_text("model:\n  attention: gqa\n"); },
                      {"t.yaml:2 model.attention", "'gqa' is not one of: mha, mla"});
  expect_config_error([] { load_text("model:\n  score_func: sigmod\n"); },
                      {"t.yaml:2 model.score_func", "softmax, sigmoid", "did you mean 'sigmoid'?"});
  expect_config_error([] { load_text("logging:\n  progress: fancy\n"); },
                      {"t.yaml:2 logging.progress", "auto, bar, plain, none"});
}

TEST(ConfigErrors, EmptyRequiredString) {
  expect_config_error([] { load_text("logging:\n  run_dir: \"\"\n"); }, {"t.yaml:2 logging.run_dir", "must not be empty"});
}

TEST(ConfigErrors, TopKExceedsExperts) {
  expect_config_error([] { load_text("model:\n  experts: 4\n  top_k: 5\n"); },
                      {"t.yaml:3 model.top_k", "top_k (5) exceeds experts (4)", "t.yaml:2 model.experts"});
}

TEST(ConfigErrors, HiddenNotDivisibleByHeads) {
  expect_config_error([] { load_text("model:\n  hidden: 64\n  heads: 5\n"); },
                      {"t.yaml:3 model.heads", "hidden (64) is not divisible by heads (5)", "t.yaml:2 model.hidden"});
}

TEST(ConfigErrors, ExplicitHeadDimLiftsTheDivisibility) {
  Config c = load_text("model:\n  hidden: 64\n  heads: 5\n  head_dim: 16\n");
  EXPECT_EQ(c.head_dim(), 16);
}

TEST(ConfigErrors, OddHeadDimIsRejectedForRope) {
  expect_config_error([] { load_text("model:\n  head_dim: 15\n"); }, {"t.yaml:2 model.head_dim", "odd", "RoPE"});
}

TEST(ConfigErrors, MicroBatchMustDivideGlobalBatch) {
  expect_config_error([] { load_text("train:\n  global_batch: 16\n  micro_batch: 5\n"); },
                      {"t.yaml:3 train.micro_batch", "does not divide global_batch (16)", "t.yaml:2 train.global_batch"});
}

TEST(ConfigErrors, EpMustDivideDp) {
  expect_config_error([] { load_text("parallel:\n  dp: 4\n  ep: 3\n"); },
                      {"t.yaml:3 parallel.ep", "ep (3) does not divide dp (4)", "t.yaml:2 parallel.dp"});
}

TEST(ConfigErrors, GroupLimitedRouting) {
  expect_config_error([] { load_text("model:\n  experts: 8\n  n_groups: 3\n"); },
                      {"t.yaml:3 model.n_groups", "not divisible by n_groups"});
  expect_config_error([] { load_text("model:\n  n_groups: 2\n  topk_groups: 3\n"); },
                      {"t.yaml:3 model.topk_groups", "exceeds n_groups"});
  // 8 experts in 4 groups of 2; one group offers 2 experts, fewer than top_k 3.
  expect_config_error([] { load_text("model:\n  experts: 8\n  n_groups: 4\n  topk_groups: 1\n  top_k: 3\n"); },
                      {"t.yaml:5 model.top_k", "topk_groups"});
}

TEST(ConfigErrors, MlaNeedsItsDimensions) {
  expect_config_error([] { load_text("model:\n  attention: mla\n"); },
                      {"model.kv_lora_rank", "attention mla requires", "t.yaml:2 model.attention"});
}

TEST(ConfigErrors, GroupedQueryHeadsMustDivide) {
  expect_config_error([] { load_text("model:\n  heads: 4\n  kv_heads: 3\n"); },
                      {"t.yaml:3 model.kv_heads", "not a multiple of kv_heads"});
  EXPECT_EQ(load_text("model:\n  heads: 4\n  kv_heads: 2\n").kv_heads(), 2);
  EXPECT_EQ(load_text("model:\n  heads: 4\n").kv_heads(), 4);
}

TEST(ConfigErrors, OtherRelations) {
  expect_config_error([] { load_text("train:\n  seq_len: 512\n"); }, {"t.yaml:2 train.seq_len", "max_seq_len"});
  expect_config_error([] { load_text("optim:\n  lr: 0.001\n  min_lr: 0.01\n"); },
                      {"t.yaml:3 optim.min_lr", "exceeds lr"});
  expect_config_error([] { load_text("train:\n  steps: 10\noptim:\n  warmup_steps: 20\n"); },
                      {"t.yaml:4 optim.warmup_steps", "exceeds train.steps"});
  expect_config_error([] { load_text("model:\n  layers: 2\n  first_dense_layers: 3\n"); },
                      {"t.yaml:3 model.first_dense_layers", "exceeds layers"});
  expect_config_error([] { load_text("data:\n  source: shards\n"); }, {"t.yaml:2 data.source", "train_path"});
  expect_config_error([] { load_text("data:\n  val_fraction: 0\n"); }, {"t.yaml:2 data.val_fraction", "> 0"});
  EXPECT_NO_THROW(load_text("data:\n  val_path: v.bin\n  val_fraction: 0\n"));
  expect_config_error([] { load_text("data:\n  synthetic:\n    symbols: 62\n    order: 4\n"); },
                      {"t.yaml:4 data.synthetic.order", "too large"});
  expect_config_error([] { load_text("parallel:\n  pp: 5\n"); }, {"t.yaml:2 parallel.pp", "exceeds layers"});
  expect_config_error([] { load_text("parallel:\n  dp: 4\n  ep: 4\nmodel:\n  experts: 6\n"); },
                      {"t.yaml:3 parallel.ep", "does not divide experts (6)"});
  expect_config_error([] { load_text("parallel:\n  dp: 4\n"); }, {"train.global_batch", "dp (4)"});
}

TEST(ConfigErrors, CheckpointSettings) {
  EXPECT_NO_THROW(load_text("checkpoint:\n  every: 100\n  resume: latest\n"));
  expect_config_error([] { load_text("checkpoint:\n  every: -1\n"); }, {"t.yaml:2 checkpoint.every"});
  expect_config_error([] { load_text("checkpoint:\n  keep: 0\n"); }, {"t.yaml:2 checkpoint.keep"});
  expect_config_error([] { load_text("checkpoint:\n  dir: ''\n"); }, {"t.yaml:2 checkpoint.dir"});
}

TEST(ConfigErrors, MissingFile) {
  expect_config_error([] { load_config("no/such/config.yaml"); }, {"no/such/config.yaml", "not found"});
}

TEST(ConfigErrors, DirectoryInsteadOfFile) {
  expect_config_error([] { load_config(SADARI_SOURCE_DIR "/configs"); }, {"configs", "directory"});
}

TEST(ConfigErrors, ErrorFromAFileNamesItsPath) {
  // The same checks through load_config: the path as given is the name.
  std::string path = std::string(SADARI_BINARY_DIR) + "/config_test_bad.yaml";
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("# a comment line\nmodel:\n  hiden: 64\n", f);
    fclose(f);
  }
  expect_config_error([&] { load_config(path); }, {path + ":3 model.hiden", "did you mean 'hidden'?"});
  std::remove(path.c_str());
}

TEST(ConfigErrors, ErrorCarriesItsParts) {
  try {
    load_text("model:\n  hiden: 64\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "t.yaml:2 model.hiden");
    EXPECT_EQ(e.what_failed(), "unknown key");
    EXPECT_EQ(e.hint(), "did you mean 'hidden'?");
  }
}

}  // namespace
}  // namespace sadari
