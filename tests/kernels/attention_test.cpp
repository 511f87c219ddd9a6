// Causal attention: forward (out and lse) against a naive per-(batch, head)
// reference; dq, dk, dv against finite differences (double). The sequence is longer
// than one internal row block (64) so the blocked paths are exercised, and
// v_dim != head_dim catches swapped strides.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

struct Shape {
  int64_t B, T, H, hd, vd;
};

void naive_attention(const Shape& s, const std::vector<double>& q, const std::vector<double>& k,
                     const std::vector<double>& v, std::vector<double>& out,
                     std::vector<double>& lse) {
  out.assign(s.B * s.T * s.H * s.vd, 0.0);
  lse.assign(s.B * s.H * s.T, 0.0);
  const double scale = 1.0 / std::sqrt(double(s.hd));
  auto qk_at = [&](int64_t b, int64_t t, int64_t h) { return ((b * s.T + t) * s.H + h) * s.hd; };
  auto v_at = [&](int64_t b, int64_t t, int64_t h) { return ((b * s.T + t) * s.H + h) * s.vd; };
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.T; ++i) {
        std::vector<double> sc(i + 1);
        double m = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (int64_t c = 0; c < s.hd; ++c) d += q[qk_at(b, i, h) + c] * k[qk_at(b, j, h) + c];
          sc[j] = d * scale;
          m = std::max(m, sc[j]);
        }
        double z = 0;
        for (int64_t j = 0; j <= i; ++j) z += std::exp(sc[j] - m);
        lse[(b * s.H + h) * s.T + i] = m + std::log(z);
        for (int64_t j = 0; j <= i; ++j) {
          const double p = std::exp(sc[j] - m) / z;
          for (int64_t c = 0; c < s.vd; ++c) out[v_at(b, i, h) + c] += p * v[v_at(b, j, h) + c];
        }
      }
}

TEST(Attention, ForwardMatchesNaive) {
  const Shape s{2, 70, 3, 8, 5};
  const auto q = test::random_vector(s.B * s.T * s.H * s.hd, 30, -2, 2);
  const auto k = test::random_vector(s.B * s.T * s.H * s.hd, 31, -2, 2);
  const auto v = test::random_vector(s.B * s.T * s.H * s.vd, 32);
  std::vector<double> ref_out, ref_lse;
  naive_attention(s, q, k, v, ref_out, ref_lse);

  std::vector<double> out(ref_out.size()), lse(ref_lse.size());
  attention_forward<double>(q.data(), k.data(), v.data(), out.data(), lse.data(), s.B, s.T, s.H,
                            s.hd, s.vd);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref_out[i], 1e-12);
  for (size_t i = 0; i < lse.size(); ++i) EXPECT_NEAR(lse[i], ref_lse[i], 1e-12);

  auto qf = test::cast_vector<float>(q), kf = test::cast_vector<float>(k),
       vf = test::cast_vector<float>(v);
  std::vector<float> outf(out.size()), lsef(lse.size());
  attention_forward<float>(qf.data(), kf.data(), vf.data(), outf.data(), lsef.data(), s.B, s.T,
                           s.H, s.hd, s.vd);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(outf[i], ref_out[i], 1e-5);
  for (size_t i = 0; i < lse.size(); ++i) EXPECT_NEAR(lsef[i], ref_lse[i], 1e-5);
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  const Shape s{2, 67, 2, 4, 3};
  auto q = test::random_vector(s.B * s.T * s.H * s.hd, 33, -2, 2);
  auto k = test::random_vector(s.B * s.T * s.H * s.hd, 34, -2, 2);
  auto v = test::random_vector(s.B * s.T * s.H * s.vd, 35);
  const auto weight = test::random_vector(s.B * s.T * s.H * s.vd, 36);
  std::vector<double> out(weight.size()), lse(s.B * s.H * s.T);
  auto loss = [&] {
    attention_forward<double>(q.data(), k.data(), v.data(), out.data(), lse.data(), s.B, s.T,
                              s.H, s.hd, s.vd);
    return test::weighted_sum(out, weight);
  };
  loss();
  // Garbage in the outputs proves backward writes rather than accumulates.
  auto dq = test::random_vector(q.size(), 37), dk = test::random_vector(k.size(), 38),
       dv = test::random_vector(v.size(), 39);
  attention_backward<double>(weight.data(), q.data(), k.data(), v.data(), out.data(), lse.data(),
                             dq.data(), dk.data(), dv.data(), s.B, s.T, s.H, s.hd, s.vd);
  EXPECT_LT(test::max_relative_error(dq, test::numeric_grad(loss, q)), test::kGradTolerance);
  EXPECT_LT(test::max_relative_error(dk, test::numeric_grad(loss, k)), test::kGradTolerance);
  EXPECT_LT(test::max_relative_error(dv, test::numeric_grad(loss, v)), test::kGradTolerance);
}

}  // namespace
}  // namespace sadari::cpu
