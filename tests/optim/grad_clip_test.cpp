// Global gradient-norm clipping: the norm covers trainable parameters only;
// clipping scales to max_norm and leaves gradients alone otherwise.
#include "optim/grad_clip.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sadari {
namespace {

// Gradients chosen so the norms are whole numbers:
//   a = (3, 4), b = (12): sqrt(9 + 16 + 144) = 13; the frozen c = (100, 100) is excluded.
template <typename T>
struct Store {
  ParameterStore store{sizeof(T) == 4 ? DType::f32 : DType::f64};
  Parameter* a = store.add("a", {2}, Init::zeros, 0, 1);
  Parameter* b = store.add("b_norm", {1}, Init::zeros, 0, 1, /*weight_decay=*/false);
  Parameter* c = store.add("router.bias", {2}, Init::zeros, 0, 1, false, /*trainable=*/false);
  Store() {
    a->g<T>()[0] = 3;
    a->g<T>()[1] = 4;
    b->g<T>()[0] = 12;
    c->g<T>()[0] = 100;
    c->g<T>()[1] = 100;
  }
  std::vector<double> grads() const {
    return {double(a->g<T>()[0]), double(a->g<T>()[1]), double(b->g<T>()[0]), double(c->g<T>()[0]),
            double(c->g<T>()[1])};
  }
};

template <typename T>
class GradClip : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GradClip, Types);

TYPED_TEST(GradClip, NormOverTrainableParametersOnly) {
  Store<TypeParam> s;
  EXPECT_DOUBLE_EQ(gradient_norm(s.store), 13.0);
  s.c->trainable = true;  // now c counts: sqrt(169 + 20000)
  EXPECT_NEAR(gradient_norm(s.store), std::sqrt(20169.0), 1e-9);
}

TYPED_TEST(GradClip, ClipScalesToMaxNorm) {
  Store<TypeParam> s;
  EXPECT_DOUBLE_EQ(clip_gradients(s.store, 6.5), 13.0);  // returns the norm before clipping
  const std::vector<double> want = {1.5, 2.0, 6.0, 100, 100};  // halved; c untouched
  const auto got = s.grads();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  EXPECT_NEAR(gradient_norm(s.store), 6.5, 1e-6);
}

TYPED_TEST(GradClip, ClipToSmallLimit) {
  Store<TypeParam> s;
  clip_gradients(s.store, 1.0);
  const auto got = s.grads();
  EXPECT_NEAR(got[0], 3.0 / 13, 1e-7);
  EXPECT_NEAR(got[1], 4.0 / 13, 1e-7);
  EXPECT_NEAR(got[2], 12.0 / 13, 1e-7);
  EXPECT_EQ(got[3], 100.0);
  EXPECT_NEAR(gradient_norm(s.store), 1.0, 1e-7);
}

TYPED_TEST(GradClip, UnderLimitOrDisabledLeavesGradients) {
  for (double max_norm : {13.0, 13.5, 1e9, 0.0, -1.0}) {
    Store<TypeParam> s;
    EXPECT_DOUBLE_EQ(clip_gradients(s.store, max_norm), 13.0) << max_norm;
    const std::vector<double> want = {3, 4, 12, 100, 100};
    EXPECT_EQ(s.grads(), want) << "max_norm " << max_norm;
  }
}

TYPED_TEST(GradClip, ScaleGradientsSkipsFrozen) {
  Store<TypeParam> s;
  scale_gradients(s.store, -2.0);
  const std::vector<double> want = {-6, -8, -24, 100, 100};
  EXPECT_EQ(s.grads(), want);
}

TEST(GradClipEdge, ZeroGradientsStayZero) {
  ParameterStore store(DType::f32);
  Parameter* p = store.add("w", {3}, Init::zeros, 0, 1);
  EXPECT_EQ(clip_gradients(store, 1.0), 0.0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p->g<float>()[i], 0.0f);
}

}  // namespace
}  // namespace sadari
