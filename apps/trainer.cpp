#include "apps/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "apps/progress.h"
#include "core/config_load.h"
#include "core/error.h"
#include "core/profile.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "data/tokenizer.h"
#include "model/transformer.h"
#include "optim/adamw.h"
#include "optim/grad_clip.h"
#include "optim/lr_schedule.h"

namespace sadari {

namespace {

using Clock = std::chrono::steady_clock;

// Layouts this entry point can run; the rest is rejected before any allocation.
void check_runnable(const Config& cfg) {
  const int64_t world = cfg.parallel.pp * cfg.parallel.dp;
  if (world != 1)
    fail(detail::cat("parallel.pp x parallel.dp = ", world,
                     " processes, but sadari train runs in one process in this build"),
         cfg.where("parallel.dp"), "set parallel.pp=1 and parallel.dp=1");
  // The schema accepts what the planners size; training refuses what it cannot
  // run exactly rather than silently running something else.
  if (cfg.train.precision != "f32")
    fail("precision '" + cfg.train.precision + "' is not trainable on the CPU yet",
         cfg.where("train.precision"),
         "use f32 (bf16 mixed precision comes with the GPU training path)");
  if (cfg.model.attention != "mha")
    fail("attention '" + cfg.model.attention + "' is not trainable yet",
         cfg.where("model.attention"), "use attention: mha; mla configs are for the planners");
  if (cfg.model.kv_heads != 0 && cfg.model.kv_heads != cfg.model.heads)
    fail(detail::cat("grouped-query attention (kv_heads ", cfg.model.kv_heads, " < heads ",
                     cfg.model.heads, ") is not trainable yet"),
         cfg.where("model.kv_heads"), "set kv_heads to 0 or to heads");
}

// Writes the resolved config next to the run's metrics, atomically (temp + rename),
// so a run directory never holds a half-written config.
void write_resolved_config(const Config& cfg) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(cfg.logging.run_dir, ec);
  if (ec)
    fail("cannot create run directory: " + ec.message(), cfg.where("logging.run_dir"),
         "choose a writable logging.run_dir");
  const std::string path = cfg.logging.run_dir + "/config.yaml";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << config_to_yaml(cfg);
    if (!out.flush()) fail("cannot write resolved config", tmp, "check disk space and permissions");
  }
  fs::rename(tmp, path, ec);
  if (ec) fail("cannot move resolved config into place: " + ec.message(), path);
}

double max_over_mean_load(const std::vector<std::vector<int64_t>>& counts) {
  double worst = 0;
  for (const auto& layer : counts) {
    if (layer.empty()) continue;
    int64_t total = 0, peak = 0;
    for (int64_t c : layer) {
      total += c;
      peak = std::max(peak, c);
    }
    if (total > 0)
      worst = std::max(worst, static_cast<double>(peak) * static_cast<double>(layer.size()) /
                                  static_cast<double>(total));
  }
  return worst;
}

void add_counts(std::vector<std::vector<int64_t>>& sum,
                const std::vector<std::vector<int64_t>>& counts) {
  if (sum.empty()) {
    sum = counts;
    return;
  }
  for (size_t l = 0; l < sum.size(); ++l)
    for (size_t e = 0; e < sum[l].size(); ++e) sum[l][e] += counts[l][e];
}

// Mean cross-entropy over `batches` validation micro-batches, in a fixed order.
double validation_loss(const Transformer<float>& model, typename Transformer<float>::Cache& cache,
                       const WindowSampler& sampler, int64_t batches, int64_t micro, int64_t seq,
                       std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
  double ce = 0;
  int64_t tokens = 0;
  for (int64_t b = 0; b < batches; ++b) {
    sampler.fill(b * micro, micro, inputs.data(), targets.data());
    ForwardResult r = model.forward(inputs.data(), targets.data(), micro, seq, cache);
    ce += r.ce_sum;
    tokens += r.tokens;
  }
  return ce / static_cast<double>(std::max<int64_t>(1, tokens));
}

}  // namespace

TrainResult train(const Config& cfg) {
  check_runnable(cfg);
  if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));

  const ByteTokenizer tokenizer;
  if (cfg.model.vocab_size < tokenizer.vocab_size())
    fail(detail::cat("model.vocab_size = ", cfg.model.vocab_size, " is smaller than the ",
                     tokenizer.vocab_size(), " tokens of the byte-level tokenizer"),
         cfg.where("model.vocab_size"), detail::cat("set it to at least ", tokenizer.vocab_size()));

  const int64_t seq = cfg.train.seq_len, micro = cfg.train.micro_batch;
  const int64_t global = cfg.train.global_batch, steps = cfg.train.steps;
  DatasetOptions data_options;
  data_options.seq_len = seq;
  data_options.vocab_size = cfg.model.vocab_size;
  data_options.locate = [&cfg](const std::string& key) { return cfg.where(key); };
  const Dataset data = Dataset::build(cfg.data, data_options);
  const WindowSampler train_sampler = data.train_sampler(cfg.train.seed);
  if (!data.has_validation())
    fail("the data has no validation split", cfg.where("data.val_fraction"),
         "set data.val_path or a data.val_fraction > 0");
  const WindowSampler val_sampler = data.val_sampler();

  Transformer<float> model(cfg.model, cfg.train.seed);
  AdamW optimizer(cfg.optim, model.params());
  write_resolved_config(cfg);
  ProgressReporter progress(cfg.logging, steps);

  TrainResult result;
  result.entropy_floor = data.loss_floor();
  const double flops_per_token = model.train_flops_per_token(seq);
  progress.note(detail::cat("sadari: training ", cfg.model.name, " (",
                            model.params().numel() / 1e6, "M parameters) for ", steps,
                            " steps of ", global, " x ", seq, " tokens on ",
                            omp_get_max_threads(), " threads; run dir ", cfg.logging.run_dir));

  std::vector<int32_t> inputs(static_cast<size_t>(micro * seq));
  std::vector<int32_t> targets(inputs.size());
  typename Transformer<float>::Cache cache;
  const float ce_scale = 1.0f / static_cast<float>(global * seq);
  const float aux_scale = static_cast<float>(micro) / static_cast<float>(global);
  const auto run_start = Clock::now();
  double total_tokens = 0;

  for (int64_t step = 0; step < steps; ++step) {
    const auto step_start = Clock::now();
    model.params().zero_grad();
    double ce = 0, aux = 0;
    int64_t tokens = 0;
    std::vector<std::vector<int64_t>> counts;
    for (int64_t first = step * global; first < (step + 1) * global; first += micro) {
      train_sampler.fill(first, micro, inputs.data(), targets.data());
      ForwardResult r = model.forward(inputs.data(), targets.data(), micro, seq, cache);
      model.backward(cache, ce_scale, aux_scale);
      ce += r.ce_sum;
      aux += r.aux_loss * aux_scale;
      tokens += r.tokens;
      add_counts(counts, model.expert_counts(cache));
    }
    const double lr = learning_rate(cfg.optim, step, steps);
    double grad_norm = 0;
    {
      ProfileScope scope(ProfileCategory::optimizer);
      grad_norm = clip_gradients(model.params(), cfg.optim.grad_clip);
      optimizer.step(lr);
    }
    model.update_router_biases(counts);

    const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
    total_tokens += static_cast<double>(tokens);
    StepMetrics m;
    m.step = step + 1;
    m.loss = ce / static_cast<double>(std::max<int64_t>(1, tokens));
    m.aux_loss = aux;
    m.lr = lr;
    m.grad_norm = grad_norm;
    m.seconds = seconds;
    m.tokens_per_s = static_cast<double>(tokens) / seconds;
    m.gflops = m.tokens_per_s * flops_per_token / 1e9;
    m.expert_load_max_over_mean = max_over_mean_load(counts);
    if (!std::isfinite(m.loss))
      fail(detail::cat("training diverged: loss is ", m.loss, " at step ", m.step),
           cfg.where("optim.lr"), "lower optim.lr or raise optim.warmup_steps");
    result.losses.push_back(m.loss);
    progress.on_step(m);

    const bool last = step + 1 == steps;
    if (last || (cfg.train.eval_every > 0 && (step + 1) % cfg.train.eval_every == 0)) {
      const double val = validation_loss(model, cache, val_sampler, cfg.train.eval_batches, micro,
                                         seq, inputs, targets);
      result.val_losses.emplace_back(step + 1, val);
      progress.on_validation(step + 1, val, result.entropy_floor);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
  result.final_val_loss = result.val_losses.empty() ? 0 : result.val_losses.back().second;
  result.tokens_per_s = total_tokens / elapsed;
  result.model_gflops = result.tokens_per_s * flops_per_token / 1e9;
  progress.finish();
  return result;
}

}  // namespace sadari
