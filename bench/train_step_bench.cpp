// train_step_bench: how much of a CPU training step is GEMM.
//
// Runs the training step of one config (default configs/small-moe.yaml) in this
// process: the very TrainingStep `sadari train` runs (parallel/training_step.h:
// forward and backward per micro-batch, gradient reduction, clipping, AdamW,
// router-bias update), and reports
//   - tokens/s and model GFLOP/s (Transformer::train_flops_per_token x tokens/s);
//   - the sgemm baseline: GFLOP/s of single-precision GEMM at each GEMM shape of
//     the model's step, measured in this same process;
//   - model GFLOP/s as a fraction of that baseline (1.0 = the whole step runs as
//     fast as its GEMMs alone would);
//   - the step time split into gemm / attention / moe_routing / optimizer / other
//     (core/profile.h scopes, self time, so the parts add up to the step).
//
// The baseline, precisely: every GEMM of one micro-batch's forward and backward
// (y = x W^T, dx = dy W, dW += dy^T x for each linear layer; routed experts at the
// average rows per expert, n * top_k / E) is timed both through ops::gemm on the CPU context (what
// the model calls) and straight through OpenBLAS's threaded cblas_sgemm, and the
// faster of the two counts. With t_s = FLOPs of shape s / its GFLOP/s, the
// baseline is sum(FLOPs) / sum(t_s): the rate at which the step's model FLOPs
// would run if each ran at its own shape's sgemm speed (a FLOP-weighted harmonic
// mean). Attention's score and value products (part of the model FLOPs) are timed
// as per-(batch, head) GEMMs of [seq, head_dim] operands, parallel over heads, as
// the attention kernel runs them. One measurement round of all shapes follows each
// timed step, so the steps and the baseline see the same machine even when its
// load changes during the run.
//
// Timings are ratios against a baseline measured in the same run; nothing here
// passes or fails. On a machine shared with other busy processes, OpenMP's default
// spin-waiting distorts both sides (see docs/performance.md); the report names
// the OMP_WAIT_POLICY in effect.
//
// Usage:
//   train_step_bench [--config FILE] [--steps N] [--warmup N] [--set key=value]...
//                    [--gemm-seconds S] [--json] [--no-baseline]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "core/config_load.h"
#include "core/error.h"
#include "core/profile.h"
#include "data/dataset.h"
#include "kernels/gemm_backend.h"
#include "kernels/ops.h"
#include "comm/process_groups.h"
#include "comm/self_communicator.h"
#include "optim/lr_schedule.h"
#include "parallel/expert_setup.h"
#include "parallel/training_step.h"

#ifndef SADARI_SOURCE_DIR
#define SADARI_SOURCE_DIR "."
#endif

namespace sadari {
namespace {

using bench::Clock;
using bench::seconds_since;


// ---------------------------------------------------------------------------
// The sgemm baseline.

// One GEMM of the step: C[M,N] (+)= op(A) op(B), `count` times per micro-batch.
struct GemmShape {
  std::string name;
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  double count = 0;  // per micro-batch
  double beta = 0;   // 1 where the model accumulates (weight gradients)
  double flops() const { return 2.0 * double(M) * double(N) * double(K) * count; }
};

// Forward and both backward GEMMs of a linear layer y[rows,out] = x[rows,in] W[out,in]^T,
// as model/linear.cpp issues them.
void add_linear(std::vector<GemmShape>& v, const std::string& name, int64_t rows, int64_t in,
                int64_t out, double count) {
  if (rows <= 0 || count <= 0) return;
  v.push_back({name + " fwd", false, true, rows, out, in, count, 0.0});
  v.push_back({name + " dx", false, false, rows, in, out, count, 0.0});
  v.push_back({name + " dW", true, false, out, in, rows, count, 1.0});
}

std::vector<GemmShape> model_gemm_shapes(const ModelConfig& m, int64_t micro, int64_t seq) {
  const int64_t n = micro * seq, D = m.hidden;
  const int64_t hd = m.head_dim ? m.head_dim : m.hidden / m.heads, inner = m.heads * hd;
  const int64_t dense = std::min(m.first_dense_layers, m.layers), moe = m.layers - dense;
  const int64_t S = m.shared_experts * m.moe_ffn_hidden;
  // Average rows per expert in one micro-batch (the actual split varies with routing).
  const int64_t rows_per_expert = (n * m.top_k + m.experts / 2) / m.experts;
  std::vector<GemmShape> v;
  add_linear(v, "attn q/k/v", n, D, inner, 3.0 * double(m.layers));
  add_linear(v, "attn out", n, inner, D, double(m.layers));
  add_linear(v, "dense ffn gate_up", n, D, 2 * m.dense_ffn_hidden, double(dense));
  add_linear(v, "dense ffn down", n, m.dense_ffn_hidden, D, double(dense));
  add_linear(v, "router", n, D, m.experts, double(moe));
  add_linear(v, "expert gate_up", rows_per_expert, D, 2 * m.moe_ffn_hidden,
             double(moe * m.experts));
  add_linear(v, "expert down", rows_per_expert, m.moe_ffn_hidden, D, double(moe * m.experts));
  if (S > 0) {
    add_linear(v, "shared gate_up", n, D, 2 * S, double(moe));
    add_linear(v, "shared down", n, S, D, double(moe));
  }
  add_linear(v, "head", n, D, m.vocab_size, 1.0);
  return v;
}

// Mean seconds per call of fn over enough calls to last min_seconds (after one
// untimed call that warms packing buffers, pages and caches).
template <typename F>
double time_mean(F&& fn, double min_seconds) {
  fn();
  int64_t calls = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++calls;
    elapsed = seconds_since(t0);
  } while (elapsed < min_seconds);
  return elapsed / double(calls);
}

std::vector<float> filled(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = scale * float((i * 37 + 11) % 101 - 50) / 50.0f;
  return v;
}

// Seconds per call of one shape, through ops::gemm on the CPU context (what the model calls: C cut
// into tiles, one single-threaded OpenBLAS call per tile) or straight through
// cblas_sgemm with OpenBLAS's own threading.
double gemm_seconds(const GemmShape& s, bool raw_openblas, double min_seconds) {
  const int64_t a_rows = s.ta ? s.K : s.M, a_cols = s.ta ? s.M : s.K;
  const int64_t b_rows = s.tb ? s.N : s.K, b_cols = s.tb ? s.K : s.N;
  std::vector<float> A = filled(a_rows * a_cols, 0.1f), B = filled(b_rows * b_cols, 0.1f);
  std::vector<float> C(static_cast<size_t>(s.M * s.N), 0.0f);
  return time_mean(
      [&] {
        if (raw_openblas)
          cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                      s.tb ? CblasTrans : CblasNoTrans, blasint(s.M), blasint(s.N), blasint(s.K),
                      1.0f, A.data(), blasint(a_cols), B.data(), blasint(b_cols), float(s.beta),
                      C.data(), blasint(s.N));
        else
          ops::gemm<float>(ExecContext::cpu(), s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), a_cols, B.data(), b_cols,
                           float(s.beta), C.data(), s.N);
      },
      min_seconds);
}

// The attention kernel's six products per (batch, head) at full [seq, seq] size,
// parallel over (batch, head) with one single-threaded GEMM each, as
// kernels/cpu/attention.cpp runs them (there in causal row blocks).
double attention_gemm_seconds(int64_t batch, int64_t seq, int64_t heads, int64_t hd,
                             double min_seconds) {
  const int64_t inner = heads * hd, n = batch * seq, pairs = batch * heads;
  std::vector<float> Q = filled(n * inner, 0.1f), Kt = filled(n * inner, 0.1f),
                     V = filled(n * inner, 0.1f), O(static_cast<size_t>(n * inner));
  const double t = time_mean(
      [&] {
#pragma omp parallel
        {
          std::vector<float> P(static_cast<size_t>(seq * seq)), dS(P.size());
#pragma omp for schedule(dynamic)
          for (int64_t bh = 0; bh < pairs; ++bh) {
            const int64_t off = (bh / heads) * seq * inner + (bh % heads) * hd;
            const float *q = Q.data() + off, *k = Kt.data() + off, *v = V.data() + off;
            float* o = O.data() + off;
            // forward: S = Q K^T, O = P V
            ops::gemm<float>(ExecContext::cpu(), false, true, seq, seq, hd, 1.0f, q, inner, k, inner, 0.0f,
                             P.data(), seq);
            ops::gemm<float>(ExecContext::cpu(), false, false, seq, hd, seq, 1.0f, P.data(), seq, v, inner, 0.0f, o,
                             inner);
            // backward: dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q
            ops::gemm<float>(ExecContext::cpu(), true, false, seq, hd, seq, 1.0f, P.data(), seq, q, inner, 1.0f, o,
                             inner);
            ops::gemm<float>(ExecContext::cpu(), false, true, seq, seq, hd, 1.0f, q, inner, v, inner, 0.0f,
                             dS.data(), seq);
            ops::gemm<float>(ExecContext::cpu(), false, false, seq, hd, seq, 1.0f, dS.data(), seq, k, inner, 0.0f,
                             o, inner);
            ops::gemm<float>(ExecContext::cpu(), true, false, seq, hd, seq, 1.0f, dS.data(), seq, q, inner, 1.0f, o,
                             inner);
          }
        }
      },
      min_seconds);
  return t;
}

double attention_gemm_flops(int64_t batch, int64_t seq, int64_t heads, int64_t hd) {
  return 6.0 * 2.0 * double(seq) * double(seq) * double(hd) * double(batch * heads);
}

// ---------------------------------------------------------------------------

struct Options {
  std::string config = std::string(SADARI_SOURCE_DIR) + "/configs/small-moe.yaml";
  std::vector<std::string> overrides;
  int64_t steps = 5, warmup = 2;
  bool json = false;
  bool baseline = true;
  double gemm_seconds = 0.02;
};

// nullopt: --help was given (and printed).
std::optional<Options> parse(int argc, char** argv) {
  const bench::Args a("train_step_bench", argc, argv,
                      {{"config", true, false, "config file (default configs/small-moe.yaml)"},
                       {"steps", true, false, "timed optimizer steps (default 5)"},
                       {"warmup", true, false, "untimed steps first (default 2)"},
                       {"set", true, true, "KEY=VALUE config override (repeatable)"},
                       {"gemm-seconds", true, false,
                        "seconds per GEMM-shape measurement per round (default 0.02)"},
                       {"json", false, false, "also print the results as one JSON line"},
                       {"no-baseline", false, false, "steps and breakdown only (for profilers)"}});
  if (a.help("usage: train_step_bench [options]")) return std::nullopt;
  Options o;
  if (!a.positional().empty()) o.config = a.positional()[0];
  o.config = a.text("config", o.config);
  o.overrides = a.all("set");
  o.steps = a.integer("steps", 5, 1);
  o.warmup = a.integer("warmup", 2, 0);
  o.gemm_seconds = a.number("gemm-seconds", 0.02);
  o.json = a.has("json");
  o.baseline = !a.has("no-baseline");
  return o;
}

int run(int argc, char** argv) {
  const std::optional<Options> parsed = parse(argc, argv);
  if (!parsed) return 0;
  const Options& opt = *parsed;
  const Config cfg = load_config(opt.config, opt.overrides);
  if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));
  const int threads = omp_get_max_threads();
  const int64_t seq = cfg.train.seq_len, micro = cfg.train.micro_batch;
  const int64_t global = cfg.train.global_batch;

  DatasetOptions data_options;
  data_options.seq_len = seq;
  data_options.vocab_size = cfg.model.vocab_size;
  const Dataset data = Dataset::build(cfg.data, data_options);
  const WindowSampler sampler = data.train_sampler(cfg.train.seed);

  // The training step `sadari train` runs (parallel/training_step.h), in one process.
  if (cfg.parallel.pp * cfg.parallel.dp != 1)
    fail("train_step_bench runs one process", cfg.where("parallel.dp"),
         "set parallel.pp=1 and parallel.dp=1 (bench/dp_step_bench times data parallelism)");
  SelfCommunicator world;
  ProcessGroups groups = make_process_groups(world, ParallelLayout{1, 1, 1});
  const std::unique_ptr<ExpertSetup> experts = make_expert_setup(cfg, groups);
  TrainingStep training(cfg, groups, *experts);
  const double flops_per_token = training.train_flops_per_token();
  std::printf("train_step_bench: %s (%.2fM parameters), %lld x %lld tokens per step "
              "(micro-batch %lld), %d threads\n",
              cfg.model.name.c_str(), double(training.params().numel()) / 1e6, (long long)global,
              (long long)seq, (long long)micro, threads);
  std::fflush(stdout);

  // --- the sgemm baseline: every GEMM shape of one micro-batch ---
  struct Baseline {
    std::string name;
    double flops = 0;                  // model FLOPs of this shape per micro-batch
    GemmShape shape;                   // (unused for attention)
    bool attention = false;
    double ours_s = 0, raw_s = 0;      // summed seconds per call over the rounds
    double gflops(int rounds) const {  // the faster of the two ways, mean over rounds
      const double t = raw_s > 0 ? std::min(ours_s, raw_s) : ours_s;
      return flops_per_call() * rounds / t / 1e9;
    }
    double flops_per_call() const {
      return attention ? attn_call_flops : 2.0 * double(shape.M) * double(shape.N) * double(shape.K);
    }
    double attn_call_flops = 0;
  };
  const int64_t hd = cfg.model.head_dim ? cfg.model.head_dim : cfg.model.hidden / cfg.model.heads;
  std::vector<Baseline> base;
  for (const GemmShape& s : model_gemm_shapes(cfg.model, micro, seq)) {
    Baseline b;
    b.name = s.name + " [" + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" +
             std::to_string(s.K) + "]";
    b.flops = s.flops();
    b.shape = s;
    base.push_back(b);
  }
  {
    // Model convention (AttentionLayer::forward_flops_per_token): the causal half,
    // x3 for training.
    Baseline b;
    b.name = "attention QK^T, PV + bwd [per head " + std::to_string(seq) + "x" +
             std::to_string(seq) + "x" + std::to_string(hd) + "]";
    b.flops = 3.0 * double(cfg.model.layers) * double(micro * seq) * 2.0 * 2.0 *
              double(cfg.model.heads * hd) * (double(seq) + 1.0) / 2.0;
    b.attention = true;
    b.attn_call_flops = attention_gemm_flops(micro, seq, cfg.model.heads, hd);
    base.push_back(b);
  }
  // One round measures every shape once. Rounds alternate with the timed steps, so
  // steps and baseline see the same machine (on a shared box the load varies).
  auto baseline_round = [&] {
    for (Baseline& b : base) {
      if (b.attention) {
        b.ours_s += attention_gemm_seconds(micro, seq, cfg.model.heads, hd, opt.gemm_seconds);
      } else {
        b.ours_s += gemm_seconds(b.shape, false, opt.gemm_seconds);
        b.raw_s += gemm_seconds(b.shape, true, opt.gemm_seconds);
      }
    }
  };

  // --- the training steps ---
  double timed_seconds = 0, timed_tokens = 0, worst_load = 0;
  std::vector<double> step_seconds;
  Profile prof;
  const int64_t total_steps = opt.warmup + opt.steps;
  int rounds = 0;
  for (int64_t step = 0; step < total_steps; ++step) {
    const bool timed = step >= opt.warmup;
    reset_profile();
    set_profiling(timed);
    const auto t0 = Clock::now();
    const StepStats stats = training.run(
        learning_rate(cfg.optim, step, total_steps), [&](int m, int32_t* ids, int32_t* targets) {
          sampler.fill(step * global + m * micro, micro, ids, targets);
        });
    const double s = seconds_since(t0);
    set_profiling(false);
    if (!timed) continue;
    const Profile p = profile_totals();
    for (size_t c = 0; c < p.seconds.size(); ++c) prof.seconds[c] += p.seconds[c];
    timed_seconds += s;
    timed_tokens += stats.tokens;
    step_seconds.push_back(s);
    worst_load = std::max(worst_load, stats.max_over_mean_load);
    std::fprintf(stderr, "  step %lld: %.3f s\n", (long long)(step - opt.warmup + 1), s);
    if (opt.baseline) {
      baseline_round();
      ++rounds;
    }
  }
  const double steps = double(opt.steps);
  const double step_s = timed_seconds / steps;
  const double tokens_per_s = timed_tokens / timed_seconds;
  const double model_gflops = tokens_per_s * flops_per_token / 1e9;

  double base_flops = 0, base_time = 0;
  if (!opt.baseline) {
    std::printf("step: %.3f s, tokens/s %.1f, model GFLOP/s %.2f\n", step_s, tokens_per_s,
                model_gflops);
    for (size_t c = 0; c < size_t(ProfileCategory::count); ++c)
      std::printf("  %-12s %.4f s/step\n",
                  std::string(profile_category_name(ProfileCategory(c))).c_str(),
                  prof.seconds[c] / steps);
    return 0;
  }
  for (const Baseline& b : base) {
    base_flops += b.flops;
    base_time += b.flops / (b.gflops(rounds) * 1e9);
  }
  const double baseline_gflops = base_flops / base_time / 1e9;
  const double ratio = model_gflops / baseline_gflops;
  const double model_flops_micro = flops_per_token * double(micro * seq);
  // A large square GEMM for reference: how near the model's shapes get to peak.
  const GemmShape big{"square", false, true, 2048, 2048, 2048, 1, 0};
  const double peak_gflops =
      2.0 * 2048.0 * 2048.0 * 2048.0 /
      std::min(gemm_seconds(big, false, 0.3), gemm_seconds(big, true, 0.3)) / 1e9;

  // --- report ---
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  std::printf("OMP_WAIT_POLICY=%s\n", wait_policy ? wait_policy : "(unset)");
  std::printf("\nstep: %.3f s (min %.3f, max %.3f over %lld timed steps after %lld warm-up)\n",
              step_s, *std::min_element(step_seconds.begin(), step_seconds.end()),
              *std::max_element(step_seconds.begin(), step_seconds.end()), (long long)opt.steps,
              (long long)opt.warmup);
  std::printf("tokens/s:               %10.1f\n", tokens_per_s);
  std::printf("model FLOPs/token:      %10.3e (train, 3x forward)\n", flops_per_token);
  std::printf("model GFLOP/s:          %10.2f\n", model_gflops);
  std::printf("sgemm GFLOP/s (shapes): %10.2f  FLOP-weighted over the step's GEMM shapes\n",
              baseline_gflops);
  std::printf("model / sgemm:          %10.3f\n", ratio);
  std::printf("sgemm GFLOP/s (2048^3): %10.2f  (reference: large square GEMM)\n", peak_gflops);
  std::printf("expert load max/mean:   %10.2f  (worst MoE layer in a step)\n", worst_load);
  std::printf("shapes cover %.1f%% of the model FLOPs\n", 100.0 * base_flops / model_flops_micro);

  std::printf("\n%-56s %7s %9s %9s\n", "GEMM shape (MxNxK)", "FLOP %", "ops::gemm", "OpenBLAS");
  for (const Baseline& b : base) {
    const double ours = b.flops_per_call() * rounds / b.ours_s / 1e9;
    if (b.raw_s > 0)
      std::printf("%-56s %6.1f%% %9.2f %9.2f\n", b.name.c_str(), 100.0 * b.flops / base_flops,
                  ours, b.flops_per_call() * rounds / b.raw_s / 1e9);
    else
      std::printf("%-56s %6.1f%% %9.2f %9s\n", b.name.c_str(), 100.0 * b.flops / base_flops, ours,
                  "-");
  }

  double covered = 0;
  for (double v : prof.seconds) covered += v;
  const double other = std::max(0.0, timed_seconds - covered);
  std::printf("\nbreakdown per step       seconds      %%\n");
  auto line = [&](const char* name, double total) {
    std::printf("  %-20s %9.4f %6.1f%%\n", name, total / steps, 100.0 * total / timed_seconds);
  };
  for (size_t c = 0; c < size_t(ProfileCategory::count); ++c)
    line(std::string(profile_category_name(ProfileCategory(c))).c_str(), prof.seconds[c]);
  line("other", other);
  line("total", timed_seconds);
  // What the GEMMs achieved inside the step: linear-layer FLOPs over gemm time.
  const double attn_flops = base.back().flops;
  const double linear_flops_step = (base_flops - attn_flops) * double(global / micro) * steps;
  if (prof[ProfileCategory::gemm] > 0)
    std::printf("in-step GEMM GFLOP/s:   %10.2f  (linear-layer FLOPs / gemm time)\n",
                linear_flops_step / prof[ProfileCategory::gemm] / 1e9);

  if (opt.json) {
    std::printf(
        "{\"bench\":\"train_step\",\"config\":\"%s\",\"threads\":%d,\"omp_wait_policy\":\"%s\","
        "\"steps\":%lld,\"step_s\":%.6f,\"tokens_per_s\":%.3f,\"model_gflops\":%.4f,"
        "\"sgemm_gflops\":%.4f,\"model_over_sgemm\":%.5f,\"sgemm_peak_gflops\":%.4f,"
        "\"flops_per_token\":%.6e,\"breakdown_s_per_step\":{\"gemm\":%.6f,\"attention\":%.6f,"
        "\"moe_routing\":%.6f,\"optimizer\":%.6f,\"other\":%.6f}}\n",
        cfg.model.name.c_str(), threads, wait_policy ? wait_policy : "", (long long)opt.steps,
        step_s, tokens_per_s, model_gflops, baseline_gflops, ratio, peak_gflops, flops_per_token,
        prof[ProfileCategory::gemm] / steps, prof[ProfileCategory::attention] / steps,
        prof[ProfileCategory::moe_routing] / steps, prof[ProfileCategory::optimizer] / steps,
        other / steps);
  }
  return 0;
}

}  // namespace
}  // namespace sadari

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // first: may restart the process
  return sadari::bench::run_main("train_step_bench", [&] { return sadari::run(argc, argv); });
}
