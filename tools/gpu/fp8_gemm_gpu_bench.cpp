// fp8_gemm_gpu_bench: GEMM throughput on one Hopper GPU, three ways at the same
// shapes in the same run (nothing passes or fails here; tools/gpu-check.sh runs it
// and keeps its output):
//   bf16      cuBLASLt BF16 (cuda::GemmLt, bf16 in, bf16 out, f32 accumulation):
//             what an unquantised layer would run;
//   lt-fp8    cuBLASLt block-scaled FP8 (cuda::Fp8GemmLt: 1x128 activation scales,
//             128x128 weight scales, bf16 out): the vendor baseline;
//   sadari    sadari's own sm_90a kernel (kernels/cuda/fp8_gemm_sm90.h), same
//             operands and output type.
// Shapes: M = 4096 tokens and (N, K) from DeepSeek-V3's linear layers, and grouped
// MoE GEMMs: 4096 rows spread unevenly over 8 experts (each a multiple of 128).
// Grouped bf16 and lt-fp8 are one cuBLASLt call per expert; sadari's is one launch.
//
// Timing: CUDA events around each call, `--warmup` untimed calls then `--iters`
// timed ones back to back on one stream (so the GPU never idles between them and
// host launch overhead is hidden unless it exceeds the GPU time); reported is the
// median. TFLOP/s = 2 M N K / median time. The GEMM alone is timed: the scale
// layout conversion cuBLASLt needs (fp8_lt_prepare_*) runs once before and is not
// included; sadari's kernel reads the CPU-layout scales directly. Operands are not
// flushed from L2 between calls (the weights of the larger shapes exceed L2 anyway).
// Data: random E4M3 codes of magnitude 2^-1 .. 2^3 (no NaN codes), scales in
// [0.5, 1.5]; bf16 operands of similar magnitude. "agree" is max |D_sadari - D_lt| /
// max |D_lt| over the whole output (both FP8 paths compute the same definition, so
// this should be at bf16-rounding level, ~1e-2 or less; it is a sanity check, the
// tests are the correctness check).
//
// usage: fp8_gemm_gpu_bench [--iters N] [--warmup N] [--json]
//   --json also prints one JSON line per shape (prefixed by nothing; grep '^{').
// Exits 1 with a message when there is no CUDA device or it is not compute
// capability 9.0.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/bf16.h"
#include "core/error.h"
#include "core/fp8.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/fp8_gemm_lt.h"
#include "kernels/cuda/fp8_gemm_sm90.h"
#include "kernels/cuda/gemm_lt.h"

namespace sadari {
namespace {

struct Options {
  int iters = 20, warmup = 3;
  bool json = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto count = [&](const char* name) {
      SADARI_CHECK(i + 1 < argc, "fp8_gemm_gpu_bench: ", name, " needs a value");
      const int v = std::atoi(argv[++i]);
      SADARI_CHECK(v >= 0 && v <= 10000, "fp8_gemm_gpu_bench: ", name, " ", argv[i],
                   " is not a count in [0, 10000]");
      return v;
    };
    if (a == "--iters") o.iters = std::max(1, count("--iters"));
    else if (a == "--warmup") o.warmup = count("--warmup");
    else if (a == "--json") o.json = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: fp8_gemm_gpu_bench [--iters N (20)] [--warmup N (3)] [--json]\n");
      std::exit(0);
    } else {
      fail(detail::cat("unknown argument '", a, "'"), "fp8_gemm_gpu_bench",
           "usage: fp8_gemm_gpu_bench [--iters N] [--warmup N] [--json]");
    }
  }
  return o;
}

// A device allocation freed on scope exit.
struct DeviceBytes {
  void* p = nullptr;
  explicit DeviceBytes(size_t bytes) { SADARI_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 16))); }
  ~DeviceBytes() { (void)cudaFree(p); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

// splitmix64: fast, seeded; quality is irrelevant for timing data.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

// E4M3 codes with exponent field 6..9 (magnitudes 2^-1 .. 2^3): no NaN, no subnormal.
void fill_codes(DeviceBytes& d, size_t n, uint64_t seed) {
  std::vector<uint8_t> h(n);
  Rng r{seed};
  for (size_t i = 0; i < n; i += 8) {
    uint64_t bits = r.next();
    for (size_t j = i; j < std::min(n, i + 8); ++j, bits >>= 8)
      h[j] = uint8_t((bits & 0x80) | (0x30 + (bits & 0x1F)));
  }
  SADARI_CUDA_CHECK(cudaMemcpy(d.p, h.data(), n, cudaMemcpyHostToDevice));
}

void fill_bf16(DeviceBytes& d, size_t n, uint64_t seed) {
  std::vector<uint16_t> h(n);
  Rng r{seed};
  for (size_t i = 0; i < n; i += 2) {
    uint64_t bits = r.next();
    for (size_t j = i; j < std::min(n, i + 2); ++j, bits >>= 32)
      h[j] = uint16_t(((bits >> 16) & 0x8000) | ((126 + (bits & 3)) << 7) | ((bits >> 2) & 0x7F));
  }
  SADARI_CUDA_CHECK(cudaMemcpy(d.p, h.data(), n * 2, cudaMemcpyHostToDevice));
}

void fill_scales(DeviceBytes& d, size_t n, uint64_t seed) {
  std::vector<float> h(n);
  Rng r{seed};
  for (auto& x : h) x = 0.5f + float(r.next() >> 40) / float(1ull << 24);
  SADARI_CUDA_CHECK(cudaMemcpy(d.p, h.data(), n * 4, cudaMemcpyHostToDevice));
}

struct Timing {
  double seconds = 0;  // median; 0 when the kernel failed
  std::string error;
};

// Median seconds of `iters` calls after `warmup`, timed with events back to back.
Timing time_it(const std::function<void()>& f, const Options& opt, cudaStream_t stream) {
  Timing t;
  try {
    for (int i = 0; i < opt.warmup; ++i) f();
    std::vector<cudaEvent_t> ev(size_t(opt.iters) + 1);
    for (auto& e : ev) SADARI_CUDA_CHECK(cudaEventCreate(&e));
    SADARI_CUDA_CHECK(cudaEventRecord(ev[0], stream));
    for (int i = 0; i < opt.iters; ++i) {
      f();
      SADARI_CUDA_CHECK(cudaEventRecord(ev[size_t(i) + 1], stream));
    }
    SADARI_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<double> s;
    for (int i = 0; i < opt.iters; ++i) {
      float ms = 0;
      SADARI_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[size_t(i)], ev[size_t(i) + 1]));
      s.push_back(ms * 1e-3);
    }
    for (auto& e : ev) (void)cudaEventDestroy(e);
    t.seconds = bench::median(s);
  } catch (const std::exception& e) {
    t.error = e.what();
    // A faulted context cannot run the remaining kernels; a launch error can.
    (void)cudaGetLastError();
  }
  return t;
}

std::vector<float> download_bf16(const DeviceBytes& d, size_t n) {
  std::vector<uint16_t> h(n);
  SADARI_CUDA_CHECK(cudaMemcpy(h.data(), d.p, n * 2, cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = bf16_to_f32(h[i]);
  return f;
}

struct Case {
  std::string name;
  std::vector<int64_t> rows;  // one entry: dense
  int64_t N, K;
};

std::string fmt(double x, const char* f = "%8.1f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

void run_case(const Case& c, const Options& opt, cuda::GemmLt& bf16_lt, cuda::Fp8GemmLt& fp8_lt,
              cudaStream_t stream) {
  const int64_t E = int64_t(c.rows.size()), N = c.N, K = c.K, L = (K + 127) / 128;
  const int64_t M = std::accumulate(c.rows.begin(), c.rows.end(), int64_t(0));
  const bool grouped = E > 1;
  std::vector<int64_t> offsets{0};
  for (int64_t m : c.rows) offsets.push_back(offsets.back() + m);

  DeviceBytes a(size_t(M * K)), b(size_t(E * N * K));
  DeviceBytes a_scales(size_t(M * L) * 4), b_scales(size_t(E * (N / 128) * L) * 4);
  DeviceBytes a_scales_lt(size_t(cuda::fp8_lt_act_scales_size(M, K)) * 4);
  DeviceBytes b_scales_lt(size_t(cuda::fp8_lt_weight_scales_size(E, N, K)) * 4);
  DeviceBytes a16(size_t(M * K) * 2), b16(size_t(E * N * K) * 2);
  DeviceBytes d_bf16(size_t(M * N) * 2), d_lt(size_t(M * N) * 2), d_sadari(size_t(M * N) * 2);
  fill_codes(a, size_t(M * K), 1);
  fill_codes(b, size_t(E * N * K), 2);
  fill_scales(a_scales, size_t(M * L), 3);
  fill_scales(b_scales, size_t(E * (N / 128) * L), 4);
  fill_bf16(a16, size_t(M * K), 5);
  fill_bf16(b16, size_t(E * N * K), 6);
  cuda::fp8_lt_prepare_act_scales_grouped(a_scales.as<float>(), c.rows, K, a_scales_lt.as<float>(),
                                          stream);
  cuda::fp8_lt_prepare_weight_scales(b_scales.as<float>(), E, N, K, b_scales_lt.as<float>(),
                                     stream);
  SADARI_CUDA_CHECK(cudaStreamSynchronize(stream));

  const Timing t_bf16 = time_it(
      [&] {
        for (int64_t e = 0; e < E; ++e) {
          if (c.rows[size_t(e)] == 0) continue;
          bf16_lt.gemm(false, true, c.rows[size_t(e)], N, K, 1.f,
                       a16.as<uint16_t>() + offsets[size_t(e)] * K, K,
                       b16.as<uint16_t>() + e * N * K, K, 0.f,
                       d_bf16.as<uint16_t>() + offsets[size_t(e)] * N, N, DType::bf16,
                       DType::bf16, stream);
        }
      },
      opt, stream);
  const Timing t_lt = time_it(
      [&] {
        fp8_lt.grouped_nt(c.rows, N, K, a.as<uint8_t>(), a_scales_lt.as<float>(), b.as<uint8_t>(),
                          b_scales_lt.as<float>(), d_lt.p, DType::bf16, stream);
      },
      opt, stream);
  const Timing t_sadari = time_it(
      [&] {
        if (grouped)
          cuda::fp8_gemm_sm90_grouped_nt(a.as<uint8_t>(), a_scales.as<float>(), b.as<uint8_t>(),
                                         b_scales.as<float>(), d_sadari.p, DType::bf16,
                                         offsets.data(), E, N, K, stream);
        else
          cuda::fp8_gemm_sm90_nt(a.as<uint8_t>(), a_scales.as<float>(), b.as<uint8_t>(),
                                 b_scales.as<float>(), d_sadari.p, DType::bf16, M, N, K, stream);
      },
      opt, stream);

  // The two FP8 paths computed the same thing on the same operands.
  double agree = -1;
  if (t_lt.error.empty() && t_sadari.error.empty()) {
    const auto lt = download_bf16(d_lt, size_t(M * N)), sd = download_bf16(d_sadari, size_t(M * N));
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < lt.size(); ++i) {
      max_ref = std::max(max_ref, double(std::fabs(lt[i])));
      max_diff = std::max(max_diff, std::fabs(double(sd[i]) - double(lt[i])));
    }
    agree = max_ref > 0 ? max_diff / max_ref : max_diff;
    if (!std::isfinite(agree)) agree = INFINITY;
  }

  const double flop = 2.0 * double(M) * double(N) * double(K);
  auto tflops = [&](const Timing& t) { return t.seconds > 0 ? flop / t.seconds / 1e12 : 0.0; };
  auto cell = [&](const Timing& t) { return t.error.empty() ? fmt(tflops(t)) : std::string("   error"); };
  auto ratio = [&](const Timing& x, const Timing& y) {
    return x.error.empty() && y.error.empty() ? fmt(y.seconds / x.seconds, "%7.2fx")
                                              : std::string("      -");
  };
  std::printf("%-26s %8s %8s %8s   %8s %8s   %9s\n", c.name.c_str(), cell(t_bf16).c_str(),
              cell(t_lt).c_str(), cell(t_sadari).c_str(), ratio(t_sadari, t_lt).c_str(),
              ratio(t_lt, t_bf16).c_str(), agree < 0 ? "-" : fmt(agree, "%9.2e").c_str());
  for (const auto* t : {&t_bf16, &t_lt, &t_sadari})
    if (!t->error.empty()) std::printf("    error: %s\n", t->error.c_str());
  if (opt.json)
    std::printf(
        "{\"bench\":\"fp8_gemm_gpu\",\"shape\":\"%s\",\"M\":%lld,\"N\":%lld,\"K\":%lld,"
        "\"experts\":%lld,\"bf16_tflops\":%.3f,\"lt_fp8_tflops\":%.3f,\"sadari_tflops\":%.3f,"
        "\"sadari_over_lt_fp8\":%.4f,\"lt_fp8_over_bf16\":%.4f,\"agree\":%.3e}\n",
        c.name.c_str(), (long long)M, (long long)N, (long long)K, (long long)E, tflops(t_bf16),
        tflops(t_lt), tflops(t_sadari),
        t_sadari.seconds > 0 && t_lt.seconds > 0 ? t_lt.seconds / t_sadari.seconds : 0.0,
        t_lt.seconds > 0 && t_bf16.seconds > 0 ? t_bf16.seconds / t_lt.seconds : 0.0, agree);
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (cuda::device_count() == 0)
    fail(detail::cat("no CUDA device: ", cuda::no_device_reason()), "fp8_gemm_gpu_bench",
         "run it on a machine with a Hopper GPU (tools/gpu-check.sh does)");
  const cuda::DeviceInfo info = cuda::device_info(cuda::current_device());
  std::printf("fp8_gemm_gpu_bench: %s, compute capability %d.%d, %d SMs; median of %d after %d "
              "warm-up; TFLOP/s = 2MNK/time\n",
              info.name.c_str(), info.cc_major, info.cc_minor, info.sm_count, opt.iters,
              opt.warmup);
  if (info.cc_major != 9 || info.cc_minor != 0)
    fail(detail::cat(info.name, " is compute capability ", info.cc_major, ".", info.cc_minor),
         "fp8_gemm_gpu_bench", "the FP8 kernels here are for Hopper (9.0) only");

  const std::vector<int64_t> experts8{768, 384, 640, 256, 512, 896, 128, 512};  // sum 4096
  const std::vector<Case> cases = {
      {"4096x2112x7168", {4096}, 2112, 7168},
      {"4096x24576x1536", {4096}, 24576, 1536},
      {"4096x7168x16384", {4096}, 7168, 16384},
      {"4096x4096x7168", {4096}, 4096, 7168},
      {"4096x7168x2048", {4096}, 7168, 2048},
      {"grouped8 4096x4096x7168", experts8, 4096, 7168},
      {"grouped8 4096x7168x2048", experts8, 7168, 2048},
  };
  std::printf("%-26s %8s %8s %8s   %8s %8s   %9s\n", "shape MxNxK", "bf16", "lt-fp8", "sadari",
              "sad/ltfp8", "ltfp8/bf16", "agree");
  std::printf("%-26s %8s %8s %8s   %8s %8s   %9s\n", "", "TFLOP/s", "TFLOP/s", "TFLOP/s", "", "",
              "");
  cudaStream_t stream = nullptr;
  SADARI_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  {
    cuda::GemmLt bf16_lt;
    cuda::Fp8GemmLt fp8_lt;
    for (const Case& c : cases) run_case(c, opt, bf16_lt, fp8_lt, stream);
  }
  (void)cudaStreamDestroy(stream);
  std::printf("(grouped: experts' rows %s; bf16 and lt-fp8 one cuBLASLt call per expert)\n",
              "768,384,640,256,512,896,128,512");
  return 0;
}

}  // namespace
}  // namespace sadari

int main(int argc, char** argv) {
  try {
    return sadari::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
