#include "data/dataset.h"

#include <gtest/gtest.h>

#include <numeric>

#include "data/token_shard.h"
#include "data_test_util.h"

namespace sadari {
namespace {

using testing::error_message;
using testing::TempDir;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

DataConfig synthetic_data(int64_t tokens) {
  DataConfig data;
  data.source = "synthetic";
  data.synthetic.tokens = tokens;
  return data;
}

DatasetOptions options(int64_t seq_len, int64_t vocab = 264) {
  DatasetOptions o;
  o.seq_len = seq_len;
  o.vocab_size = vocab;
  return o;
}

std::vector<int32_t> iota_stream(int64_t n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), 0);
  return tokens;
}

TEST(Dataset, SyntheticSplitAtWindowBoundary) {
  DataConfig data = synthetic_data(1 << 16);
  data.val_fraction = 0.05;
  Dataset ds = Dataset::build(data, options(64));
  const int64_t n = 1 << 16;
  const int64_t p = ds.train_tokens().size() - 1;
  EXPECT_EQ(p % 64, 0);
  EXPECT_EQ(ds.val_tokens().size(), n - p);
  EXPECT_GE(ds.val_tokens().size(), static_cast<int64_t>(n * 0.05));
  EXPECT_LT(ds.val_tokens().size(), static_cast<int64_t>(n * 0.05) + 64 + 1);
  // The split token ends training and starts validation.
  EXPECT_EQ(ds.val_tokens()[0], ds.train_tokens()[p]);

  MarkovSource source(data.synthetic);
  std::vector<int32_t> corpus = source.generate(n);
  EXPECT_EQ(ds.val_tokens()[ds.val_tokens().size() - 1], corpus.back());
  ASSERT_TRUE(ds.loss_floor().has_value());
  EXPECT_DOUBLE_EQ(*ds.loss_floor(), source.loss_floor(64));
  EXPECT_DOUBLE_EQ(*ds.entropy_rate(), source.entropy_rate());
  EXPECT_TRUE(contains(ds.describe(), "synthetic")) << ds.describe();

  WindowSampler train = ds.train_sampler(1234);
  WindowSampler val = ds.val_sampler();
  EXPECT_EQ(train.windows(), p / 64);
  EXPECT_EQ(val.order(), SampleOrder::kSequential);
  std::vector<int32_t> in(64), out(64);
  val.fill(0, 1, in.data(), out.data());
  EXPECT_TRUE(std::equal(in.begin(), in.end(), corpus.begin() + p));
}

TEST(Dataset, TinyFractionStillGetsOneValidationWindow) {
  DataConfig data = synthetic_data(1000);
  data.val_fraction = 0.0001;
  Dataset ds = Dataset::build(data, options(64));
  EXPECT_TRUE(ds.has_validation());
  EXPECT_GE(ds.val_tokens().size(), 65);
  EXPECT_EQ(ds.val_sampler().windows(), 1);
}

TEST(Dataset, NoValidationWhenFractionIsZero) {
  DataConfig data = synthetic_data(1000);
  data.val_fraction = 0;
  Dataset ds = Dataset::build(data, options(16));
  EXPECT_FALSE(ds.has_validation());
  EXPECT_EQ(ds.train_tokens().size(), 1000);
  error_message([&] { ds.val_sampler(); });
  EXPECT_TRUE(contains(ds.describe(), "no validation"));
}

TEST(Dataset, MovedDatasetKeepsItsStreams) {
  Dataset a = Dataset::build(synthetic_data(4096), options(32));
  std::vector<int32_t> before(32), after(32), t(32);
  a.train_sampler(1).fill(3, 1, before.data(), t.data());
  Dataset b = std::move(a);
  b.train_sampler(1).fill(3, 1, after.data(), t.data());
  EXPECT_EQ(before, after);
}

TEST(DatasetErrors, SyntheticTooShortOrVocabularyTooSmall) {
  std::string message = error_message([&] { Dataset::build(synthetic_data(10), options(64)); });
  EXPECT_TRUE(contains(message, "holds 10 tokens, fewer than seq_len+1 = 65")) << message;
  EXPECT_TRUE(contains(message, "data.synthetic.tokens")) << message;

  message = error_message([&] { Dataset::build(synthetic_data(100), options(64)); });  // no room for a split
  EXPECT_TRUE(contains(message, "val_fraction")) << message;

  message = error_message([&] { Dataset::build(synthetic_data(1000), options(16, 100)); });
  EXPECT_TRUE(contains(message, "model.vocab_size")) << message;

  DataConfig data = synthetic_data(1000);
  data.source = "web";
  message = error_message([&] { Dataset::build(data, options(16)); });
  EXPECT_TRUE(contains(message, "data.source")) << message;
  data = synthetic_data(1000);
  data.val_fraction = 1.0;
  EXPECT_TRUE(contains(error_message([&] { Dataset::build(data, options(16)); }), "data.val_fraction"));
}

TEST(Dataset, ShardsWithSplit) {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  write_token_shard(path, iota_stream(1000), TokenDtype::kU16);
  DataConfig data;
  data.source = "shards";
  data.train_path = path;
  data.val_fraction = 0.1;
  Dataset ds = Dataset::build(data, options(16, 1000));
  const int64_t p = ds.train_tokens().size() - 1;
  EXPECT_EQ(p % 16, 0);
  EXPECT_EQ(ds.train_tokens()[p], p);
  EXPECT_EQ(ds.val_tokens()[0], p);
  EXPECT_GE(ds.val_tokens().size(), 100);
  EXPECT_FALSE(ds.loss_floor().has_value());
  EXPECT_TRUE(contains(ds.describe(), path));
}

TEST(Dataset, ShardsWithValidationFile) {
  TempDir dir;
  write_token_shard(dir.file("train.bin"), iota_stream(500), TokenDtype::kU16);
  write_token_shard(dir.file("val.bin"), iota_stream(100), TokenDtype::kI32);
  DataConfig data;
  data.source = "shards";
  data.train_path = dir.file("train.bin");
  data.val_path = dir.file("val.bin");
  Dataset ds = Dataset::build(data, options(16, 500));
  EXPECT_EQ(ds.train_tokens().size(), 500);
  EXPECT_EQ(ds.val_tokens().size(), 100);
  EXPECT_EQ(ds.val_sampler().windows(), 99 / 16);
}

TEST(DatasetErrors, ShardProblemsNameKeyAndFile) {
  TempDir dir;
  DataConfig data;
  data.source = "shards";
  DatasetOptions o = options(64, 258);
  o.locate = [](const std::string& key) { return "run.yaml:7 " + key; };

  std::string message = error_message([&] { Dataset::build(data, o); });
  EXPECT_TRUE(contains(message, "run.yaml:7 data.train_path")) << message;

  data.train_path = dir.file("missing.bin");
  message = error_message([&] { Dataset::build(data, o); });
  EXPECT_TRUE(contains(message, "run.yaml:7 data.train_path")) << message;
  EXPECT_TRUE(contains(message, data.train_path)) << message;
  EXPECT_TRUE(contains(message, "no such file")) << message;

  data.train_path = dir.file("short.bin");
  write_token_shard(data.train_path, iota_stream(10), TokenDtype::kU16);
  message = error_message([&] { Dataset::build(data, o); });
  EXPECT_TRUE(contains(message, "data.train_path")) << message;
  EXPECT_TRUE(contains(message, data.train_path + " holds 10 tokens, fewer than seq_len+1 = 65")) << message;

  data.train_path = dir.file("wide.bin");
  write_token_shard(data.train_path, iota_stream(1000), TokenDtype::kU16);
  message = error_message([&] { Dataset::build(data, o); });
  EXPECT_TRUE(contains(message, "token id 258")) << message;
  EXPECT_TRUE(contains(message, data.train_path)) << message;

  data.train_path = dir.file("ok.bin");
  write_token_shard(data.train_path, std::vector<int32_t>(1000, 5), TokenDtype::kU16);
  data.val_path = dir.file("val-missing.bin");
  message = error_message([&] { Dataset::build(data, o); });
  EXPECT_TRUE(contains(message, "run.yaml:7 data.val_path")) << message;
  EXPECT_TRUE(contains(message, data.val_path)) << message;
}

}  // namespace
}  // namespace sadari
