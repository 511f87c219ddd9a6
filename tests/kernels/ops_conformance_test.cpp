// Conformance of the compute interface (kernels/ops.h), per function: results
// against a plain reference, the checks on shapes and dtypes, and the error for
// a tensor on another device. Written against an ExecContext, so a device
// backend runs the same suite by adding its context to the instantiation at the
// end and an upload/download pair to Backend below; the CPU backend is the
// reference and runs it here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <tuple>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"

namespace sadari {
namespace {

// How the suite moves data to and from a backend's device.
struct Backend {
  std::string name;
  const ExecContext* ctx;
  // Host vector -> tensor on ctx->device (the CPU backend: the host tensor itself).
  template <typename T>
  Tensor upload(const std::vector<T>& host) const {
    SADARI_CHECK(ctx->device == Device::cpu, "no upload for ", device_name(ctx->device));
    Tensor t = Tensor::empty({static_cast<int64_t>(host.size())}, dtype_of<T>::value);
    std::copy(host.begin(), host.end(), t.data<T>());
    return t;
  }
  template <typename T>
  std::vector<T> download(const Tensor& t) const {
    SADARI_CHECK(t.device() == Device::cpu, "no download from ", device_name(t.device()));
    return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
  }
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class OpsConformance : public ::testing::TestWithParam<Backend> {
 protected:
  const Backend& backend() const { return GetParam(); }
  const ExecContext& ctx() const { return *GetParam().ctx; }
};

// Values with a spread of magnitudes and signs, reproducible.
std::vector<float> values(int64_t n, float scale, int seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = scale * std::sin(0.37f * static_cast<float>(i + 1) + seed);
  return v;
}

// A tensor that claims to live on the other device, for the device checks; the
// interface must refuse it before touching its memory.
Tensor on_other_device(const Backend& b, std::vector<float>& host) {
  const Device other = b.ctx->device == Device::cpu ? Device::cuda : Device::cpu;
  return Tensor::wrap(host.data(), {static_cast<int64_t>(host.size())}, DType::f32, other);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

AdamWCoefficients coefficients() {
  AdamWCoefficients c;
  c.b1 = 0.9f;
  c.b2 = 0.95f;
  c.step_size = 3e-3f / (1.0f - 0.9f * 0.9f);
  c.inv_sqrt_bias2 = 1.0f / std::sqrt(1.0f - 0.95f * 0.95f);
  c.eps = 1e-8f;
  c.decay = 1.0f - 3e-3f * 0.1f;
  return c;
}

TEST_P(OpsConformance, AdamwUpdateMatchesTheRuleElementByElement) {
  const int64_t n = 40000;  // above the CPU kernel's threading threshold
  const AdamWCoefficients c = coefficients();
  for (bool with_decay : {true, false}) {
    std::vector<float> w = values(n, 1.0f, 1), g = values(n, 0.1f, 2), m = values(n, 0.01f, 3);
    std::vector<float> v = values(n, 1e-4f, 4);
    for (float& x : v) x = std::abs(x);
    const Tensor tw = backend().upload(w), tg = backend().upload(g), tm = backend().upload(m),
                 tv = backend().upload(v);
    ops::adamw_update(ctx(), c, with_decay, tw, tg, tm, tv);
    const auto w1 = backend().download<float>(tw), m1 = backend().download<float>(tm),
               v1 = backend().download<float>(tv);
    // The rule in double with the kernel's float coefficients; tolerances scale
    // with the terms (their sum may cancel).
    const double b1 = c.b1, b2 = c.b2, a1 = 1.0f - c.b1, a2 = 1.0f - c.b2;
    for (int64_t i = 0; i < n; i += 97) {
      const size_t j = static_cast<size_t>(i);
      const double mj = b1 * m[j] + a1 * g[j];
      const double vj = b2 * v[j] + a2 * double(g[j]) * g[j];
      const double decay = with_decay ? c.decay : 1.0;
      const double update = double(c.step_size) * mj / (std::sqrt(vj) * c.inv_sqrt_bias2 + c.eps);
      const double wj = w[j] * decay - update;
      ASSERT_NEAR(m1[j], mj, 1e-6 * (std::abs(b1 * m[j]) + std::abs(a1 * g[j]))) << "m at " << i;
      ASSERT_NEAR(v1[j], vj, 1e-6 * std::abs(vj)) << "v at " << i;
      ASSERT_NEAR(w1[j], wj, 1e-6 * (std::abs(w[j]) + std::abs(update))) << "w at " << i;
    }
  }
}

// Element-wise: updating two pieces gives the bits of one update (what lets
// ZeRO-1 shards reproduce the replicated optimizer).
TEST_P(OpsConformance, AdamwUpdateOfPiecesEqualsTheWholeBitForBit) {
  const int64_t n = 20000, cut = 7777;
  const AdamWCoefficients c = coefficients();
  const std::vector<float> w = values(n, 1.0f, 5), g = values(n, 0.1f, 6);
  const std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
  const Tensor whole[4] = {backend().upload(w), backend().upload(g), backend().upload(zeros),
                           backend().upload(zeros)};
  const Tensor split[4] = {backend().upload(w), backend().upload(g), backend().upload(zeros),
                           backend().upload(zeros)};
  ops::adamw_update(ctx(), c, true, whole[0], whole[1], whole[2], whole[3]);
  for (auto [b, e] : {std::pair<int64_t, int64_t>{0, cut}, {cut, n}})
    ops::adamw_update(ctx(), c, true, split[0].rows(b, e), split[1].rows(b, e), split[2].rows(b, e),
                      split[3].rows(b, e));
  for (int k : {0, 2, 3})
    EXPECT_EQ(backend().download<float>(whole[k]), backend().download<float>(split[k])) << k;
}

TEST_P(OpsConformance, AdamwUpdateRejectsMismatchedTensors) {
  const AdamWCoefficients c = coefficients();
  const Tensor a = backend().upload(values(8, 1, 1)), b = backend().upload(values(8, 1, 2));
  const Tensor short_one = backend().upload(values(7, 1, 3));
  EXPECT_NE(error_of([&] { ops::adamw_update(ctx(), c, true, a, short_one, a, b); })
                .find("adamw_update: tensor g has 7 elements, needs 8"),
            std::string::npos);
  const Tensor f64 = backend().upload(std::vector<double>(8, 0.5));
  EXPECT_NE(error_of([&] { ops::adamw_update(ctx(), c, true, a, b, f64, b); })
                .find("tensor m is f64, needs f32"),
            std::string::npos);
  std::vector<float> elsewhere(8, 0.0f);
  const Tensor other = on_other_device(backend(), elsewhere);
  const std::string e = error_of([&] { ops::adamw_update(ctx(), c, true, a, b, a, other); });
  EXPECT_NE(e.find("adamw_update: tensor v is on"), std::string::npos) << e;
  EXPECT_EQ(elsewhere, std::vector<float>(8, 0.0f));  // untouched
}

TEST_P(OpsConformance, SumSquaresIsTheDoubleSumInElementOrder) {
  const std::vector<float> x = values(100003, 2.0f, 7);
  double want = 0;
  for (float v : x) want += double(v) * double(v);
  EXPECT_EQ(ops::sum_squares(ctx(), backend().upload(x)), want);  // the documented order, exactly
  const std::vector<double> xd = {3.0, -4.0, 12.0};
  EXPECT_EQ(ops::sum_squares(ctx(), backend().upload(xd)), 169.0);
  EXPECT_EQ(ops::sum_squares(ctx(), backend().upload(std::vector<float>{})), 0.0);
}

TEST_P(OpsConformance, SumSquaresRejectsOtherDtypesAndDevices) {
  const Tensor ints = backend().upload(std::vector<int32_t>{1, 2});
  EXPECT_NE(error_of([&] { ops::sum_squares(ctx(), ints); }).find("tensor x is i32, needs f32 or f64"),
            std::string::npos);
  std::vector<float> elsewhere(4, 1.0f);
  EXPECT_NE(error_of([&] { ops::sum_squares(ctx(), on_other_device(backend(), elsewhere)); })
                .find("sum_squares: tensor x is on"),
            std::string::npos);
}

TEST_P(OpsConformance, ScaleMultipliesInPlaceWithTheFactorInTheTensorsPrecision) {
  const std::vector<float> x = values(70001, 3.0f, 8);
  const Tensor t = backend().upload(x);
  const double factor = 0.1;  // not a float: f32 tensors use float(factor)
  ops::scale(ctx(), t, factor);
  const auto got = backend().download<float>(t);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(got[i], x[i] * static_cast<float>(factor)) << i;
  const Tensor d = backend().upload(std::vector<double>{1.0, -2.0});
  ops::scale(ctx(), d, 0.1);
  EXPECT_EQ(backend().download<double>(d), (std::vector<double>{0.1, -0.2}));
  std::vector<float> elsewhere(4, 1.0f);
  EXPECT_NE(error_of([&] { ops::scale(ctx(), on_other_device(backend(), elsewhere), 2.0); })
                .find("scale: tensor x is on"),
            std::string::npos);
  EXPECT_EQ(elsewhere, std::vector<float>(4, 1.0f));
}

// ---- Layer kernels: each against a plain double-precision reference ----

template <typename T>
std::vector<T> rand_values(int64_t n, double scale, int seed) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = static_cast<T>(scale * std::sin(1.3 * double(i) + 0.7 * seed) +
                                               0.1 * scale * std::cos(0.11 * double(i * i + seed)));
  return v;
}

template <typename A, typename B>
void expect_close(const std::vector<A>& got, const std::vector<B>& want, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(double(got[i]), double(want[i]), tol * (1.0 + std::abs(double(want[i]))))
        << what << " at " << i;
}

TEST_P(OpsConformance, RmsnormForwardAndBackward) {
  const int64_t rows = 5, dim = 24;
  const double eps = 1e-6;
  const auto x = rand_values<float>(rows * dim, 2.0, 1), w = rand_values<float>(dim, 1.0, 2);
  const auto dy = rand_values<float>(rows * dim, 1.0, 3);
  std::vector<float> y(x.size()), rstd(rows), dx(x.size()), dw(dim, 0.5f);
  ops::rmsnorm_forward<float>(ctx(), x.data(), w.data(), y.data(), rstd.data(), rows, dim, float(eps));
  ops::rmsnorm_backward<float>(ctx(), dy.data(), x.data(), w.data(), rstd.data(), dx.data(),
                               dw.data(), rows, dim);
  std::vector<double> y_ref(x.size()), dx_ref(x.size()), dw_ref(dim, 0.5);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * dim;
    double ms = 0;
    for (int64_t j = 0; j < dim; ++j) ms += double(xr[j]) * xr[j];
    const double s = 1.0 / std::sqrt(ms / double(dim) + eps);
    double dot = 0;  // sum_j dy_j w_j x_j
    for (int64_t j = 0; j < dim; ++j) dot += double(dy[r * dim + j]) * w[j] * xr[j];
    for (int64_t j = 0; j < dim; ++j) {
      y_ref[r * dim + j] = xr[j] * s * w[j];
      dx_ref[r * dim + j] = s * dy[r * dim + j] * w[j] - s * s * s * xr[j] * dot / double(dim);
      dw_ref[j] += dy[r * dim + j] * xr[j] * s;
    }
  }
  expect_close(y, y_ref, 1e-5, "y");
  expect_close(dx, dx_ref, 1e-5, "dx");
  expect_close(dw, dw_ref, 1e-5, "dw (accumulated onto 0.5)");
}

TEST_P(OpsConformance, ResidualAdds) {
  const auto a = rand_values<double>(70001, 1.0, 4), b = rand_values<double>(70001, 1.0, 5);
  std::vector<double> out(a.size()), y = a;
  ops::add<double>(ctx(), a.data(), b.data(), out.data(), int64_t(a.size()));
  ops::add_inplace<double>(ctx(), y.data(), b.data(), int64_t(a.size()));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(out[i], a[i] + b[i]) << i;
    ASSERT_EQ(y[i], a[i] + b[i]) << i;
  }
}

TEST_P(OpsConformance, EmbeddingGathersAndAccumulatesAndRejectsBadIds) {
  const int64_t vocab = 7, dim = 3, n = 5;
  const auto table = rand_values<float>(vocab * dim, 1.0, 6);
  const std::vector<int32_t> ids = {3, 0, 3, 6, 1};
  std::vector<float> out(n * dim);
  ops::embedding_forward<float>(ctx(), ids.data(), table.data(), out.data(), n, vocab, dim);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j) ASSERT_EQ(out[i * dim + j], table[ids[i] * dim + j]);
  const auto dout = rand_values<float>(n * dim, 1.0, 7);
  std::vector<float> dtable(vocab * dim, 1.0f);
  ops::embedding_backward<float>(ctx(), ids.data(), dout.data(), dtable.data(), n, vocab, dim);
  std::vector<double> want(vocab * dim, 1.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j) want[ids[i] * dim + j] += dout[i * dim + j];
  expect_close(dtable, want, 1e-6, "dtable");
  const std::vector<int32_t> bad = {0, 7};
  EXPECT_NE(error_of([&] {
              ops::embedding_forward<float>(ctx(), bad.data(), table.data(), out.data(), 2, vocab, dim);
            }).find("7"),
            std::string::npos);
}

TEST_P(OpsConformance, CrossEntropySumAndGradientWithIgnoredTargets) {
  const int64_t n = 4, vocab = 9;
  const auto logits = rand_values<double>(n * vocab, 3.0, 8);
  const std::vector<int32_t> targets = {2, ops::kIgnoreTarget, 8, 0};
  std::vector<double> lse(n), dlogits(n * vocab);
  int64_t count = 0;
  const double sum = ops::cross_entropy_forward<double>(ctx(), logits.data(), targets.data(),
                                                        lse.data(), n, vocab, &count);
  ops::cross_entropy_backward<double>(ctx(), logits.data(), targets.data(), lse.data(),
                                      dlogits.data(), n, vocab, 0.25);
  double want = 0;
  std::vector<double> dwant(n * vocab, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    double mx = -1e300, z = 0;
    for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, logits[r * vocab + j]);
    for (int64_t j = 0; j < vocab; ++j) z += std::exp(logits[r * vocab + j] - mx);
    const double l = mx + std::log(z);
    if (targets[r] == ops::kIgnoreTarget) continue;
    want += l - logits[r * vocab + targets[r]];
    for (int64_t j = 0; j < vocab; ++j)
      dwant[r * vocab + j] = 0.25 * (std::exp(logits[r * vocab + j] - l) - (j == targets[r]));
  }
  EXPECT_EQ(count, 3);
  EXPECT_NEAR(sum, want, 1e-12 * want);
  expect_close(dlogits, dwant, 1e-12, "dlogits");
}

TEST_P(OpsConformance, RopeRotatesPairsAndBackwardInvertsIt) {
  const int64_t batch = 2, seq = 5, heads = 3, hd = 8;
  const double theta = 10000.0;
  const auto x = rand_values<double>(batch * seq * heads * hd, 1.0, 9);
  std::vector<double> y = x;
  ops::rope_forward<double>(ctx(), y.data(), batch, seq, heads, hd, theta);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < hd / 2; ++i) {
          const int64_t base = ((b * seq + t) * heads + h) * hd;
          const double ang = double(t) * std::pow(theta, -2.0 * double(i) / double(hd));
          const double x1 = x[base + i], x2 = x[base + i + hd / 2];
          ASSERT_NEAR(y[base + i], x1 * std::cos(ang) - x2 * std::sin(ang), 1e-12);
          ASSERT_NEAR(y[base + i + hd / 2], x2 * std::cos(ang) + x1 * std::sin(ang), 1e-12);
        }
  ops::rope_backward<double>(ctx(), y.data(), batch, seq, heads, hd, theta);  // R^T R = I
  expect_close(y, x, 1e-12, "rope_backward(rope_forward(x))");
}

// Causal attention against the textbook formula; the backward against central
// differences of sum(out * dout).
TEST_P(OpsConformance, AttentionForwardAndBackward) {
  const int64_t batch = 1, seq = 5, heads = 2, hd = 4, vd = 3;
  auto q = rand_values<double>(batch * seq * heads * hd, 1.0, 10);
  auto k = rand_values<double>(batch * seq * heads * hd, 1.0, 11);
  auto v = rand_values<double>(batch * seq * heads * vd, 1.0, 12);
  const auto dout = rand_values<double>(batch * seq * heads * vd, 1.0, 13);
  std::vector<double> out(v.size()), lse(batch * heads * seq);
  auto run = [&](std::vector<double>& o) {
    ops::attention_forward<double>(ctx(), q.data(), k.data(), v.data(), o.data(), lse.data(), batch,
                                   seq, heads, hd, vd);
  };
  run(out);
  const double scale = 1.0 / std::sqrt(double(hd));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t t = 0; t < seq; ++t) {
      std::vector<double> p(static_cast<size_t>(t + 1));
      double mx = -1e300, z = 0;
      for (int64_t s = 0; s <= t; ++s) {
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += q[(t * heads + h) * hd + i] * k[(s * heads + h) * hd + i];
        p[s] = dot * scale;
        mx = std::max(mx, p[s]);
      }
      for (auto& e : p) z += (e = std::exp(e - mx));
      for (int64_t j = 0; j < vd; ++j) {
        double o = 0;
        for (int64_t s = 0; s <= t; ++s) o += p[s] / z * v[(s * heads + h) * vd + j];
        ASSERT_NEAR(out[(t * heads + h) * vd + j], o, 1e-12) << "out t " << t << " h " << h;
      }
    }
  std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
  ops::attention_backward<double>(ctx(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                                  lse.data(), dq.data(), dk.data(), dv.data(), batch, seq, heads,
                                  hd, vd);
  auto objective = [&] {
    std::vector<double> o(v.size());
    run(o);
    double f = 0;
    for (size_t i = 0; i < o.size(); ++i) f += o[i] * dout[i];
    return f;
  };
  for (auto [x, dx, name] : {std::tuple{&q, &dq, "dq"}, std::tuple{&k, &dk, "dk"},
                             std::tuple{&v, &dv, "dv"}})
    for (size_t i = 0; i < x->size(); i += 3) {
      const double h = 1e-6, keep = (*x)[i];
      (*x)[i] = keep + h;
      const double up = objective();
      (*x)[i] = keep - h;
      const double down = objective();
      (*x)[i] = keep;
      ASSERT_NEAR((*dx)[i], (up - down) / (2 * h), 1e-7) << name << " at " << i;
    }
}

TEST_P(OpsConformance, MatmulAndGroupedGemmAgainstTheTripleLoop) {
  const int64_t M = 37, N = 29, K = 41;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto A = rand_values<double>(M * K, 1.0, 14), B = rand_values<double>(K * N, 1.0, 15);
      auto C = rand_values<double>(M * N, 1.0, 16);
      const auto C0 = C;
      ops::matmul<double>(ctx(), ta, tb, M, N, K, A.data(), B.data(), C.data(), 0.5);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double want = 0.5 * C0[i * N + j];
          for (int64_t k = 0; k < K; ++k)
            want += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
          ASSERT_NEAR(C[i * N + j], want, 1e-12) << ta << tb << " at " << i << "," << j;
        }
    }
  // Grouped: each problem as if alone, bit for bit.
  const auto A = rand_values<float>(64 * 48, 1.0, 17), B = rand_values<float>(48 * 40, 1.0, 18);
  std::vector<float> c1(64 * 40), c2(30 * 40), alone1(64 * 40), alone2(30 * 40);
  const GemmProblem<float> problems[] = {
      {false, false, 64, 40, 48, 1.0f, A.data(), 48, B.data(), 40, 0.0f, c1.data(), 40},
      {false, false, 30, 40, 48, 2.0f, A.data(), 48, B.data(), 40, 0.0f, c2.data(), 40}};
  ops::gemm_grouped<float>(ctx(), problems, 2);
  ops::matmul<float>(ctx(), false, false, 64, 40, 48, A.data(), B.data(), alone1.data());
  ops::matmul<float>(ctx(), false, false, 30, 40, 48, A.data(), B.data(), alone2.data());
  EXPECT_EQ(c1, alone1);
  for (auto& x : alone2) x *= 2.0f;
  expect_close(c2, alone2, 1e-6, "grouped problem with alpha 2");
}

TEST_P(OpsConformance, SoftmaxAndSigmoidWithTheirBackward) {
  const int64_t rows = 3, cols = 6;
  const auto x = rand_values<double>(rows * cols, 3.0, 19), dy = rand_values<double>(rows * cols, 1.0, 20);
  std::vector<double> y(x.size()), dx(x.size()), s(x.size()), ds(x.size());
  ops::softmax_forward<double>(ctx(), x.data(), y.data(), rows, cols);
  ops::softmax_backward<double>(ctx(), dy.data(), y.data(), dx.data(), rows, cols);
  ops::sigmoid_forward<double>(ctx(), x.data(), s.data(), rows * cols);
  ops::sigmoid_backward<double>(ctx(), dy.data(), s.data(), ds.data(), rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double z = 0, dot = 0;
    for (int64_t j = 0; j < cols; ++j) z += std::exp(x[r * cols + j]);
    for (int64_t j = 0; j < cols; ++j) dot += dy[r * cols + j] * std::exp(x[r * cols + j]) / z;
    for (int64_t j = 0; j < cols; ++j) {
      const double p = std::exp(x[r * cols + j]) / z;
      ASSERT_NEAR(y[r * cols + j], p, 1e-14);
      ASSERT_NEAR(dx[r * cols + j], p * (dy[r * cols + j] - dot), 1e-14);
    }
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const double sg = 1.0 / (1.0 + std::exp(-x[i]));
    ASSERT_NEAR(s[i], sg, 1e-14);
    ASSERT_NEAR(ds[i], dy[i] * sg * (1 - sg), 1e-14);
  }
}

TEST_P(OpsConformance, TopkRowsBestFirstLowerIndexOnTiesAndMask) {
  const std::vector<float> x = {0.1f, 0.9f, 0.5f, 0.9f, -1.0f,   // tie 0.9 at 1 and 3
                                2.0f, 1.0f, 3.0f, 0.0f, 3.0f};
  std::vector<int32_t> idx(6);
  std::vector<float> val(6);
  ops::topk_rows<float>(ctx(), x.data(), 2, 5, 3, idx.data(), val.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{1, 3, 2, 2, 4, 0}));  // column indices per row
  EXPECT_EQ(val, (std::vector<float>{0.9f, 0.9f, 0.5f, 3.0f, 3.0f, 2.0f}));
  const std::vector<uint8_t> mask = {1, 0, 1, 1, 1, 1, 1, 0, 1, 1};
  ops::topk_rows<float>(ctx(), x.data(), 2, 5, 2, idx.data(), val.data(), mask.data());
  EXPECT_EQ(std::vector<int32_t>(idx.begin(), idx.begin() + 4), (std::vector<int32_t>{3, 2, 4, 0}));
}

TEST_P(OpsConformance, SwigluGateAndItsBackward) {
  const int64_t rows = 4, F = 5;
  const auto gu = rand_values<double>(rows * 2 * F, 2.0, 21), dh = rand_values<double>(rows * F, 1.0, 22);
  std::vector<double> h(rows * F), dgu(rows * 2 * F);
  ops::swiglu_forward<double>(ctx(), gu.data(), h.data(), rows, F);
  ops::swiglu_backward<double>(ctx(), dh.data(), gu.data(), dgu.data(), rows, F);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < F; ++j) {
      const double g = gu[r * 2 * F + j], u = gu[r * 2 * F + F + j], s = 1 / (1 + std::exp(-g));
      ASSERT_NEAR(h[r * F + j], g * s * u, 1e-13);
      ASSERT_NEAR(dgu[r * 2 * F + j], dh[r * F + j] * u * s * (1 + g * (1 - s)), 1e-13);
      ASSERT_NEAR(dgu[r * 2 * F + F + j], dh[r * F + j] * g * s, 1e-13);
    }
}

TEST_P(OpsConformance, RoundToBf16KeepsTheTopSixteenBitsToNearestEven) {
  const std::vector<float> x = {1.0f, 1.00390625f /* tie: even stays */, 1.01171875f /* tie: up */,
                                -3.14159265f, 1e-30f};
  std::vector<float> out(x.size());
  ops::round_to_bf16(ctx(), x.data(), out.data(), int64_t(x.size()));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 1.015625f);
  EXPECT_EQ(out[3], -3.140625f);
  for (float v : out) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    EXPECT_EQ(bits & 0xFFFFu, 0u) << v;
  }
}

// Dispatch: pairs (token t, slot j) -> rows, the combine and its backward, and
// the row gather/scatter, against per-pair loops.
TEST_P(OpsConformance, PairCombineGatherScatterAgainstPerPairLoops) {
  const int64_t n = 3, k = 2, D = 4;
  const std::vector<int64_t> row_of_pair = {2, 0, -1, 4, 1, 3};  // pair 2 dropped
  const auto rows = rand_values<double>(5 * D, 1.0, 23), weight = rand_values<double>(n * k, 1.0, 24);
  const auto dy = rand_values<double>(n * D, 1.0, 25);
  std::vector<double> y(n * D, 1.0), d_rows(5 * D, 7.0), d_weight(n * k), dx(n * D, 0.5);
  ops::combine_pairs<double>(ctx(), rows.data(), row_of_pair.data(), weight.data(), y.data(), n, k, D);
  ops::combine_pairs_backward<double>(ctx(), dy.data(), rows.data(), row_of_pair.data(),
                                      weight.data(), d_rows.data(), d_weight.data(), n, k, D);
  ops::sum_pair_rows<double>(ctx(), rows.data(), row_of_pair.data(), dx.data(), n, k, D);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t d = 0; d < D; ++d) {
      double want_y = 1.0, want_dx = 0.5;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = row_of_pair[t * k + j];
        if (r < 0) continue;
        want_y += weight[t * k + j] * rows[r * D + d];
        want_dx += rows[r * D + d];
        ASSERT_NEAR(d_rows[r * D + d], weight[t * k + j] * dy[t * D + d], 1e-15);
      }
      ASSERT_NEAR(y[t * D + d], want_y, 1e-14);
      ASSERT_NEAR(dx[t * D + d], want_dx, 1e-14);
    }
  for (int64_t p = 0; p < n * k; ++p) {
    double dot = 0;
    if (row_of_pair[p] >= 0)
      for (int64_t d = 0; d < D; ++d) dot += dy[(p / k) * D + d] * rows[row_of_pair[p] * D + d];
    ASSERT_NEAR(d_weight[p], dot, 1e-14) << p;
  }
  // gather row i = token of pair index[i]; scatter back skips dropped pairs.
  const auto x = rand_values<float>(n * D, 1.0, 26);
  const std::vector<int64_t> pair_of_row = {1, 4, 0, 5, 3};
  std::vector<float> gathered(5 * D), scattered(5 * D, -1.0f);
  ops::gather_rows<float>(ctx(), x.data(), pair_of_row.data(), k, gathered.data(), 5, D);
  ops::scatter_rows<float>(ctx(), x.data(), row_of_pair.data(), k, scattered.data(), n * k, D);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t d = 0; d < D; ++d) {
      ASSERT_EQ(gathered[i * D + d], x[(pair_of_row[i] / k) * D + d]);
      const auto p = std::find(row_of_pair.begin(), row_of_pair.end(), i) - row_of_pair.begin();
      ASSERT_EQ(scattered[i * D + d], x[(p / k) * D + d]) << "row " << i;
    }
}

TEST_P(OpsConformance, WireCodecsRoundTripAndRejectNonFiniteFp8) {
  const int64_t n = 3, D = 200;  // two 1x128 tiles, the second partial
  const auto rows = rand_values<float>(n * D, 5.0, 27);
  for (WireFormat f : {WireFormat::f32, WireFormat::bf16, WireFormat::fp8_e4m3}) {
    std::vector<uint8_t> buf(static_cast<size_t>(n * wire_row_bytes(f, D)));
    std::vector<float> back(rows.size()), trip(rows.size());
    ops::encode_rows(ctx(), f, rows.data(), n, D, buf.data(), "rows");
    ops::decode_rows(ctx(), f, buf.data(), n, D, back.data());
    ops::round_trip_rows(ctx(), f, rows.data(), n, D, trip.data(), "rows");
    EXPECT_EQ(back, trip) << wire_format_name(f);  // the two paths agree bit for bit
    // Within the format's precision of each row's tile maximum.
    const double rel = f == WireFormat::f32 ? 0.0 : f == WireFormat::bf16 ? 1.0 / 256 : 1.0 / 16;
    for (size_t i = 0; i < rows.size(); ++i)
      ASSERT_LE(std::abs(back[i] - rows[i]), rel * 5.5 + 1e-30) << wire_format_name(f) << " " << i;
  }
  std::vector<float> bad = rows;
  bad[123] = std::numeric_limits<float>::infinity();
  std::vector<uint8_t> buf(static_cast<size_t>(n * wire_row_bytes(WireFormat::fp8_e4m3, D)));
  const std::string e = error_of([&] {
    ops::encode_rows(ctx(), WireFormat::fp8_e4m3, bad.data(), n, D, buf.data(), "MoE dispatch rows");
  });
  EXPECT_NE(e.find("MoE dispatch rows"), std::string::npos) << e;
}

// Routing pieces against their definitions on a small case: biased scores,
// group scores (best vs best-two), masks, gate weights and their gradient
// (central differences), the bias update.
TEST_P(OpsConformance, RoutingArithmetic) {
  const int64_t n = 2, E = 8, G = 4, K = 2;
  const auto s = rand_values<double>(n * E, 1.0, 28);
  const auto bias = rand_values<double>(E, 0.1, 29);
  std::vector<double> b(n * E), gs1(n * G), gs2(n * G);
  ops::add_expert_bias<double>(ctx(), s.data(), bias.data(), b.data(), n, E);
  for (int64_t i = 0; i < n * E; ++i) ASSERT_EQ(b[i], s[i] + bias[i % E]);
  ops::group_scores<double>(ctx(), b.data(), n, E, G, false, gs1.data());
  ops::group_scores<double>(ctx(), b.data(), n, E, G, true, gs2.data());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t g = 0; g < G; ++g) {
      const double x = b[t * E + 2 * g], y = b[t * E + 2 * g + 1];
      ASSERT_EQ(gs1[t * G + g], std::max(x, y));
      ASSERT_EQ(gs2[t * G + g], std::max(x, y) + std::min(x, y));
    }
  const std::vector<int32_t> kept_groups = {3, 1, 0, 2};  // KG = 2
  std::vector<uint8_t> mask(n * E);
  ops::groups_to_mask(ctx(), kept_groups.data(), n, E, 2, 2, mask.data());
  EXPECT_EQ(mask, (std::vector<uint8_t>{0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0}));
  const std::vector<int32_t> node = {0, 0, 1, 1, 2, 2, 3, 3}, kept_nodes = {2, 0};  // M = 1
  ops::nodes_to_mask(ctx(), kept_nodes.data(), node.data(), n, E, 1, mask.data());
  EXPECT_EQ(mask, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0}));
  std::vector<double> ns(n * 4);
  ops::node_scores<double>(ctx(), b.data(), node.data(), n, E, 4, 2, ns.data());
  for (int64_t i = 0; i < n * 4; ++i) ASSERT_NEAR(ns[i], b[2 * i] + b[2 * i + 1], 1e-15);

  const std::vector<int32_t> ex = {5, 2, 0, 7};
  std::vector<double> w(n * K), z(n);
  auto weights = [&](const std::vector<double>& scores) {
    ops::gate_weights<double>(ctx(), scores.data(), ex.data(), n, E, K, true, 2.5, 1e-20, w.data(),
                              z.data());
    return w;
  };
  const auto s_pos = [&] { auto v = s; for (auto& x : v) x = std::abs(x) + 0.1; return v; }();
  weights(s_pos);
  for (int64_t t = 0; t < n; ++t) {
    const double zz = s_pos[t * E + ex[t * K]] + s_pos[t * E + ex[t * K + 1]];
    for (int64_t j = 0; j < K; ++j)
      ASSERT_NEAR(w[t * K + j], 2.5 * s_pos[t * E + ex[t * K + j]] / zz, 1e-14);
  }
  const auto dw = rand_values<double>(n * K, 1.0, 30);
  std::vector<double> ds(n * E);
  ops::gate_weights_backward<double>(ctx(), dw.data(), nullptr, s_pos.data(), ex.data(), z.data(),
                                     n, E, K, true, 2.5, ds.data());
  for (int64_t i = 0; i < n * E; ++i) {
    auto up = s_pos, down = s_pos;
    up[i] += 1e-6;
    down[i] -= 1e-6;
    const auto wu = weights(up), wd = weights(down);
    double fd = 0;
    for (int64_t p = 0; p < n * K; ++p) fd += dw[p] * (wu[p] - wd[p]) / 2e-6;
    ASSERT_NEAR(ds[i], fd, 1e-7) << i;
  }
  const std::vector<int64_t> counts = {5, 1, 3, 3};  // mean 3
  std::vector<float> rb = {0.f, 0.f, 0.f, 1.f};
  ops::update_router_bias<float>(ctx(), counts.data(), 4, 0.25f, rb.data());
  EXPECT_EQ(rb, (std::vector<float>{-0.25f, 0.25f, 0.f, 1.f}));
}

// FP8 linear products against the f32 products: E4M3 keeps 3 mantissa bits, so
// a product of rounded operands is within a few percent in norm; a non-finite
// operand is refused by name.
TEST_P(OpsConformance, Fp8LinearProductsTrackTheF32Ones) {
  const int64_t n = 64, in = 256, out = 160;  // two K-blocks, a partial weight block
  std::mt19937 gen(31);
  auto gaussian = [&](int64_t count, float sd) {
    std::normal_distribution<float> dist(0.0f, sd);
    std::vector<float> v(static_cast<size_t>(count));
    for (auto& e : v) e = dist(gen);
    return v;
  };
  const auto x = gaussian(n * in, 1.0f), W = gaussian(out * in, 0.05f), dy = gaussian(n * out, 1.0f);
  auto rel_err = [](const std::vector<float>& got, const std::vector<float>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
      den += double(want[i]) * want[i];
    }
    return std::sqrt(num / den);
  };
  std::vector<float> y(n * out), y32(n * out), dx(n * in), dx32(n * in), dW(out * in, 0.0f),
      dW32(out * in, 0.0f);
  ops::fp8_linear_forward(ctx(), x.data(), W.data(), y.data(), n, in, out, "test.w");
  ops::matmul<float>(ctx(), false, true, n, out, in, x.data(), W.data(), y32.data());
  ops::fp8_linear_dgrad(ctx(), dy.data(), W.data(), dx.data(), n, in, out, false, "test.w");
  ops::matmul<float>(ctx(), false, false, n, in, out, dy.data(), W.data(), dx32.data());
  ops::fp8_linear_wgrad(ctx(), dy.data(), x.data(), dW.data(), n, in, out, "test.w");
  ops::matmul<float>(ctx(), true, false, out, in, n, dy.data(), x.data(), dW32.data(), 1.0f);
  EXPECT_LT(rel_err(y, y32), 0.06);
  EXPECT_LT(rel_err(dx, dx32), 0.06);
  EXPECT_LT(rel_err(dW, dW32), 0.06);
  EXPECT_GT(rel_err(y, y32), 0.0);  // it did round
  auto bad = x;
  bad[77] = std::numeric_limits<float>::quiet_NaN();
  const std::string e = error_of(
      [&] { ops::fp8_linear_forward(ctx(), bad.data(), W.data(), y.data(), n, in, out, "test.w"); });
  EXPECT_FALSE(e.empty());
}

// The strided GEMM on sub-matrices (leading dimensions larger than the shapes),
// against the triple loop; elements outside C's window untouched.
TEST_P(OpsConformance, StridedGemmOnSubMatrices) {
  const int64_t M = 5, N = 7, K = 6, lda = 9, ldb = 11, ldc = 13;
  const auto A = rand_values<double>(M * lda, 1.0, 34), B = rand_values<double>(K * ldb, 1.0, 35);
  auto C = rand_values<double>(M * ldc, 1.0, 36);
  const auto C0 = C;
  ops::gemm<double>(ctx(), false, false, M, N, K, 2.0, A.data(), lda, B.data(), ldb, -1.0,
                    C.data(), ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      if (j >= N) {
        ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]) << "outside the window at " << i << "," << j;
        continue;
      }
      double want = -C0[i * ldc + j];
      for (int64_t k = 0; k < K; ++k) want += 2.0 * A[i * lda + k] * B[k * ldb + j];
      ASSERT_NEAR(C[i * ldc + j], want, 1e-12) << i << "," << j;
    }
}

// The sequence-wise aux loss against its formula (model/router.h), its backward
// against central differences.
TEST_P(OpsConformance, SequenceAuxLossAndItsGradient) {
  const int64_t seq = 3, n = 6, E = 4, K = 2;
  const double alpha = 0.3, scale = 0.5;
  auto s = rand_values<double>(n * E, 1.0, 37);
  for (auto& x : s) x = std::abs(x) + 0.05;
  const std::vector<int32_t> ex = {0, 1, 2, 3, 0, 2, 1, 1, 3, 0, 2, 2};
  std::vector<double> f;
  const double L = ops::seq_aux_loss_forward<double>(ctx(), s.data(), ex.data(), n, seq, E, K, alpha, f);
  double want = 0;
  for (int64_t b = 0; b < n / seq; ++b) {
    std::vector<double> cnt(E, 0.0), P(E, 0.0);
    for (int64_t t = b * seq; t < (b + 1) * seq; ++t) {
      double z = 0;
      for (int64_t e = 0; e < E; ++e) z += s[t * E + e];
      for (int64_t e = 0; e < E; ++e) P[e] += s[t * E + e] / z / seq;
      for (int64_t k = 0; k < K; ++k) cnt[ex[t * K + k]] += 1;
    }
    for (int64_t e = 0; e < E; ++e) want += double(E) / (K * seq) * cnt[e] * P[e];
  }
  want *= alpha / double(n / seq);
  EXPECT_NEAR(L, want, 1e-14);
  std::vector<double> ds(n * E, 0.25);  // ADDS onto what is there
  ops::seq_aux_loss_backward<double>(ctx(), s.data(), f, n, seq, E, alpha, scale, ds.data());
  for (int64_t i = 0; i < n * E; ++i) {
    auto up = s, down = s;
    up[i] += 1e-6;
    down[i] -= 1e-6;
    std::vector<double> fu, fd;
    const double lu = ops::seq_aux_loss_forward<double>(ctx(), up.data(), ex.data(), n, seq, E, K, alpha, fu);
    const double ld = ops::seq_aux_loss_forward<double>(ctx(), down.data(), ex.data(), n, seq, E, K, alpha, fd);
    ASSERT_NEAR(ds[i] - 0.25, scale * (lu - ld) / 2e-6, 1e-8) << i;
  }
}

// A context whose device has no backend in this build gets a clear error, not a
// CPU computation on device memory.
TEST(OpsDispatch, AContextWithoutABackendIsRefusedByName) {
  ExecContext gpu;
  gpu.device = Device::cuda;
  std::vector<float> x(8, 1.0f), w(4, 1.0f), y(8), rstd(2);
  const std::string e = error_of([&] {
    ops::rmsnorm_forward<float>(gpu, x.data(), w.data(), y.data(), rstd.data(), 2, 4, 1e-6f);
  });
  EXPECT_NE(e.find("rmsnorm_forward: no kernel for device cuda"), std::string::npos) << e;
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsConformance,
                         ::testing::Values(Backend{"cpu", &ExecContext::cpu()}),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace sadari
