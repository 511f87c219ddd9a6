#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// cos/sin of angle t * theta^(-2i/head_dim) for t in [0, seq), i in [0, head_dim/2),
// computed in double once per call so that float and double runs see the same
// angles and long sequences keep their precision.
struct RopeTable {
  std::vector<double> cos, sin;
  RopeTable(int64_t seq, int64_t half, int64_t head_dim, double theta)
      : cos(seq * half), sin(seq * half) {
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::pow(theta, -2.0 * double(i) / double(head_dim));
      for (int64_t t = 0; t < seq; ++t) {
        const double angle = double(t) * freq;
        cos[t * half + i] = std::cos(angle);
        sin[t * half + i] = std::sin(angle);
      }
    }
  }
};

// Rotates each pair (x_i, x_{i+half}) by +angle (forward) or -angle (backward:
// the rotation is orthogonal, so its transpose is its inverse).
template <typename T>
void rope_apply(T* x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta,
                double sign, const char* name) {
  SADARI_CHECK(batch >= 0 && seq >= 0 && heads >= 0 && head_dim > 0 && head_dim % 2 == 0, name,
               ": head_dim must be positive and even, got batch=", batch, " seq=", seq,
               " heads=", heads, " head_dim=", head_dim);
  SADARI_CHECK(theta > 0, name, ": theta must be positive, got ", theta);
  const int64_t half = head_dim / 2;
  const RopeTable table(seq, half, head_dim, theta);
  const int64_t tokens = batch * seq;
#pragma omp parallel for if (tokens * heads * head_dim >= kParallelMin)
  for (int64_t bt = 0; bt < tokens; ++bt) {
    const int64_t t = bt % seq;
    const double* c = table.cos.data() + t * half;
    const double* s = table.sin.data() + t * half;
    for (int64_t h = 0; h < heads; ++h) {
      T* row = x + (bt * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const T ci = T(c[i]), si = T(sign * s[i]);
        const T a = row[i], b = row[i + half];
        row[i] = a * ci - b * si;
        row[i + half] = a * si + b * ci;
      }
    }
  }
}

}  // namespace

template <typename T>
void rope_forward(T* x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                  double theta) {
  rope_apply(x, batch, seq, heads, head_dim, theta, +1.0, "rope_forward");
}

template <typename T>
void rope_backward(T* dx, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                   double theta) {
  rope_apply(dx, batch, seq, heads, head_dim, theta, -1.0, "rope_backward");
}

#define SADARI_INSTANTIATE(T)                                                        \
  template void rope_forward<T>(T*, int64_t, int64_t, int64_t, int64_t, double);     \
  template void rope_backward<T>(T*, int64_t, int64_t, int64_t, int64_t, double);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
