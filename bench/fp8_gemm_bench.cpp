// fp8_gemm_bench: the CPU FP8 GEMM path against single-precision GEMM at the same
// shapes, measured in the same run.
//
// For each shape (M tokens, N outputs, K inputs: y[M,N] = x[M,K] W[N,K]^T) three
// things are timed, interleaved round by round so they see the same machine load:
//   sgemm     the fp32 product the model runs today: the faster of cpu::gemm (what
//             the model calls; deterministic tiling) and OpenBLAS's threaded
//             cblas_sgemm, each timed every round;
//   fp8 path  quantise x (1x128 tiles) + quantise W (128x128 blocks) + fp8_gemm_nt:
//             everything an FP8 linear layer's forward does per call;
//   fp8 gemm  fp8_gemm_nt alone on pre-quantised operands.
// Reported: GFLOP/s (2 M N K / median time) and the rate ratios fp8 path / sgemm
// and fp8 gemm / sgemm (1.0 = as fast as sgemm). The target is fp8 path >= 0.6.
// Shapes: the tiny-moe and small-moe configs' dense and expert GEMMs (experts at
// the average rows per expert, tokens * top_k / experts), an attention projection,
// and larger square-ish products. Nothing passes or fails here.
//
// Usage: fp8_gemm_bench [--rounds R] [--min-ms T] [--shape MxNxK]...
// (on a machine busy with other work set OMP_WAIT_POLICY=passive; see
// docs/performance.md).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm_backend.h"
#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/gemm.h"

namespace sadari {
namespace {

using bench::Clock;
using bench::seconds_since;

struct Shape {
  std::string name;
  int64_t M, N, K;
};

// Seconds per call of f: calls repeated until a sample lasts min_s.
double time_per_call(const std::function<void()>& f, int reps) {
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) f();
  return seconds_since(t0) / reps;
}

int calibrate(const std::function<void()>& f, double min_s) {
  f();  // warm-up (allocations, page faults)
  int reps = 1;
  while (true) {
    const double t = time_per_call(f, reps);
    if (t * reps >= min_s || reps >= (1 << 20)) return reps;
    reps = std::max(reps * 2, int(min_s / std::max(t, 1e-9)) + 1);
  }
}

void run(const Shape& s, int rounds, double min_s) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(size_t(s.M * s.K)), w(size_t(s.N * s.K)), y(size_t(s.M * s.N));
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = 0.02f * d(rng);
  const cpu::Fp8QuantizeOptions opt{};
  std::vector<uint8_t> xq(x.size()), wq(w.size());
  std::vector<float> xs(size_t(s.M * cpu::fp8_tiles(s.K))),
      ws(size_t(cpu::fp8_tiles(s.N) * cpu::fp8_tiles(s.K)));
  const cpu::Fp8View xv{xq.data(), xs.data(), s.M, s.K, opt.format, cpu::Fp8Tiling::tiles_1x128, "x"};
  const cpu::Fp8View wv{wq.data(), ws.data(), s.N, s.K, opt.format,
                        cpu::Fp8Tiling::blocks_128x128, "w"};

  auto ours = [&] {
    cpu::gemm<float>(false, true, s.M, s.N, s.K, 1.0f, x.data(), s.K, w.data(), s.K, 0.0f,
                     y.data(), s.N);
  };
  auto blas = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(s.M), blasint(s.N),
                blasint(s.K), 1.0f, x.data(), blasint(s.K), w.data(), blasint(s.K), 0.0f,
                y.data(), blasint(s.N));
  };
  auto quantise = [&] {
    cpu::fp8_quantize_tiles(x.data(), s.M, s.K, s.K, xq.data(), xs.data(), opt, "x");
    cpu::fp8_quantize_blocks(w.data(), s.N, s.K, s.K, wq.data(), ws.data(), opt, "w");
  };
  auto fp8_gemm = [&] { cpu::fp8_gemm_nt(xv, wv, y.data(), s.N); };
  auto fp8_path = [&] {
    quantise();
    fp8_gemm();
  };
  const std::function<void()> fs[] = {ours, blas, fp8_path, fp8_gemm};
  int reps[4];
  for (int i = 0; i < 4; ++i) reps[i] = calibrate(fs[i], min_s);
  std::vector<double> t[4];
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < 4; ++i) t[i].push_back(time_per_call(fs[i], reps[i]));
  double med[4];
  for (int i = 0; i < 4; ++i) med[i] = bench::median(t[i]);
  const double sg = std::min(med[0], med[1]);
  const double gflop = 2.0 * double(s.M) * double(s.N) * double(s.K) * 1e-9;
  std::printf("%-22s %5ldx%5ldx%5ld  sgemm %7.1f GFLOP/s (%s)  fp8 path %7.1f  fp8 gemm %7.1f"
              "  ratio path/sgemm %.2f  gemm/sgemm %.2f\n",
              s.name.c_str(), long(s.M), long(s.N), long(s.K), gflop / sg,
              med[0] <= med[1] ? "cpu::gemm" : "cblas", gflop / med[2], gflop / med[3],
              sg / med[2], sg / med[3]);
  std::fflush(stdout);
}

}  // namespace

int main_bench(int argc, char** argv) {
  const bench::Args args("fp8_gemm_bench", argc, argv,
                         {{"rounds", true, false, "interleaved rounds (default 7)"},
                          {"min-ms", true, false, "least time per sample in ms (default 30)"},
                          {"shape", true, true, "MxNxK instead of the built-in shapes (repeatable)"}});
  if (args.help("usage: fp8_gemm_bench [--rounds R] [--min-ms T] [--shape MxNxK]...")) return 0;
  const int rounds = static_cast<int>(args.integer("rounds", 7, 1, 1000000));
  const double min_ms = args.number("min-ms", 30);
  std::vector<Shape> shapes;
  for (const std::string& text : args.all("shape")) {
    long m = 0, n = 0, k = 0;
    char end = 0;
    if (std::sscanf(text.c_str(), "%ldx%ldx%ld%c", &m, &n, &k, &end) != 3 || m <= 0 || n <= 0 ||
        k <= 0)
      throw UsageError("wants MxNxK with positive sizes, got '" + text + "'", "--shape");
    shapes.push_back({"custom", m, n, k});
  }
  if (shapes.empty())
    shapes = {
        {"tiny-moe dense gate_up", 512, 384, 64},   // 8x64 tokens, hidden 64, ffn 192
        {"tiny-moe expert up", 128, 128, 64},       // 512 * top2 / 8 experts rows
        {"small-moe attn q", 2048, 256, 256},       // 8x256 tokens, hidden 256
        {"small-moe dense up", 2048, 1536, 256},    // dense ffn 768, gate+up fused
        {"small-moe dense down", 2048, 256, 768},
        {"small-moe expert up", 512, 512, 256},     // 2048 * top4 / 16 experts rows
        {"small-moe expert down", 512, 256, 256},
        {"square-ish", 512, 512, 2048},
        {"large", 1024, 1024, 1024},
    };
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  std::printf("fp8_gemm_bench: %d threads, OMP_WAIT_POLICY=%s, %d rounds, median of >= %.0f ms "
              "samples\n",
              omp_get_max_threads(), wait ? wait : "(unset)", rounds, min_ms);
  for (const auto& s : shapes) run(s, rounds, min_ms * 1e-3);
  return 0;
}

}  // namespace sadari

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // first: may restart the process
  return sadari::bench::run_main("fp8_gemm_bench", [&] { return sadari::main_bench(argc, argv); });
}
