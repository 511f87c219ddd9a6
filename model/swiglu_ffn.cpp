#include "model/swiglu_ffn.h"

#include <vector>

#include "core/profile.h"
#include "kernels/ops.h"
#include "model/linear.h"
#include "model/weight_grad_tape.h"

namespace sadari {

template <typename T>
void swiglu_ffn_forward(const T* x, const T* w_gate_up, const T* w_down, T* y, T* gate_up_act,
                        T* h, int64_t n, int64_t D, int64_t F, const SwigluNumerics& numerics) {
  if (n == 0) return;
  linear_forward<T>(x, w_gate_up, gate_up_act, n, D, 2 * F, numerics.gate_up());
  ops::swiglu_forward<T>(numerics.ctx, gate_up_act, h, n, F);
  linear_forward<T>(h, w_down, y, n, F, D, numerics.down());
}

template <typename T>
void swiglu_ffn_backward(const T* dy, const T* x, const T* w_gate_up, const T* w_down,
                         const T* gate_up_act, const T* h, T* dx, T* dw_gate_up, T* dw_down,
                         T* scratch, int64_t n, int64_t D, int64_t F, bool accumulate_dx,
                         const SwigluNumerics& numerics, WeightGradTape<T>* tape) {
  if (n == 0) return;
  T* dh = scratch;               // [n, F]
  T* dgate_up = scratch + n * F; // [n, 2F]
  linear_backward<T>(dy, h, w_down, dh, dw_down, n, F, D, false, numerics.down(), tape);
  ops::swiglu_backward<T>(numerics.ctx, dh, gate_up_act, dgate_up, n, F);
  linear_backward<T>(dgate_up, x, w_gate_up, dx, dw_gate_up, n, D, 2 * F, accumulate_dx,
                     numerics.gate_up(), tape);
}

namespace {

// The products of linear_forward / linear_backward (model/linear.cpp) as grouped-GEMM
// problems, with the same arguments matmul would pass to gemm.
template <typename T>
GemmProblem<T> product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
                            const T* B, T* C, T beta) {
  return {ta, tb, M, N, K, T(1), A, ta ? M : K, B, tb ? K : N, beta, C, N};
}

template <typename T>
void run_grouped(const ExecContext& ctx, const std::vector<GemmProblem<T>>& problems) {
  if (problems.empty()) return;
  ProfileScope scope(ProfileCategory::gemm);
  ops::gemm_grouped<T>(ctx, problems.data(), static_cast<int64_t>(problems.size()));
}

// The members' context (one layer's members share one), for their grouped calls.
template <typename T>
const ExecContext& context_of(const SwigluFfnMember<T>* m, int64_t count) {
  return count > 0 ? m[0].numerics.ctx : ExecContext::cpu();
}

// Calls run(first member, rows) once per run of consecutive members whose buffers
// continue one another (expert slices of one buffer; `adjacent` decides), so an
// elementwise kernel covers a whole run in one call: the same values either way.
template <typename T, typename Adjacent, typename Run>
void for_adjacent_runs(const SwigluFfnMember<T>* m, int64_t count, Adjacent adjacent, Run run) {
  int64_t i = 0;
  while (i < count) {
    if (m[i].n == 0) {
      ++i;
      continue;
    }
    int64_t j = i + 1, rows = m[i].n;
    while (j < count && (m[j].n == 0 || (m[j].F == m[i].F && adjacent(m[i], rows, m[j]))))
      rows += m[j++].n;
    run(m[i], rows);
    i = j;
  }
}

template <typename T>
bool all_f32(const SwigluFfnMember<T>* m, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (m[i].numerics.precision != ComputePrecision::f32) return false;
  return true;
}

}  // namespace

template <typename T>
void swiglu_ffn_forward_grouped(const SwigluFfnMember<T>* m, int64_t count, int64_t D) {
  if (!all_f32(m, count)) {
    for (int64_t i = 0; i < count; ++i)
      swiglu_ffn_forward<T>(m[i].x, m[i].w_gate_up, m[i].w_down, m[i].y, m[i].gate_up_act, m[i].h,
                            m[i].n, D, m[i].F, m[i].numerics);
    return;
  }
  std::vector<GemmProblem<T>> p;
  for (int64_t i = 0; i < count; ++i)
    if (m[i].n > 0)
      p.push_back(product<T>(false, true, m[i].n, 2 * m[i].F, D, m[i].x, m[i].w_gate_up,
                             m[i].gate_up_act, T(0)));
  run_grouped(context_of(m, count), p);
  for_adjacent_runs<T>(
      m, count,
      [](const SwigluFfnMember<T>& a, int64_t rows, const SwigluFfnMember<T>& b) {
        return b.gate_up_act == a.gate_up_act + rows * 2 * a.F && b.h == a.h + rows * a.F;
      },
      [](const SwigluFfnMember<T>& a, int64_t rows) {
        ops::swiglu_forward<T>(a.numerics.ctx, a.gate_up_act, a.h, rows, a.F);
      });
  p.clear();
  for (int64_t i = 0; i < count; ++i)
    if (m[i].n > 0)
      p.push_back(product<T>(false, true, m[i].n, D, m[i].F, m[i].h, m[i].w_down, m[i].y, T(0)));
  run_grouped(context_of(m, count), p);
}

template <typename T>
void swiglu_ffn_backward_grouped(const SwigluFfnMember<T>* m, int64_t count, int64_t D,
                                 WeightGradTape<T>* tape) {
  if (!all_f32(m, count)) {
    // swiglu_ffn_backward's steps on the member's own dh / dgate_up buffers.
    for (int64_t i = 0; i < count; ++i) {
      const SwigluFfnMember<T>& a = m[i];
      if (a.n == 0) continue;
      linear_backward<T>(a.dy, a.h, a.w_down, a.dh, a.dw_down, a.n, a.F, D, false,
                         a.numerics.down(), tape);
      ops::swiglu_backward<T>(a.numerics.ctx, a.dh, a.gate_up_act, a.dgate_up, a.n, a.F);
      linear_backward<T>(a.dgate_up, a.x, a.w_gate_up, a.dx, a.dw_gate_up, a.n, D, 2 * a.F,
                         a.accumulate_dx, a.numerics.gate_up(), tape);
    }
    return;
  }
  // Weight-gradient products go to `weights`: the same grouped call, or the
  // active tape of a split backward (model/weight_grad_tape.h).
  std::vector<GemmProblem<T>> p;
  auto weights = [&](const GemmProblem<T>& product) {
    if (tape)
      tape->record(product);
    else
      p.push_back(product);
  };
  // dh = dy W_down and dW_down += dy^T h.
  for (int64_t i = 0; i < count; ++i) {
    if (m[i].n == 0) continue;
    const int64_t n = m[i].n, F = m[i].F;
    p.push_back(product<T>(false, false, n, F, D, m[i].dy, m[i].w_down, m[i].dh, T(0)));
    weights(product<T>(true, false, D, F, n, m[i].dy, m[i].h, m[i].dw_down, T(1)));
  }
  run_grouped(context_of(m, count), p);
  for_adjacent_runs<T>(
      m, count,
      [](const SwigluFfnMember<T>& a, int64_t rows, const SwigluFfnMember<T>& b) {
        return b.dh == a.dh + rows * a.F && b.gate_up_act == a.gate_up_act + rows * 2 * a.F &&
               b.dgate_up == a.dgate_up + rows * 2 * a.F;
      },
      [](const SwigluFfnMember<T>& a, int64_t rows) {
        ops::swiglu_backward<T>(a.numerics.ctx, a.dh, a.gate_up_act, a.dgate_up, rows, a.F);
      });
  // dx (=|+=) dgate_up W_gate_up and dW_gate_up += dgate_up^T x.
  p.clear();
  for (int64_t i = 0; i < count; ++i) {
    if (m[i].n == 0) continue;
    const int64_t n = m[i].n, F = m[i].F;
    const T* dgu = m[i].dgate_up;
    p.push_back(product<T>(false, false, n, D, 2 * F, dgu, m[i].w_gate_up, m[i].dx,
                           m[i].accumulate_dx ? T(1) : T(0)));
    weights(product<T>(true, false, 2 * F, D, n, dgu, m[i].x, m[i].dw_gate_up, T(1)));
  }
  run_grouped(context_of(m, count), p);
}

#define SADARI_INSTANTIATE(T)                                                                  \
  template void swiglu_ffn_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t,       \
                                      int64_t, int64_t, const SwigluNumerics&);                \
  template void swiglu_ffn_backward<T>(const T*, const T*, const T*, const T*, const T*,       \
                                       const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, bool, \
                                       const SwigluNumerics&, WeightGradTape<T>*);              \
  template void swiglu_ffn_forward_grouped<T>(const SwigluFfnMember<T>*, int64_t, int64_t);      \
  template void swiglu_ffn_backward_grouped<T>(const SwigluFfnMember<T>*, int64_t, int64_t,     \
                                               WeightGradTape<T>*);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari
