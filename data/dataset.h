// Dataset: the train and validation token streams of a run, built from DataConfig.
//
//   source: synthetic  the MarkovSource corpus (data/markov_source.h) generated in
//                      memory; the last data.val_fraction of it is validation.
//   source: shards     data.train_path mapped (data/token_shard.h); validation is
//                      data.val_path if set, else the last data.val_fraction of the
//                      training shard.
// Splitting one stream: the split point p is a multiple of seq_len, chosen so
// validation holds at least val_fraction of the tokens and at least one window;
// train = tokens [0, p], validation = tokens [p, n). The shared token p is a target
// in training and only an input in validation, so no validation target is trained on.
// val_fraction == 0 with no val_path means no validation stream.
//
// Everything is checked here, before a step runs: unknown source, missing or bad
// files, streams shorter than one window of seq_len+1 tokens, token ids >= the
// model's vocabulary. Errors name the config key (through options.locate) and the file.
//
// Ownership: owns the token storage (memory or mappings); views and samplers it
// hands out borrow it and must not outlive it. Moving a Dataset keeps them valid.
// Thread-safety: immutable after build(); concurrent reads are safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/markov_source.h"
#include "data/sampler.h"
#include "data/token_shard.h"
#include "data/token_view.h"

namespace sadari {

struct DatasetOptions {
  int64_t seq_len = 0;     // train.seq_len; REQUIRES >= 1
  int64_t vocab_size = 0;  // model.vocab_size; every token id must be below it
  // Turns a config key path ("data.train_path") into the place errors name, e.g.
  // [&](const std::string& key) { return config.where(key); }. Empty: the key path.
  std::function<std::string(const std::string&)> locate;
};

class Dataset {
 public:
  static Dataset build(const DataConfig& data, const DatasetOptions& options);

  Dataset(Dataset&&) noexcept = default;
  Dataset& operator=(Dataset&&) noexcept = default;
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  int64_t seq_len() const { return seq_len_; }
  TokenView train_tokens() const { return train_; }
  TokenView val_tokens() const { return val_; }  // empty if !has_validation()
  bool has_validation() const { return !val_.empty(); }

  // Shuffled windows over the training stream, keyed by `seed` (train.seed).
  WindowSampler train_sampler(uint64_t seed) const;
  // Sequential windows over the validation stream. REQUIRES has_validation().
  WindowSampler val_sampler() const;

  // Synthetic source only: the corpus entropy rate, and the least mean loss a
  // model can reach on windows of seq_len (MarkovSource::loss_floor). nats/token.
  std::optional<double> entropy_rate() const { return entropy_rate_; }
  std::optional<double> loss_floor() const { return loss_floor_; }

  // One line for the run log: source, token and window counts, floor if known.
  std::string describe() const;

 private:
  Dataset() = default;

  int64_t seq_len_ = 0;
  std::string source_description_;
  std::unique_ptr<std::vector<int32_t>> memory_;  // synthetic corpus
  std::optional<TokenShard> train_shard_, val_shard_;
  TokenView train_, val_;
  std::optional<double> entropy_rate_, loss_floor_;
};

}  // namespace sadari
