// Conformance of the compute interface (kernels/ops.h), per function: results
// against a plain reference, the checks on shapes and dtypes, and the error for
// a tensor on another device. Written against an ExecContext, so a device
// backend runs the same suite by adding its context to the instantiation at the
// end and an upload/download pair to Backend below; the CPU backend is the
// reference and runs it here.
#include <gtest/gtest.h>

#include <cmath>
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

INSTANTIATE_TEST_SUITE_P(Backends, OpsConformance,
                         ::testing::Values(Backend{"cpu", &ExecContext::cpu()}),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace sadari
