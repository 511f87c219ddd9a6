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
#include "model/transformer.h"
#include "model/transformer_stage.h"
#include "optim/lr_schedule.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "parallel/expert_placement.h"
#include "parallel/pipeline_executor.h"
#include "parallel/pipeline_generators.h"
#include "parallel/stage_copies.h"
#include "parallel/stage_partition.h"

namespace sadari {

namespace {

// train.precision (the schema has checked the value; this names the key anyway).
ComputePrecision precision_of(const Config& cfg) {
  return parse_compute_precision(cfg.train.precision, cfg.where("train.precision"));
}

}  // namespace

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

// Load statistics of the whole global batch: every rank gets the same sums, so
// the aux-loss-free bias moves identically everywhere. COLLECTIVE over dp.
void sum_counts_over(Communicator& dp, std::vector<std::vector<int64_t>>& counts) {
  std::vector<int64_t> flat;
  for (const auto& layer : counts) flat.insert(flat.end(), layer.begin(), layer.end());
  dp.all_reduce(flat.data(), static_cast<int64_t>(flat.size()), ReduceOp::sum);
  size_t i = 0;
  for (auto& layer : counts)
    for (auto& c : layer) c = flat[i++];
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

PipelineSchedule pipeline_schedule_for(const Config& cfg) {
  const ParallelConfig& p = cfg.parallel;
  const int64_t microbatches = cfg.train.global_batch / (cfg.train.micro_batch * p.dp);
  ScheduleRequest request;
  request.kind = parse_schedule_kind(p.schedule, cfg.where("parallel.schedule"));
  request.ranks = static_cast<int>(p.pp);
  request.microbatches = static_cast<int>(microbatches);
  request.chunks_per_rank = static_cast<int>(p.chunks);
  ScheduleOptionNames names;
  names.kind = "parallel.schedule";
  names.ranks = "parallel.pp";
  names.microbatches = "global_batch / (micro_batch x dp)";
  names.chunks = "parallel.chunks";
  std::optional<PipelineSchedule> schedule;
  try {
    schedule.emplace(generate_schedule(request, cfg.where("parallel.schedule"), names));
  } catch (const Error& e) {
    fail(detail::cat("schedule ", p.schedule, " cannot run ", microbatches,
                     " micro-batches per step on pp = ", p.pp, ": ", e.what_failed()),
         cfg.where("train.micro_batch"), e.hint());
  }
  // Message tags (PipelineSchedule::message_tag) must fit MPI's guaranteed range.
  if (static_cast<int64_t>(schedule->microbatches()) * schedule->num_stages() > 16383)
    fail(detail::cat(schedule->microbatches(), " micro-batches x ", schedule->num_stages(),
                     " stages is more than the pipeline's message tags can tell apart (16383)"),
         cfg.where("train.micro_batch"), "raise train.micro_batch to run fewer micro-batches");
  return std::move(*schedule);
}

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

// Experts over the ep group. With ep = 1, no capacity limit and no node limit
// the local dispatcher does the same arithmetic without the exchange machinery
// (dispatcher stays null). Node-limited routing needs the node size:
// parallel.ranks_per_node, or the launcher's ranks per node when that is 0.
// The placement is the identity, or with parallel.expert_slots the round robin
// of ExpertPlacement::round_robin (replicas of experts 0, 1, ... in the extra
// slots) until online rebalancing has load statistics.
struct ExpertSetup {
  std::optional<ExpertPlacement> placement;
  std::unique_ptr<ExpertParallelDispatcher<float>> dispatcher;
  ParallelConfig parallel;  // with ranks_per_node resolved
};

ExpertSetup make_expert_setup(const Config& cfg, ProcessGroups& groups) {
  ParallelConfig parallel = cfg.parallel;
  if (parallel.max_nodes_per_token > 0)
    parallel.ranks_per_node =
        ranks_per_node_for_routing(detect_launch_environment(), parallel.ranks_per_node);
  ExpertSetup setup;
  setup.parallel = parallel;
  if (cfg.model.experts > 0 &&
      (groups.layout.ep > 1 || parallel.capacity_factor > 0 || parallel.max_nodes_per_token > 0)) {
    setup.placement =
        parallel.expert_slots > 0
            ? ExpertPlacement::round_robin(cfg.model.experts, groups.layout.ep,
                                           parallel.expert_slots)
            : ExpertPlacement::identity(cfg.model.experts, groups.layout.ep);
    setup.dispatcher = std::make_unique<ExpertParallelDispatcher<float>>(
        *groups.ep, *setup.placement, parallel, DispatchWire::for_precision(precision_of(cfg)));
  }
  return setup;
}

// What both step loops share: the run's shape and scales, its data samplers and
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
        per_rank(global / layout.dp),
        // Scaled by the GLOBAL batch: summing the ranks' gradients gives the global one.
        ce_scale(1.0f / static_cast<float>(global * seq)),
        aux_scale(static_cast<float>(micro) / static_cast<float>(global)) {}

  // The first global sample of this rank's dp slice of `step`.
  int64_t slice_start(int64_t step) const { return step * global + groups.dp->rank() * per_rank; }

  const int64_t seq, micro, global, steps;
  const WindowSampler train_sampler, val_sampler;
  const bool leader;
  const ParallelLayout layout;
  ProcessGroups groups;
  const int64_t per_rank;  // samples per step on each dp rank
  const float ce_scale, aux_scale;
};

// Reporting and bookkeeping, the same for both step loops: the resolved config
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
  // The run's clock starts here, after setup.
  void start() { run_start_ = Clock::now(); }

  // After step `step` (0-based) started at `step_start`. sums: {ce, tokens, aux
  // loss, dropped pairs} of the step's global batch, the same on every rank, so
  // a diverged loss throws Error on every rank alike.
  void on_step(int64_t step, Clock::time_point step_start, const double sums[4], double lr,
               double grad_norm, double flops_per_token, double expert_load) {
    const double seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
    total_tokens_ += sums[1];
    StepMetrics m;
    m.step = step + 1;
    m.loss = sums[0] / std::max(1.0, sums[1]);
    m.aux_loss = sums[2];
    m.lr = lr;
    m.grad_norm = grad_norm;
    m.seconds = seconds;
    m.tokens_per_s = sums[1] / seconds;
    m.gflops = m.tokens_per_s * flops_per_token / 1e9;
    m.expert_load_max_over_mean = expert_load;
    m.dropped_pairs = static_cast<int64_t>(sums[3]);
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

// The step loop, from the first collective on. `data` is built, the config checked.
TrainResult run_training(const Config& cfg, const Dataset& data, Communicator& world) {
  RunSetup run(cfg, data, world);
  Communicator& dp = *run.groups.dp;
  const int64_t seq = run.seq, micro = run.micro;

  ExpertSetup experts = make_expert_setup(cfg, run.groups);
  Transformer<float> model(cfg.model, cfg.train.seed, experts.dispatcher.get(),
                           precision_of(cfg));
  // Replicated experts (placements with several replicas of one expert) get
  // their gradients summed over the replicas too; see DistributedOptimizer.
  DistributedOptimizer optimizer(cfg.optim, cfg.parallel, model.params(), run.groups,
                                 experts.placement ? &*experts.placement : nullptr);
  // Online rebalancing (off unless parallel.rebalance_every > 0 and ep > 1).
  ExpertRebalancer rebalancer(cfg, experts.parallel, run.groups, model, experts.placement,
                              experts.dispatcher.get());

  CheckpointScope checkpoints{&cfg, &world, &run.groups, &model.params(), &optimizer, {}, {}, nullptr};
  if (rebalancer.enabled()) {
    checkpoints.rebalancer = &rebalancer;
    checkpoints.placement_of = [&rebalancer](const Parameter& p) {
      return &rebalancer.placement(block_of_parameter(p.name));
    };
  }
  else if (experts.placement)
    checkpoints.placement_of = [&experts](const Parameter&) { return &*experts.placement; };

  RunLog log(cfg, data, run.leader);
  const int64_t first_step = resume_if_asked(cfg, checkpoints, log);
  const double flops_per_token = model.train_flops_per_token(seq);
  log.note(detail::cat(
      "sadari: training ", cfg.model.name, " (", model.params().numel() / 1e6,
      "M parameters on rank 0) for ", run.steps, " steps of ", run.global, " x ", seq,
      " tokens in ", cfg.train.precision, " on ",
      world.size() == 1
          ? std::string("1 process")
          : detail::cat(world.size(), " processes (dp ", run.layout.dp, ", ep ", run.layout.ep,
                        ", zero_stage ", cfg.parallel.zero_stage, ")"),
      " x ", omp_get_max_threads(), " threads; run dir ", cfg.logging.run_dir));

  std::vector<int32_t> inputs(static_cast<size_t>(micro * seq));
  std::vector<int32_t> targets(inputs.size());
  typename Transformer<float>::Cache cache;
  log.start();

  for (int64_t step = first_step; step < run.steps; ++step) {
    const auto step_start = Clock::now();
    model.params().zero_grad();
    double sums[4] = {0, 0, 0, 0};  // ce, tokens, aux, dropped pairs over this rank's slice
    std::vector<std::vector<int64_t>> counts;
    const int64_t slice = run.slice_start(step);
    for (int64_t first = slice; first < slice + run.per_rank; first += micro) {
      run.train_sampler.fill(first, micro, inputs.data(), targets.data());
      ForwardResult r = model.forward(inputs.data(), targets.data(), micro, seq, cache);
      model.backward(cache, run.ce_scale, run.aux_scale);
      sums[0] += r.ce_sum;
      sums[1] += static_cast<double>(r.tokens);
      sums[2] += r.aux_loss * run.aux_scale;
      sums[3] += static_cast<double>(model.dropped_pairs(cache));
      add_expert_counts(counts, model.expert_counts(cache));
    }
    dp.all_reduce(sums, 4, ReduceOp::sum);
    sum_counts_over(dp, counts);
    const double lr = learning_rate(cfg.optim, step, run.steps);
    const double grad_norm = optimizer.step(lr);
    model.update_router_biases(counts);
    log.on_step(step, step_start, sums, lr, grad_norm, flops_per_token,
                max_over_mean_load(counts));
    if (const auto moved = rebalancer.after_step(step, counts, optimizer)) {
      log.note(moved->line());
      log.record(moved->json());
      cache = typename Transformer<float>::Cache{};  // its dispatch states belong to old dispatchers
    }
    save_if_due(cfg, checkpoints, step, log);

    if (log.validation_due(step))
      log.on_validation(step, validation_loss(cfg.train.eval_batches, dp, nullptr, [&](int64_t b) {
                          run.val_sampler.fill(b * micro, micro, inputs.data(), targets.data());
                          return model.forward(inputs.data(), targets.data(), micro, seq, cache);
                        }));
  }
  return log.finish(flops_per_token);
}

// The step loop under pipeline parallelism (pp > 1). As run_training, except:
// this rank holds the model stages of its chunks (parallel/stage_partition.h)
// and runs its action list of the schedule (parallel/pipeline_executor.h) over
// the micro-batches of its dp slice; the loss, computed on the last stage, and
// the aux losses of every stage are summed over dp and then pp, so every rank
// (world rank 0 included) reports the global numbers.
TrainResult run_pipeline_training(const Config& cfg, const Dataset& data, Communicator& world) {
  RunSetup run(cfg, data, world);
  Communicator& dp = *run.groups.dp;
  Communicator& pp = *run.groups.pp;
  const int64_t seq = run.seq, micro = run.micro;
  ExpertSetup experts = make_expert_setup(cfg, run.groups);

  const PipelineSchedule schedule = pipeline_schedule_for(cfg);
  const std::vector<StageLayers> spans = partition_stages(cfg);
  SADARI_ASSERT(static_cast<int>(spans.size()) == schedule.num_stages());
  ParameterStore params(DType::f32);
  std::vector<std::unique_ptr<TransformerStage<float>>> stages;
  std::vector<TransformerStage<float>*> chunks;
  for (int c = 0; c < schedule.chunks_per_rank(); ++c) {
    const StageLayers& span = spans[static_cast<size_t>(schedule.stage_of(pp.rank(), c))];
    stages.push_back(std::make_unique<TransformerStage<float>>(cfg.model, span, params,
                                                               cfg.train.seed,
                                                               experts.dispatcher.get(),
                                                               precision_of(cfg)));
    chunks.push_back(stages.back().get());
  }
  PipelineExecutor executor(schedule, pp.rank(), chunks, pp, micro, seq, cfg.model.hidden);
  DistributedOptimizer optimizer(cfg.optim, cfg.parallel, params, run.groups,
                                 experts.placement ? &*experts.placement : nullptr);
  // DualPipe: every stage lives on ranks r and pp-1-r; their gradients and
  // load counts are summed after each step's backward (parallel/stage_copies.h).
  const bool stage_copies = schedule.kind() == ScheduleKind::dualpipe;
  std::unique_ptr<Communicator> copies;
  if (stage_copies) {
    copies = make_stage_copy_group(pp);
    optimizer.set_pipeline_copies(2);
  }

  CheckpointScope checkpoints{&cfg, &world, &run.groups, &params, &optimizer, {}, {}, nullptr};
  if (experts.placement)
    checkpoints.placement_of = [&experts](const Parameter&) { return &*experts.placement; };
  if (stage_copies) checkpoints.dualpipe_stages = spans;

  RunLog log(cfg, data, run.leader);
  const int64_t first_step = resume_if_asked(cfg, checkpoints, log);
  // Model FLOPs per token: every stage once, summed over the pipeline.
  double flops_per_token = 0;
  for (const auto& stage : stages) flops_per_token += stage->train_flops_per_token(seq);
  pp.all_reduce(&flops_per_token, 1, ReduceOp::sum);
  if (stage_copies) flops_per_token /= 2;
  std::string split;
  for (const auto& span : spans) split += detail::cat(split.empty() ? "" : ",", span.count);
  log.note(detail::cat(
      "sadari: training ", cfg.model.name, " (", params.numel() / 1e6,
      "M parameters on rank 0) for ", run.steps, " steps of ", run.global, " x ", seq,
      " tokens in ", cfg.train.precision, " on ", world.size(), " processes (pp ", run.layout.pp, " schedule ",
      cfg.parallel.schedule, ", layers per stage ", split, ", ", schedule.microbatches(),
      " micro-batches; dp ", run.layout.dp, ", ep ", run.layout.ep, ", zero_stage ",
      cfg.parallel.zero_stage, ") x ", omp_get_max_threads(), " threads; run dir ",
      cfg.logging.run_dir));
  log.start();

  for (int64_t step = first_step; step < run.steps; ++step) {
    const auto step_start = Clock::now();
    params.zero_grad();
    const int64_t slice = run.slice_start(step);
    const PipelineStepStats stats = executor.run_step(
        [&](int microbatch, int32_t* ids, int32_t* targets) {
          run.train_sampler.fill(slice + microbatch * micro, micro, ids, targets);
        },
        run.ce_scale, run.aux_scale);
    // ce and tokens live on the last stage, aux losses on every MoE stage.
    double sums[4] = {stats.ce_sum, stats.tokens, stats.aux_loss * run.aux_scale,
                      stats.dropped_pairs};
    dp.all_reduce(sums, 4, ReduceOp::sum);
    pp.all_reduce(sums, 4, ReduceOp::sum);
    std::vector<std::vector<std::vector<int64_t>>> counts = stats.expert_counts;
    std::vector<std::vector<int64_t>> all_counts;  // every MoE block of this rank, for the report
    for (auto& chunk_counts : counts) sum_counts_over(dp, chunk_counts);
    if (stage_copies) {
      sum_gradients_over_copies(params, *copies);
      // Both ranks of a pair list their two stages in stage order.
      const bool swapped = schedule.stage_of(pp.rank(), 0) > schedule.stage_of(pp.rank(), 1);
      if (swapped) std::swap(counts[0], counts[1]);
      sum_counts_over_copies(counts, *copies);
      if (swapped) std::swap(counts[0], counts[1]);
    }
    for (const auto& chunk_counts : counts)
      all_counts.insert(all_counts.end(), chunk_counts.begin(), chunk_counts.end());
    const double lr = learning_rate(cfg.optim, step, run.steps);
    const double grad_norm = optimizer.step(lr);
    for (size_t c = 0; c < stages.size(); ++c)
      if (!counts[c].empty()) stages[c]->update_router_biases(counts[c]);
    // The worst expert load over the whole model: the max over the stages.
    double load = max_over_mean_load(all_counts);
    pp.all_reduce(&load, 1, ReduceOp::max);
    log.on_step(step, step_start, sums, lr, grad_norm, flops_per_token, load);
    save_if_due(cfg, checkpoints, step, log);

    // Each validation batch goes through the whole pipeline.
    if (log.validation_due(step))
      log.on_validation(step, validation_loss(cfg.train.eval_batches, dp, &pp, [&](int64_t b) {
                          return executor.forward_only([&](int, int32_t* ids, int32_t* targets) {
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
    if (cfg.parallel.pp > 1) return run_pipeline_training(cfg, data, world);
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
