#include "model/linear.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "core/profile.h"
#include "kernels/ops.h"
#include "model/weight_grad_tape.h"

namespace sadari {

namespace {

// x rounded to bf16 values into `out` (resized), one rounding per element.
const float* rounded_bf16(const ExecContext& ctx, const float* x, int64_t count,
                          std::vector<float>& out) {
  out.resize(static_cast<size_t>(count));
  ops::round_to_bf16(ctx, x, out.data(), count);
  return out.data();
}

// Per-thread scratch for the rounded operands: a layer's calls run one after the
// other on a thread, and the buffers keep their size between calls.
struct Bf16Scratch {
  std::vector<float> a, b;
};
Bf16Scratch& bf16_scratch() {
  thread_local Bf16Scratch s;
  return s;
}

// dW[out, in] += dy^T x in a reduced precision (the Wgrad product).
void reduced_wgrad(ComputePrecision p, const ExecContext& ctx, const float* dy, const float* x,
                   float* dW, int64_t n, int64_t in, int64_t out, std::string_view name) {
  ProfileScope scope(ProfileCategory::gemm);
  if (p == ComputePrecision::fp8) {
    ops::fp8_linear_wgrad(ctx, dy, x, dW, n, in, out, name);
    return;
  }
  Bf16Scratch& s = bf16_scratch();
  ops::matmul<float>(ctx, true, false, out, in, n, rounded_bf16(ctx, dy, n * out, s.a),
                     rounded_bf16(ctx, x, n * in, s.b), dW, 1.0f);
}

void reduced_forward(ComputePrecision p, const ExecContext& ctx, const float* x, const float* W,
                     float* y, int64_t n, int64_t in, int64_t out, std::string_view name) {
  if (p == ComputePrecision::fp8) {
    ops::fp8_linear_forward(ctx, x, W, y, n, in, out, name);
    return;
  }
  Bf16Scratch& s = bf16_scratch();
  ops::matmul<float>(ctx, false, true, n, out, in, rounded_bf16(ctx, x, n * in, s.a),
                     rounded_bf16(ctx, W, out * in, s.b), y);
}

void reduced_dgrad(ComputePrecision p, const ExecContext& ctx, const float* dy, const float* W,
                   float* dx, int64_t n, int64_t in, int64_t out, bool accumulate_dx,
                   std::string_view name) {
  if (p == ComputePrecision::fp8) {
    ops::fp8_linear_dgrad(ctx, dy, W, dx, n, in, out, accumulate_dx, name);
    return;
  }
  Bf16Scratch& s = bf16_scratch();
  ops::matmul<float>(ctx, false, false, n, in, out, rounded_bf16(ctx, dy, n * out, s.a),
                     rounded_bf16(ctx, W, out * in, s.b), dx, accumulate_dx ? 1.0f : 0.0f);
}

template <typename T>
void require_float(const LinearNumerics& numerics) {
  if constexpr (!std::is_same_v<T, float>)
    SADARI_CHECK(numerics.precision == ComputePrecision::f32, "linear layer ",
                 numerics.weight_name, ": precision ", compute_precision_name(numerics.precision),
                 " needs a float model (double models are f32 only)");
}

}  // namespace

template <typename T>
void linear_forward(const T* x, const T* W, T* y, int64_t n, int64_t in, int64_t out,
                    const LinearNumerics& numerics) {
  if (n == 0) return;
  require_float<T>(numerics);
  ProfileScope scope(ProfileCategory::gemm);
  if constexpr (std::is_same_v<T, float>) {
    if (numerics.precision != ComputePrecision::f32) {
      reduced_forward(numerics.precision, numerics.ctx, x, W, y, n, in, out, numerics.weight_name);
      return;
    }
  }
  ops::matmul<T>(numerics.ctx, false, true, n, out, in, x, W, y);
}

template <typename T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx, const LinearNumerics& numerics,
                     WeightGradTape<T>* tape) {
  if (n == 0) return;
  require_float<T>(numerics);
  ProfileScope scope(ProfileCategory::gemm);
  if constexpr (std::is_same_v<T, float>) {
    const ComputePrecision p = numerics.precision;
    if (p != ComputePrecision::f32) {
      if (dx)
        reduced_dgrad(p, numerics.ctx, dy, W, dx, n, in, out, accumulate_dx, numerics.weight_name);
      if (!dW) return;
      if (tape)  // the recorded product outlives the caller's name: keep a copy
        tape->record([=, ctx = numerics.ctx, name = std::string(numerics.weight_name)] {
          reduced_wgrad(p, ctx, dy, x, dW, n, in, out, name);
        });
      else
        reduced_wgrad(p, numerics.ctx, dy, x, dW, n, in, out, numerics.weight_name);
      return;
    }
  }
  if (dx)
    ops::matmul<T>(numerics.ctx, false, false, n, in, out, dy, W, dx, accumulate_dx ? T(1) : T(0));
  if (!dW) return;
  // dW += dy^T x: now, or recorded for a later weight-gradient pass.
  if (tape)
    tape->record(GemmProblem<T>{true, false, out, in, n, T(1), dy, out, x, in, T(1), dW, in});
  else
    ops::matmul<T>(numerics.ctx, true, false, out, in, n, dy, x, dW, T(1));
}

#define SADARI_INSTANTIATE(T)                                                                \
  template void linear_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t,         \
                                  const LinearNumerics&);                                    \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,   \
                                   int64_t, bool, const LinearNumerics&, WeightGradTape<T>*);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari
