#include "data/dataset.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace sadari {

namespace {

struct Split {
  TokenView train, val;
};

// See dataset.h: p is a window boundary, validation gets >= ceil(n * fraction)
// tokens and at least one window, training keeps at least one window.
Split split_stream(TokenView all, int64_t T, double fraction, const std::string& where,
                   const std::string& what_stream) {
  const int64_t n = all.size();
  if (fraction == 0) return {all, TokenView()};
  const int64_t want = static_cast<int64_t>(std::ceil(static_cast<double>(n) * fraction));
  int64_t p = n - want >= 0 ? ((n - want) / T) * T : 0;
  if (n - p < T + 1) p = n >= T + 1 ? ((n - T - 1) / T) * T : 0;
  if (p < T)
    fail(detail::cat(what_stream, " holds ", n, " tokens: too few to split off data.val_fraction = ",
                     fraction, " with one window of seq_len+1 = ", T + 1, " tokens each for training and validation"),
         where, "use more data, a shorter train.seq_len, or data.val_fraction: 0");
  return {all.subview(0, p + 1), all.subview(p, n - p)};
}

std::string format_double(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", v);
  return text;
}

}  // namespace

Dataset Dataset::build(const DataConfig& data, const DatasetOptions& options) {
  auto locate = [&](const std::string& key) { return options.locate ? options.locate(key) : key; };
  const int64_t T = options.seq_len;
  SADARI_CHECK(T >= 1, "Dataset: seq_len must be >= 1, got ", T);
  SADARI_CHECK(options.vocab_size >= 1, "Dataset: vocab_size must be >= 1, got ", options.vocab_size);
  if (!(data.val_fraction >= 0 && data.val_fraction < 1))
    fail(detail::cat("must be in [0, 1), got ", data.val_fraction), locate("data.val_fraction"));

  // A stream must hold one window; `where` names the key, `path` the file if any.
  auto require_window = [&](TokenView stream, const std::string& key, const std::string& label) {
    if (stream.size() < T + 1)
      fail(detail::cat(label, " holds ", stream.size(), " tokens, fewer than seq_len+1 = ", T + 1), locate(key),
           "use more data or a shorter train.seq_len");
  };

  Dataset ds;
  ds.seq_len_ = T;
  if (data.source == "synthetic") {
    MarkovSource source(data.synthetic);
    if (source.max_token() >= options.vocab_size)
      fail(detail::cat("the synthetic corpus uses token ids up to ", source.max_token(),
                       ", not below model.vocab_size = ", options.vocab_size),
           locate("model.vocab_size"), "raise model.vocab_size to at least 258 (the byte tokenizer's vocabulary)");
    ds.memory_ = std::make_unique<std::vector<int32_t>>(source.generate(data.synthetic.tokens));
    TokenView all(std::span<const int32_t>(*ds.memory_));
    require_window(all, "data.synthetic.tokens", "the synthetic corpus");
    Split split = split_stream(all, T, data.val_fraction, locate("data.synthetic.tokens"), "the synthetic corpus");
    ds.train_ = split.train;
    ds.val_ = split.val;
    ds.entropy_rate_ = source.entropy_rate();
    ds.loss_floor_ = source.loss_floor(T);
    ds.source_description_ = detail::cat("synthetic Markov corpus (seed ", data.synthetic.seed, ", ",
                                         source.symbols(), " symbols, order ", source.order(), ", concentration ",
                                         data.synthetic.concentration, ")");
    return ds;
  }
  if (data.source != "shards")
    fail(detail::cat("unknown data source \"", data.source, "\""), locate("data.source"),
         "use synthetic or shards");

  if (data.train_path.empty())
    fail("no training shard named", locate("data.train_path"),
         "set data.train_path to a shard made by `sadari prepare-data`");
  // Errors from the shard name the file; prefix the config key that named it.
  auto open = [&](const std::string& path, const std::string& key) {
    try {
      return TokenShard::open(path, options.vocab_size);
    } catch (const Error& e) {
      throw e.within(locate(key));
    }
  };
  ds.train_shard_.emplace(open(data.train_path, "data.train_path"));
  TokenView train_all = ds.train_shard_->tokens();
  require_window(train_all, "data.train_path", data.train_path);
  if (!data.val_path.empty()) {
    ds.val_shard_.emplace(open(data.val_path, "data.val_path"));
    ds.train_ = train_all;
    ds.val_ = ds.val_shard_->tokens();
    require_window(ds.val_, "data.val_path", data.val_path);
  } else {
    Split split = split_stream(train_all, T, data.val_fraction, locate("data.train_path"), data.train_path);
    ds.train_ = split.train;
    ds.val_ = split.val;
  }
  ds.source_description_ = detail::cat("token shards (train ", data.train_path,
                                       data.val_path.empty() ? std::string() : ", val " + data.val_path, ")");
  return ds;
}

WindowSampler Dataset::train_sampler(uint64_t seed) const {
  return WindowSampler(train_, seq_len_, SampleOrder::kShuffled, seed);
}

WindowSampler Dataset::val_sampler() const {
  SADARI_CHECK(has_validation(), "Dataset::val_sampler: this dataset has no validation stream");
  return WindowSampler(val_, seq_len_, SampleOrder::kSequential);
}

std::string Dataset::describe() const {
  std::string line = detail::cat(source_description_, ": ", train_.size(), " train tokens (",
                                 (train_.size() - 1) / seq_len_, " windows of ", seq_len_, ")");
  if (has_validation())
    line += detail::cat(", ", val_.size(), " validation tokens (", (val_.size() - 1) / seq_len_, " windows)");
  else
    line += ", no validation";
  if (entropy_rate_)
    line += detail::cat("; entropy rate ", format_double(*entropy_rate_), " nats, loss floor ",
                        format_double(*loss_floor_), " at seq_len ", seq_len_);
  return line;
}

}  // namespace sadari
