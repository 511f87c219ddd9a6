#include "kernels/cpu/routing.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace sadari::cpu {

namespace {
// Below this many score elements a loop runs on the calling thread: starting a
// parallel region costs more than the work (and much more on a loaded machine).
constexpr int64_t kParallelMin = 1 << 14;
}  // namespace

template <typename T>
void add_expert_bias(const T* s, const T* bias, T* b, int64_t n, int64_t E) {
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t)
    for (int64_t e = 0; e < E; ++e) b[t * E + e] = s[t * E + e] + (bias ? bias[e] : T(0));
}

template <typename T>
void group_scores(const T* b, int64_t n, int64_t E, int64_t G, bool top2, T* gs) {
  const int64_t gsize = E / G;
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t g = 0; g < G; ++g) {
      const T* row = b + t * E + g * gsize;
      T m1 = row[0], m2 = -std::numeric_limits<T>::infinity();  // best, second best
      for (int64_t j = 1; j < gsize; ++j) {
        if (row[j] > m1) {
          m2 = m1;
          m1 = row[j];
        } else if (row[j] > m2) {
          m2 = row[j];
        }
      }
      gs[t * G + g] = top2 ? m1 + m2 : m1;
    }
  }
}

void groups_to_mask(const int32_t* gi, int64_t n, int64_t E, int64_t KG, int64_t gsize,
                    uint8_t* mk) {
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    std::memset(mk + t * E, 0, static_cast<size_t>(E));
    for (int64_t j = 0; j < KG; ++j)
      std::memset(mk + t * E + gi[t * KG + j] * gsize, 1, static_cast<size_t>(gsize));
  }
}

template <typename T>
void node_scores(const T* b, const int32_t* node, int64_t n, int64_t E, int64_t N, int64_t q,
                 T* ns) {
#pragma omp parallel if (n * E >= kParallelMin)
  {
    // best[node * q + i]: the node's i-th largest affinity so far (descending).
    std::vector<T> best(static_cast<size_t>(N * q));
    std::vector<int64_t> have(static_cast<size_t>(N));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n; ++t) {
      std::fill(have.begin(), have.end(), 0);
      for (int64_t e = 0; e < E; ++e) {
        T* top = best.data() + node[e] * q;
        int64_t& h = have[node[e]];
        const T v = b[t * E + e];
        // Insertion into a descending list of at most q (q is small: K / M).
        int64_t i = std::min(h, q - 1);
        if (h == q && !(v > top[q - 1])) continue;
        while (i > 0 && v > top[i - 1]) {
          top[i] = top[i - 1];
          --i;
        }
        top[i] = v;
        if (h < q) ++h;
      }
      for (int64_t g = 0; g < N; ++g) {
        T sum = T(0);
        for (int64_t i = 0; i < have[g]; ++i) sum += best[g * q + i];
        ns[t * N + g] = sum;
      }
    }
  }
}

void nodes_to_mask(const int32_t* kept, const int32_t* node, int64_t n, int64_t E, int64_t M,
                   uint8_t* mk) {
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t)
    for (int64_t e = 0; e < E; ++e) {
      uint8_t allowed = 0;
      for (int64_t j = 0; j < M; ++j) allowed |= kept[t * M + j] == node[e];
      mk[t * E + e] = allowed;
    }
}

template <typename T>
void gate_weights(const T* s, const int32_t* ex, int64_t n, int64_t E, int64_t K, bool normalise,
                  T c, T eps, T* w, T* zsum) {
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    T z = T(0);
    for (int64_t k = 0; k < K; ++k) z += s[t * E + ex[t * K + k]];
    z += eps;
    zsum[t] = z;
    for (int64_t k = 0; k < K; ++k) {
      const T sk = s[t * E + ex[t * K + k]];
      w[t * K + k] = normalise ? c * (sk / z) : c * sk;
    }
  }
}

template <typename T>
void gate_weights_backward(const T* d_weight, const T* d_scores_extra, const T* s,
                           const int32_t* ex, const T* zsum, int64_t n, int64_t E, int64_t K,
                           bool normalise, T c, T* ds) {
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    T* dst = ds + t * E;
    if (d_scores_extra)
      std::memcpy(dst, d_scores_extra + t * E, sizeof(T) * E);
    else
      std::fill(dst, dst + E, T(0));
    const T* dw = d_weight + t * K;
    if (normalise) {
      // w_k = c s_k / Z, Z = sum_j s_j (+eps):  dL/ds_k = c/Z (dw_k - sum_j dw_j s_j / Z).
      const T z = zsum[t];
      T dot = T(0);
      for (int64_t k = 0; k < K; ++k) dot += dw[k] * s[t * E + ex[t * K + k]];
      const T mean = dot / z;
      for (int64_t k = 0; k < K; ++k) dst[ex[t * K + k]] += c * (dw[k] - mean) / z;
    } else {
      for (int64_t k = 0; k < K; ++k) dst[ex[t * K + k]] += c * dw[k];
    }
  }
}

template <typename T>
double seq_aux_loss_forward(const T* scores, const int32_t* expert, int64_t n, int64_t seq,
                            int64_t E, int64_t K, double alpha, std::vector<double>& f) {
  SADARI_CHECK(seq > 0 && n % seq == 0, "aux loss: ", n, " tokens are not whole sequences of ",
               seq);
  const int64_t B = n / seq;
  f.assign(static_cast<size_t>(B * E), 0.0);
  if (B == 0) return 0.0;
  std::vector<double> per_seq(static_cast<size_t>(B), 0.0);
  double* fb_all = f.data();
  const double fscale = static_cast<double>(E) / (static_cast<double>(K) * seq);
#pragma omp parallel if (n * E >= kParallelMin)
  {
    std::vector<double> P(static_cast<size_t>(E));
#pragma omp for schedule(static)
    for (int64_t bi = 0; bi < B; ++bi) {
      double* fb = fb_all + bi * E;
      std::fill(P.begin(), P.end(), 0.0);
      for (int64_t t = bi * seq; t < (bi + 1) * seq; ++t) {
        const T* st = scores + t * E;
        double z = 0.0;
        for (int64_t e = 0; e < E; ++e) z += st[e];
        for (int64_t e = 0; e < E; ++e) P[e] += st[e] / z;
        for (int64_t k = 0; k < K; ++k) fb[expert[t * K + k]] += 1.0;
      }
      double l = 0.0;
      for (int64_t e = 0; e < E; ++e) {
        fb[e] *= fscale;
        l += fb[e] * (P[e] / seq);
      }
      per_seq[bi] = l;
    }
  }
  double total = 0.0;
  for (int64_t bi = 0; bi < B; ++bi) total += per_seq[bi];  // serial: fixed order
  return alpha * total / B;
}

template <typename T>
void seq_aux_loss_backward(const T* scores, const std::vector<double>& f, int64_t n,
                           int64_t seq, int64_t E, double alpha, double scale, T* d_scores) {
  SADARI_CHECK(seq > 0 && n % seq == 0, "aux loss: ", n, " tokens are not whole sequences of ",
               seq);
  const int64_t B = n / seq;
  if (B == 0) return;
  SADARI_ASSERT(static_cast<int64_t>(f.size()) >= B * E);
  // dL/ds'_t,i = scale * alpha / B * f_i / T; through s' = s / Z:
  // dL/ds_t,j = (g_j - sum_i g_i s'_t,i) / Z.
  const double coef = scale * alpha / (static_cast<double>(B) * seq);
#pragma omp parallel for schedule(static) if (n * E >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    const double* fb = f.data() + (t / seq) * E;
    const T* st = scores + t * E;
    double z = 0.0;
    for (int64_t e = 0; e < E; ++e) z += st[e];
    double dot = 0.0;
    for (int64_t e = 0; e < E; ++e) dot += fb[e] * (st[e] / z);
    for (int64_t e = 0; e < E; ++e)
      d_scores[t * E + e] += static_cast<T>(coef * (fb[e] - dot) / z);
  }
}

template <typename T>
void update_router_bias(const int64_t* counts, int64_t E, T step, T* b) {
  double total = 0.0;
  for (int64_t e = 0; e < E; ++e) total += static_cast<double>(counts[e]);
  const double mean = total / static_cast<double>(E);
  for (int64_t e = 0; e < E; ++e) {
    const double c = static_cast<double>(counts[e]);
    if (c < mean)
      b[e] += step;
    else if (c > mean)
      b[e] -= step;
  }
}

#define SADARI_ROUTING(T)                                                                       \
  template void add_expert_bias<T>(const T*, const T*, T*, int64_t, int64_t);                   \
  template void update_router_bias<T>(const int64_t*, int64_t, T, T*);                           \
  template void group_scores<T>(const T*, int64_t, int64_t, int64_t, bool, T*);                 \
  template void node_scores<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, int64_t,    \
                               T*);                                                              \
  template void gate_weights<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, bool, T, T,\
                                T*, T*);                                                         \
  template void gate_weights_backward<T>(const T*, const T*, const T*, const int32_t*,          \
                                         const T*, int64_t, int64_t, int64_t, bool, T, T*);      \
  template double seq_aux_loss_forward<T>(const T*, const int32_t*, int64_t, int64_t, int64_t,  \
                                          int64_t, double, std::vector<double>&);                \
  template void seq_aux_loss_backward<T>(const T*, const std::vector<double>&, int64_t, int64_t,\
                                         int64_t, double, double, T*);
SADARI_ROUTING(float)
SADARI_ROUTING(double)
#undef SADARI_ROUTING

}  // namespace sadari::cpu
