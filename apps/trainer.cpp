#include "apps/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "apps/expert_rebalancer.h"
#include "apps/progress.h"
#include "apps/training_checkpoint.h"
#include "comm/launch_env.h"
#include "comm/process_groups.h"
#include "comm/self_communicator.h"
#include "core/config_load.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "data/tokenizer.h"
#include "kernels/gemm_backend.h"
#include "model/transformer_stage.h"
#include "optim/lr_schedule.h"
#include "parallel/expert_setup.h"
#include "parallel/stage_partition.h"
#include "parallel/training_step.h"

namespace sadari {

namespace {

using Clock = std::chrono::steady_clock;

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

// Mean cross-entropy over `batches` validation micro-batches; forward(b) runs
// batch b (sampled at b * micro_batch) and returns its ForwardResult. The batches
// are split over the dp ranks when they divide evenly (batch b on dp rank
// b % dp); otherwise every rank evaluates all of them. Either way each rank of
// an ep group runs the same number of forwards, as the expert all-to-all
// requires. Under pipeline parallelism the loss lands on the last stage; `pp`
// (nullptr without one) then sums it over the stages.
// COLLECTIVE over dp (and pp when given).
double validation_loss(int64_t batches, Communicator& dp, Communicator* pp,
                       const std::function<ForwardResult(int64_t)>& forward) {
  const bool split = batches % dp.size() == 0;
  double sums[2] = {0, 0};  // ce, tokens
  for (int64_t b = split ? dp.rank() : 0; b < batches; b += split ? dp.size() : 1) {
    const ForwardResult r = forward(b);
    sums[0] += r.ce_sum;
    sums[1] += static_cast<double>(r.tokens);
  }
  if (split) dp.all_reduce(sums, 2, ReduceOp::sum);
  if (pp) pp->all_reduce(sums, 2, ReduceOp::sum);
  return sums[0] / std::max(1.0, sums[1]);
}

}  // namespace

void check_trainable(const Config& cfg, int world_size) {
  const ParallelConfig& p = cfg.parallel;
  // A world size that does not match the layout: one message naming both.
  check_layout(ParallelLayout{static_cast<int>(p.pp), static_cast<int>(p.dp),
                              static_cast<int>(p.ep)},
               world_size);
  if (p.pp > 1) {
    pipeline_schedule_for(cfg);  // a micro-batch count the schedule cannot run fails here
    partition_stages(cfg);
  }
  // The schema accepts what the planners size; training refuses what it cannot
  // run exactly rather than silently running something else.
  if (p.rebalance_every > 0 && p.pp > 1)
    fail("online expert rebalancing is not implemented under pipeline parallelism yet",
         cfg.where("parallel.rebalance_every"), "set parallel.rebalance_every=0 or parallel.pp=1");
  if (cfg.model.attention != "mha")
    fail("attention '" + cfg.model.attention + "' is not trainable yet",
         cfg.where("model.attention"), "use attention: mha; mla configs are for the planners");
  if (cfg.model.kv_heads != 0 && cfg.model.kv_heads != cfg.model.heads)
    fail(detail::cat("grouped-query attention (kv_heads ", cfg.model.kv_heads, " < heads ",
                     cfg.model.heads, ") is not trainable yet"),
         cfg.where("model.kv_heads"), "set kv_heads to 0 or to heads");
  const ByteTokenizer tokenizer;
  if (cfg.model.vocab_size < tokenizer.vocab_size())
    fail(detail::cat("model.vocab_size = ", cfg.model.vocab_size, " is smaller than the ",
                     tokenizer.vocab_size(), " tokens of the byte-level tokenizer"),
         cfg.where("model.vocab_size"), detail::cat("set it to at least ", tokenizer.vocab_size()));
}

TrainResult train(const Config& cfg) {
  SelfCommunicator world;
  return train(cfg, world);
}

namespace {

// What the step loop needs besides the step: the run's shape, its data samplers and
// its process groups. Making it is COLLECTIVE over world (make_process_groups).
struct RunSetup {
  RunSetup(const Config& cfg, const Dataset& data, Communicator& world)
      : seq(cfg.train.seq_len),
        micro(cfg.train.micro_batch),
        global(cfg.train.global_batch),
        steps(cfg.train.steps),
        train_sampler(data.train_sampler(cfg.train.seed)),
        val_sampler(data.val_sampler()),
        leader(world.rank() == 0),
        layout{static_cast<int>(cfg.parallel.pp), static_cast<int>(cfg.parallel.dp),
               static_cast<int>(cfg.parallel.ep)},
        groups(make_process_groups(world, layout)),
        per_rank(global / layout.dp) {}

  // The first global sample of this rank's dp slice of `step`.
  int64_t slice_start(int64_t step) const { return step * global + groups.dp->rank() * per_rank; }

  const int64_t seq, micro, global, steps;
  const WindowSampler train_sampler, val_sampler;
  const bool leader;
  const ParallelLayout layout;
  ProcessGroups groups;
  const int64_t per_rank;  // samples per step on each dp rank
};

// Reporting and bookkeeping around the step: the resolved config
// and the progress reporter on the leader, the per-step metrics, the divergence
// check, the validation schedule and the TrainResult.
class RunLog {
 public:
  RunLog(const Config& cfg, const Dataset& data, bool leader) : cfg_(cfg), leader_(leader) {
    if (leader_) {
      write_resolved_config(cfg);
      progress_.emplace(cfg.logging, cfg.train.steps, !cfg.checkpoint.resume.empty());
    }
    result_.entropy_floor = data.loss_floor();
  }

  // A line for people (leader only).
  void note(const std::string& line) {
    if (leader_) progress_->note(line);
  }
  // A JSON object line for metrics.jsonl (leader only).
  void record(const std::string& json_object) {
    if (leader_) progress_->record(json_object);
  }
  // The run's clock starts here, after setup. Says which GEMM kernel computes:
  // it decides the speed (kernels/gemm_backend.h).
  void start() {
    note("sadari: GEMM " + describe_gemm_backend());
    run_start_ = Clock::now();
  }

  // After step `step` (0-based) started at `step_start`. The stats are those of
  // the step's global batch, the same on every rank, so a diverged loss throws
  // Error on every rank alike.
  void on_step(int64_t step, Clock::time_point step_start, const StepStats& stats,
               double flops_per_token) {
    const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
    total_tokens_ += stats.tokens;
    StepMetrics m;
    m.step = step + 1;
    m.loss = stats.loss();
    m.aux_loss = stats.aux_loss;
    m.lr = stats.lr;
    m.grad_norm = stats.grad_norm;
    m.seconds = seconds;
    m.tokens_per_s = stats.tokens / seconds;
    m.gflops = m.tokens_per_s * flops_per_token / 1e9;
    m.expert_load_max_over_mean = stats.max_over_mean_load;
    m.dropped_pairs = static_cast<int64_t>(stats.dropped_pairs);
    if (!std::isfinite(m.loss))
      fail(detail::cat("training diverged: loss is ", m.loss, " at step ", m.step),
           cfg_.where("optim.lr"), "lower optim.lr or raise optim.warmup_steps");
    result_.losses.push_back(m.loss);
    if (leader_) progress_->on_step(m);
  }

  // Validation after the last step and every train.eval_every steps.
  bool validation_due(int64_t step) const {
    return step + 1 == cfg_.train.steps ||
           (cfg_.train.eval_every > 0 && (step + 1) % cfg_.train.eval_every == 0);
  }
  void on_validation(int64_t step, double val) {
    result_.val_losses.emplace_back(step + 1, val);
    if (leader_) progress_->on_validation(step + 1, val, result_.entropy_floor);
  }

  TrainResult finish(double flops_per_token) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - run_start_).count();
    result_.final_val_loss = result_.val_losses.empty() ? 0 : result_.val_losses.back().second;
    result_.tokens_per_s = total_tokens_ / elapsed;
    result_.model_gflops = result_.tokens_per_s * flops_per_token / 1e9;
    if (leader_) progress_->finish();
    return std::move(result_);
  }

 private:
  const Config& cfg_;
  const bool leader_;
  std::optional<ProgressReporter> progress_;
  TrainResult result_;
  Clock::time_point run_start_ = Clock::now();
  double total_tokens_ = 0;
};

// The MoE block a routed-expert parameter belongs to ("blocks.L.moe.experts.E...").
size_t block_of_parameter(const std::string& name) {
  SADARI_ASSERT(name.rfind("blocks.", 0) == 0);
  return static_cast<size_t>(std::stoll(name.substr(7)));
}

// checkpoint.resume: loads the checkpoint into the model and optimizer and
// returns the step to continue from (0 without resume). Every rank reads.
int64_t resume_if_asked(const Config& cfg, const CheckpointScope& scope, RunLog& log) {
  if (cfg.checkpoint.resume.empty()) return 0;
  const std::string path = resume_path(cfg, cfg.checkpoint.resume);
  const int64_t steps = load_training_checkpoint(scope, path);
  if (steps >= cfg.train.steps)
    fail(detail::cat("the checkpoint has done ", steps, " steps, the run has ", cfg.train.steps),
         cfg.where("train.steps"), "raise train.steps to continue training");
  log.note(detail::cat("sadari: resumed from ", path, " after step ", steps));
  return steps;
}

// Saves every checkpoint.every steps and after the last step (when every > 0).
void save_if_due(const Config& cfg, const CheckpointScope& scope, int64_t step, RunLog& log) {
  const int64_t every = cfg.checkpoint.every;
  if (every <= 0 || ((step + 1) % every != 0 && step + 1 != cfg.train.steps)) return;
  const auto t0 = Clock::now();
  const std::string dir = save_training_checkpoint(scope, step + 1);
  log.note(detail::cat("step ", step + 1, ": saved checkpoint ", dir, " (",
                       std::chrono::duration<double>(Clock::now() - t0).count(), " s)"));
}

// The step loop, from the first collective on. `data` is built, the config
// checked. Every layout runs the same TrainingStep (parallel/training_step.h);
// pp = 1 is its one-stage schedule.
TrainResult run_training(const Config& cfg, const Dataset& data, Communicator& world) {
  RunSetup run(cfg, data, world);
  Communicator& dp = *run.groups.dp;
  Communicator& pp = *run.groups.pp;
  const int64_t seq = run.seq, micro = run.micro;
  const std::unique_ptr<ExpertSetup> experts = make_expert_setup(cfg, run.groups);
  TrainingStep training(cfg, run.groups, *experts);
  ParameterStore& params = training.params();

  // Online rebalancing (off unless parallel.rebalance_every > 0 and ep > 1;
  // pp = 1 only, so the one stage is the whole model).
  ExpertRebalancer rebalancer(cfg, experts->parallel, run.groups, training.stage(0),
                              experts->placement, experts->dispatcher.get());
  CheckpointScope checkpoints{&cfg, &world, &run.groups, &params, &training.optimizer(), {}, {}, nullptr};
  if (rebalancer.enabled()) {
    checkpoints.rebalancer = &rebalancer;
    checkpoints.placement_of = [&rebalancer](const Parameter& p) {
      return &rebalancer.placement(block_of_parameter(p.name));
    };
  } else if (experts->placement) {
    checkpoints.placement_of = [&experts](const Parameter&) { return &*experts->placement; };
  }
  if (training.has_stage_copies()) checkpoints.dualpipe_stages = training.spans();

  RunLog log(cfg, data, run.leader);
  const int64_t first_step = resume_if_asked(cfg, checkpoints, log);
  const double flops_per_token = training.train_flops_per_token();
  std::string layout;
  if (world.size() == 1) {
    layout = "1 process";
  } else if (run.layout.pp == 1) {
    layout = detail::cat(world.size(), " processes (dp ", run.layout.dp, ", ep ", run.layout.ep,
                         ", zero_stage ", cfg.parallel.zero_stage, ")");
  } else {
    std::string split;
    for (const auto& span : training.spans()) split += detail::cat(split.empty() ? "" : ",", span.count);
    layout = detail::cat(world.size(), " processes (pp ", run.layout.pp, " schedule ",
                         cfg.parallel.schedule, ", layers per stage ", split, ", ",
                         training.schedule().microbatches(), " micro-batches; dp ", run.layout.dp,
                         ", ep ", run.layout.ep, ", zero_stage ", cfg.parallel.zero_stage, ")");
  }
  log.note(detail::cat("sadari: training ", cfg.model.name, " (", params.numel() / 1e6,
                       "M parameters on rank 0) for ", run.steps, " steps of ", run.global, " x ",
                       seq, " tokens in ", cfg.train.precision, " on ", layout, " x ",
                       omp_get_max_threads(), " threads; run dir ", cfg.logging.run_dir));
  log.start();

  for (int64_t step = first_step; step < run.steps; ++step) {
    const auto step_start = Clock::now();
    const int64_t slice = run.slice_start(step);
    const StepStats stats = training.run(
        learning_rate(cfg.optim, step, run.steps), [&](int microbatch, int32_t* ids, int32_t* targets) {
          run.train_sampler.fill(slice + microbatch * micro, micro, ids, targets);
        });
    log.on_step(step, step_start, stats, flops_per_token);
    if (const auto moved = rebalancer.after_step(step, stats.expert_counts, training.optimizer())) {
      log.note(moved->line());
      log.record(moved->json());
      training.forget_caches();
    }
    save_if_due(cfg, checkpoints, step, log);

    // Each validation batch goes through the whole pipeline.
    if (log.validation_due(step))
      log.on_validation(step, validation_loss(cfg.train.eval_batches, dp, run.layout.pp > 1 ? &pp : nullptr, [&](int64_t b) {
                          return training.forward_only([&](int, int32_t* ids, int32_t* targets) {
                            run.val_sampler.fill(b * micro, micro, ids, targets);
                          });
                        }));
  }
  return log.finish(flops_per_token);
}

}  // namespace

TrainResult train(const Config& cfg, Communicator& world) {
  // Everything up to the first collective fails the same way on every rank.
  check_trainable(cfg, world.size());
  if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));
  DatasetOptions data_options;
  data_options.seq_len = cfg.train.seq_len;
  data_options.vocab_size = cfg.model.vocab_size;
  data_options.locate = [&cfg](const std::string& key) { return cfg.where(key); };
  const Dataset data = Dataset::build(cfg.data, data_options);
  if (!data.has_validation())
    fail("the data has no validation split", cfg.where("data.val_fraction"),
         "set data.val_path or a data.val_fraction > 0");
  try {
    return run_training(cfg, data, world);
  } catch (const RankFailure&) {
    throw;
  } catch (const Error& e) {
    if (world.size() == 1) throw;
    throw RankFailure(e.within(detail::cat("rank ", world.world_rank())));
  } catch (const std::exception& e) {  // bad_alloc and the like: same reasoning
    if (world.size() == 1) throw;
    throw RankFailure(Error(e.what(), detail::cat("rank ", world.world_rank())));
  }
}

}  // namespace sadari
