#include "kernels/cpu/attention.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec_math.h"

namespace sadari::cpu {

namespace {

// Queries are processed in blocks of this many rows; a block [r0, r1) only needs
// keys [0, r1) under the causal mask, so the score GEMMs skip most of the upper
// triangle (10/16 of the full square at seq = 4 blocks) while each GEMM stays
// large enough for OpenBLAS to run near peak.
constexpr int64_t kRowBlock = 64;

// Below about this many multiply-adds a parallel region costs more than it saves
// (and far more when the cores are oversubscribed and OpenMP threads spin).
constexpr int64_t kParallelMinWork = 1 << 20;

bool worth_parallel(int64_t pairs, int64_t seq, int64_t head_dim, int64_t v_dim) {
  return pairs > 1 && pairs * seq * seq * (head_dim + v_dim) >= kParallelMinWork;
}

void check_shape(const char* name, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                 int64_t v_dim) {
  SADARI_CHECK(batch >= 0 && seq >= 0 && heads >= 0 && head_dim > 0 && v_dim > 0, name,
               ": bad shape batch=", batch, " seq=", seq, " heads=", heads,
               " head_dim=", head_dim, " v_dim=", v_dim);
  // Checked here, before the parallel region: an exception must not escape it, and
  // these are the largest values the per-head GEMMs pass to OpenBLAS.
  SADARI_CHECK(seq <= INT_MAX && heads * std::max(head_dim, v_dim) <= INT_MAX, name,
               ": seq=", seq, " or heads*dim=", heads * std::max(head_dim, v_dim),
               " exceeds OpenBLAS's 32-bit dimensions");
}

// The slices of one (batch, head): rows are tokens, strided by heads * dim in the
// [batch, seq, heads, dim] layout, which GEMM takes as its leading dimension.
struct HeadView {
  int64_t q_stride, v_stride;  // row strides of q/k/dq/dk and of v/out/dout/dv
  int64_t q_off, v_off;        // offsets of row 0 of this (batch, head)
  HeadView(int64_t b, int64_t h, int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim)
      : q_stride(heads * head_dim),
        v_stride(heads * v_dim),
        q_off(b * seq * heads * head_dim + h * head_dim),
        v_off(b * seq * heads * v_dim + h * v_dim) {}
};

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, int64_t batch,
                       int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim) {
  check_shape("attention_forward", batch, seq, heads, head_dim, v_dim);
  const int64_t pairs = batch * heads;
  if (pairs == 0 || seq == 0) return;
  const T scale = T(1.0 / std::sqrt(double(head_dim)));
  const int64_t block = std::min(seq, kRowBlock);
  // One (batch, head) per iteration: the GEMMs inside run single-threaded (the
  // OpenMP OpenBLAS sees it is inside a parallel region), and every output element
  // is computed by one thread in a fixed order, whatever the thread count.
#pragma omp parallel if (worth_parallel(pairs, seq, head_dim, v_dim))
  {
    std::vector<T> P(block * seq);  // scores, then probabilities, of one row block
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < pairs; ++bh) {
      const HeadView hv(bh / heads, bh % heads, seq, heads, head_dim, v_dim);
      const T* Q = q + hv.q_off;
      const T* K = k + hv.q_off;
      const T* V = v + hv.v_off;
      T* O = out + hv.v_off;
      T* L = lse + bh * seq;
      for (int64_t r0 = 0; r0 < seq; r0 += block) {
        const int64_t r1 = std::min(seq, r0 + block), M = r1 - r0, N = r1;
        gemm<T>(false, true, M, N, head_dim, scale, Q + r0 * hv.q_stride, hv.q_stride, K,
                hv.q_stride, T(0), P.data(), N);
        for (int64_t i = 0; i < M; ++i) {
          T* row = P.data() + i * N;
          const int64_t last = r0 + i;  // causal: keys 0..last
          const T m = *std::max_element(row, row + last + 1);
          vecmath::exp_shifted(row, m, row, last + 1);
          const double sum = vecmath::sum_double(row, last + 1);
          const T inv = T(1.0 / sum);
          for (int64_t j = 0; j <= last; ++j) row[j] *= inv;
          std::fill(row + last + 1, row + N, T(0));
          L[last] = T(double(m) + std::log(sum));
        }
        gemm<T>(false, false, M, v_dim, N, T(1), P.data(), N, V, hv.v_stride, T(0),
                O + r0 * hv.v_stride, hv.v_stride);
      }
    }
  }
}

// Per (batch, head), with S = scale Q K^T (masked), P = exp(S - lse):
//   dV = P^T dO
//   dP = dO V^T
//   dS = P * (dP - D),  D_i = sum_c dO_ic O_ic  (= sum_j P_ij dP_ij)
//   dQ = scale dS K,  dK = scale dS^T Q
// Row blocks of queries are independent for dQ; dK and dV accumulate over the
// blocks in increasing order (beta = 1), which fixes the summation order.
template <typename T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, T* dq, T* dk, T* dv, int64_t batch, int64_t seq,
                        int64_t heads, int64_t head_dim, int64_t v_dim) {
  check_shape("attention_backward", batch, seq, heads, head_dim, v_dim);
  const int64_t pairs = batch * heads;
  if (pairs == 0 || seq == 0) return;
  const T scale = T(1.0 / std::sqrt(double(head_dim)));
  const int64_t block = std::min(seq, kRowBlock);
#pragma omp parallel if (worth_parallel(pairs, seq, head_dim, v_dim))
  {
    std::vector<T> P(block * seq), dS(block * seq);
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < pairs; ++bh) {
      const HeadView hv(bh / heads, bh % heads, seq, heads, head_dim, v_dim);
      const T* Q = q + hv.q_off;
      const T* K = k + hv.q_off;
      const T* V = v + hv.v_off;
      const T* O = out + hv.v_off;
      const T* dO = dout + hv.v_off;
      const T* L = lse + bh * seq;
      T* dQ = dq + hv.q_off;
      T* dK = dk + hv.q_off;
      T* dV = dv + hv.v_off;
      for (int64_t t = 0; t < seq; ++t) {
        std::fill(dK + t * hv.q_stride, dK + t * hv.q_stride + head_dim, T(0));
        std::fill(dV + t * hv.v_stride, dV + t * hv.v_stride + v_dim, T(0));
      }
      for (int64_t r0 = 0; r0 < seq; r0 += block) {
        const int64_t r1 = std::min(seq, r0 + block), M = r1 - r0, N = r1;
        const T* Qb = Q + r0 * hv.q_stride;
        const T* dOb = dO + r0 * hv.v_stride;
        gemm<T>(false, true, M, N, head_dim, scale, Qb, hv.q_stride, K, hv.q_stride, T(0),
                P.data(), N);
        gemm<T>(false, true, M, N, v_dim, T(1), dOb, hv.v_stride, V, hv.v_stride, T(0),
                dS.data(), N);
        for (int64_t i = 0; i < M; ++i) {
          const int64_t last = r0 + i;
          T* p = P.data() + i * N;
          T* ds = dS.data() + i * N;
          const T* o = O + last * hv.v_stride;
          const T* g = dO + last * hv.v_stride;
          double d = 0;
          for (int64_t c = 0; c < v_dim; ++c) d += double(g[c]) * double(o[c]);
          const T l = L[last], D = T(d);
          vecmath::exp_shifted(p, l, p, last + 1);
          for (int64_t j = 0; j <= last; ++j) ds[j] = p[j] * (ds[j] - D);
          std::fill(p + last + 1, p + N, T(0));
          std::fill(ds + last + 1, ds + N, T(0));
        }
        gemm<T>(true, false, N, v_dim, M, T(1), P.data(), N, dOb, hv.v_stride, T(1), dV,
                hv.v_stride);
        gemm<T>(false, false, M, head_dim, N, scale, dS.data(), N, K, hv.q_stride, T(0),
                dQ + r0 * hv.q_stride, hv.q_stride);
        gemm<T>(true, false, N, head_dim, M, scale, dS.data(), N, Qb, hv.q_stride, T(1), dK,
                hv.q_stride);
      }
    }
  }
}

#define SADARI_INSTANTIATE(T)                                                                 \
  template void attention_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,  \
                                     int64_t, int64_t, int64_t);                              \
  template void attention_backward<T>(const T*, const T*, const T*, const T*, const T*,       \
                                      const T*, T*, T*, T*, int64_t, int64_t, int64_t,        \
                                      int64_t, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
