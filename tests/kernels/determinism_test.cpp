// Thread-count independence: kernels whose work is split across OpenMP threads
// must give bitwise identical results with 1, 2 and 3 threads (3 makes uneven
// splits). Float, at sizes large enough to take every parallel path.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/rmsnorm.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

// Runs `fn` with 1, 2 and 3 threads; each run returns its output bytes, which
// must all equal the first.
template <typename Fn>
void expect_same_for_thread_counts(Fn fn) {
  const int saved = omp_get_max_threads();
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    results.push_back(fn());
  }
  omp_set_num_threads(saved);
  for (size_t r = 1; r < results.size(); ++r) {
    ASSERT_EQ(results[r].size(), results[0].size());
    EXPECT_EQ(std::memcmp(results[r].data(), results[0].data(), results[0].size() * sizeof(float)),
              0)
        << "differs with " << r + 1 << " threads";
  }
}

TEST(Determinism, AttentionBackward) {
  const int64_t B = 2, T = 100, H = 4, hd = 16, vd = 16;
  const auto q = test::cast_vector<float>(test::random_vector(B * T * H * hd, 100));
  const auto k = test::cast_vector<float>(test::random_vector(B * T * H * hd, 101));
  const auto v = test::cast_vector<float>(test::random_vector(B * T * H * vd, 102));
  const auto dout = test::cast_vector<float>(test::random_vector(B * T * H * vd, 103));
  expect_same_for_thread_counts([&] {
    std::vector<float> out(B * T * H * vd), lse(B * H * T), dq(q.size()), dk(k.size()),
        dv(v.size());
    attention_forward<float>(q.data(), k.data(), v.data(), out.data(), lse.data(), B, T, H, hd,
                             vd);
    attention_backward<float>(dout.data(), q.data(), k.data(), v.data(), out.data(), lse.data(),
                              dq.data(), dk.data(), dv.data(), B, T, H, hd, vd);
    std::vector<float> all = out;
    for (const auto* part : {&lse, &dq, &dk, &dv}) all.insert(all.end(), part->begin(), part->end());
    return all;
  });
}

TEST(Determinism, EmbeddingBackward) {
  const int64_t n = 3000, vocab = 50, dim = 32;  // many repeated ids
  std::vector<int32_t> ids(n);
  const auto r = test::random_vector(n, 104, 0, double(vocab));
  for (int64_t i = 0; i < n; ++i) ids[i] = int32_t(r[i]);
  const auto dout = test::cast_vector<float>(test::random_vector(n * dim, 105));
  expect_same_for_thread_counts([&] {
    auto dtable = test::cast_vector<float>(test::random_vector(vocab * dim, 106));
    embedding_backward<float>(ids.data(), dout.data(), dtable.data(), n, vocab, dim);
    return dtable;
  });
}

TEST(Determinism, RmsNormBackward) {
  const int64_t rows = 700, dim = 200;
  const auto x = test::cast_vector<float>(test::random_vector(rows * dim, 107));
  const auto w = test::cast_vector<float>(test::random_vector(dim, 108));
  const auto dy = test::cast_vector<float>(test::random_vector(rows * dim, 109));
  expect_same_for_thread_counts([&] {
    std::vector<float> y(x.size()), rstd(rows), dx(x.size()), dw(dim);
    rmsnorm_forward<float>(x.data(), w.data(), y.data(), rstd.data(), rows, dim, 1e-6f);
    rmsnorm_backward<float>(dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(), rows,
                            dim);
    dx.insert(dx.end(), dw.begin(), dw.end());
    return dx;
  });
}

TEST(Determinism, LossAndNormReductions) {
  const int64_t n = 400, vocab = 300;
  const auto logits = test::cast_vector<float>(test::random_vector(n * vocab, 110, -5, 5));
  std::vector<int32_t> targets(n);
  for (int64_t i = 0; i < n; ++i) targets[i] = i % 7 == 0 ? kIgnoreTarget : int32_t(i % vocab);
  expect_same_for_thread_counts([&] {
    std::vector<float> lse(n);
    const double loss =
        cross_entropy_forward<float>(logits.data(), targets.data(), lse.data(), n, vocab, nullptr);
    const double ss = sum_squares<float>(logits.data(), n * vocab);
    std::vector<float> bits(4);
    std::memcpy(bits.data(), &loss, 8);
    std::memcpy(bits.data() + 2, &ss, 8);
    return bits;
  });
}

}  // namespace
}  // namespace sadari::cpu
