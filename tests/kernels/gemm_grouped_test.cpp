// Grouped GEMM: every problem must come out bit for bit as gemm() alone gives it
// (the same tiles, the same OpenBLAS calls), for any thread count; the SwiGLU group
// built on it (model/swiglu_ffn.h, the MoE experts) likewise against one
// swiglu_ffn call per member.
#include <gtest/gtest.h>
#include <omp.h>

#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "model/swiglu_ffn.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

struct Operands {
  std::vector<float> A, B, C;
};

// A mixed group: small products (one tile), large ones (tiled, edges not
// multiples of the tile), every transpose pair, strided, beta 0 and 1, an empty
// product and an empty inner dimension.
std::vector<GemmProblem<float>> make_problems(std::vector<Operands>& ops) {
  struct Shape {
    bool ta, tb;
    int64_t M, N, K;
    float beta;
  };
  const std::vector<Shape> shapes = {
      {false, true, 7, 5, 9, 0.0f},       {false, false, 301, 203, 57, 1.0f},
      {true, false, 260, 300, 200, 1.0f}, {true, true, 33, 17, 5, 0.0f},
      {false, true, 0, 4, 4, 0.0f},       {false, false, 3, 4, 0, 1.0f},
      {false, true, 512, 512, 64, 0.0f},
  };
  ops.resize(shapes.size());
  std::vector<GemmProblem<float>> problems;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const int64_t a_rows = s.ta ? s.K : s.M, a_cols = s.ta ? s.M : s.K;
    const int64_t b_rows = s.tb ? s.N : s.K, b_cols = s.tb ? s.K : s.N;
    const int64_t lda = a_cols + 1, ldb = b_cols + 2, ldc = s.N + 3;
    ops[i].A = test::cast_vector<float>(test::random_vector(a_rows * lda, 10 + i));
    ops[i].B = test::cast_vector<float>(test::random_vector(b_rows * ldb, 20 + i));
    ops[i].C = test::cast_vector<float>(test::random_vector(s.M * ldc, 30 + i));
    problems.push_back({s.ta, s.tb, s.M, s.N, s.K, 0.5f, ops[i].A.data(), lda, ops[i].B.data(),
                        ldb, s.beta, ops[i].C.data(), ldc});
  }
  return problems;
}

TEST(GemmGrouped, MatchesOneGemmPerProblemBitwiseForAnyThreadCount) {
  std::vector<Operands> expected_ops;
  const auto expected = make_problems(expected_ops);
  for (const auto& p : expected)
    gemm<float>(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, p.C,
                p.ldc);
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    std::vector<Operands> ops;
    const auto problems = make_problems(ops);
    gemm_grouped<float>(problems.data(), static_cast<int64_t>(problems.size()));
    EXPECT_EQ(omp_get_max_threads(), threads) << "gemm_grouped changed the caller's thread count";
    for (size_t i = 0; i < ops.size(); ++i)
      EXPECT_EQ(ops[i].C, expected_ops[i].C) << "problem " << i << ", " << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(GemmGrouped, ChecksEveryProblemBeforeComputingAny) {
  std::vector<Operands> ops;
  auto problems = make_problems(ops);
  const std::vector<std::vector<float>> before = {ops[0].C, ops[5].C};  // [5]: K = 0
  problems.back().ldc = problems.back().N - 1;  // invalid
  EXPECT_THROW(gemm_grouped<float>(problems.data(), static_cast<int64_t>(problems.size())), Error);
  EXPECT_EQ(ops[0].C, before[0]) << "a problem was computed before the group was validated";
  EXPECT_EQ(ops[5].C, before[1]) << "a K = 0 problem was scaled before the group was validated";
}

TEST(GemmGrouped, EmptyGroupDoesNothing) {
  EXPECT_NO_THROW(gemm_grouped<float>(nullptr, 0));
}

// The MoE layer's use: experts on adjacent slices of shared buffers (one of them
// empty) plus a shared expert of another width on its own buffers.
TEST(SwigluFfnGroup, MatchesOneSwigluCallPerMemberBitwise) {
  const int64_t D = 24, F = 16, S = 40, n_shared = 37;
  const std::vector<int64_t> counts = {11, 0, 29, 64};
  int64_t R = 0;
  for (int64_t c : counts) R += c;
  auto rand = [](int64_t n, uint64_t seed) {
    return test::cast_vector<float>(test::random_vector(n, seed, -2, 2));
  };
  const auto rows = rand(R * D, 1), x_shared = rand(n_shared * D, 2);
  const auto dy_rows = rand(R * D, 3), dy_shared = rand(n_shared * D, 4);
  std::vector<std::vector<float>> wgu, wd;
  for (size_t j = 0; j < counts.size(); ++j) {
    wgu.push_back(rand(2 * F * D, 10 + j));
    wd.push_back(rand(D * F, 20 + j));
  }
  const auto sgu = rand(2 * S * D, 30), sd = rand(D * S, 31);

  struct Buffers {
    std::vector<float> out, act, h, dx, dh, dgu, s_out, s_act, s_h, s_dx, s_scratch;
    std::vector<std::vector<float>> g_gu, g_d;
    std::vector<float> sg_gu, sg_d;
  };
  auto fresh = [&] {
    Buffers b;
    b.out.assign(R * D, 0);
    b.act.assign(R * 2 * F, 0);
    b.h.assign(R * F, 0);
    b.dx.assign(R * D, 0);
    b.dh.assign(R * F, 0);
    b.dgu.assign(R * 2 * F, 0);
    b.s_out.assign(n_shared * D, 0);
    b.s_act.assign(n_shared * 2 * S, 0);
    b.s_h.assign(n_shared * S, 0);
    b.s_dx = rand(n_shared * D, 40);  // accumulated into
    b.s_scratch.assign(n_shared * 3 * S, 0);
    for (size_t j = 0; j < counts.size(); ++j) {
      b.g_gu.push_back(rand(2 * F * D, 50 + j));
      b.g_d.push_back(rand(D * F, 60 + j));
    }
    b.sg_gu = rand(2 * S * D, 70);
    b.sg_d = rand(D * S, 71);
    return b;
  };

  // Reference: one call per member.
  Buffers ref = fresh();
  std::vector<float> scratch(64 * 3 * F);
  for (size_t j = 0, off = 0; j < counts.size(); off += counts[j], ++j) {
    if (counts[j] == 0) continue;
    swiglu_ffn_forward<float>(rows.data() + off * D, wgu[j].data(), wd[j].data(),
                              ref.out.data() + off * D, ref.act.data() + off * 2 * F,
                              ref.h.data() + off * F, counts[j], D, F);
    swiglu_ffn_backward<float>(dy_rows.data() + off * D, rows.data() + off * D, wgu[j].data(),
                               wd[j].data(), ref.act.data() + off * 2 * F, ref.h.data() + off * F,
                               ref.dx.data() + off * D, ref.g_gu[j].data(), ref.g_d[j].data(),
                               scratch.data(), counts[j], D, F);
  }
  swiglu_ffn_forward<float>(x_shared.data(), sgu.data(), sd.data(), ref.s_out.data(),
                            ref.s_act.data(), ref.s_h.data(), n_shared, D, S);
  swiglu_ffn_backward<float>(dy_shared.data(), x_shared.data(), sgu.data(), sd.data(),
                             ref.s_act.data(), ref.s_h.data(), ref.s_dx.data(), ref.sg_gu.data(),
                             ref.sg_d.data(), ref.s_scratch.data(), n_shared, D, S,
                             /*accumulate_dx=*/true);

  Buffers got = fresh();
  std::vector<SwigluFfnMember<float>> group;
  for (size_t j = 0, off = 0; j < counts.size(); off += counts[j], ++j) {
    SwigluFfnMember<float> m;
    m.n = counts[j];
    m.F = F;
    m.x = rows.data() + off * D;
    m.w_gate_up = wgu[j].data();
    m.w_down = wd[j].data();
    m.y = got.out.data() + off * D;
    m.gate_up_act = got.act.data() + off * 2 * F;
    m.h = got.h.data() + off * F;
    m.dy = dy_rows.data() + off * D;
    m.dx = got.dx.data() + off * D;
    m.dw_gate_up = got.g_gu[j].data();
    m.dw_down = got.g_d[j].data();
    m.dh = got.dh.data() + off * F;
    m.dgate_up = got.dgu.data() + off * 2 * F;
    group.push_back(m);
  }
  SwigluFfnMember<float> s;
  s.n = n_shared;
  s.F = S;
  s.x = x_shared.data();
  s.w_gate_up = sgu.data();
  s.w_down = sd.data();
  s.y = got.s_out.data();
  s.gate_up_act = got.s_act.data();
  s.h = got.s_h.data();
  s.dy = dy_shared.data();
  s.dx = got.s_dx.data();
  s.dw_gate_up = got.sg_gu.data();
  s.dw_down = got.sg_d.data();
  s.dh = got.s_scratch.data();
  s.dgate_up = got.s_scratch.data() + n_shared * S;
  s.accumulate_dx = true;
  group.push_back(s);
  swiglu_ffn_forward_grouped<float>(group.data(), static_cast<int64_t>(group.size()), D);
  swiglu_ffn_backward_grouped<float>(group.data(), static_cast<int64_t>(group.size()), D);

  EXPECT_EQ(got.out, ref.out);
  EXPECT_EQ(got.act, ref.act);
  EXPECT_EQ(got.h, ref.h);
  EXPECT_EQ(got.dx, ref.dx);
  EXPECT_EQ(got.s_out, ref.s_out);
  EXPECT_EQ(got.s_dx, ref.s_dx);
  for (size_t j = 0; j < counts.size(); ++j) {
    EXPECT_EQ(got.g_gu[j], ref.g_gu[j]) << "expert " << j;
    EXPECT_EQ(got.g_d[j], ref.g_d[j]) << "expert " << j;
  }
  EXPECT_EQ(got.sg_gu, ref.sg_gu);
  EXPECT_EQ(got.sg_d, ref.sg_d);
}

}  // namespace
}  // namespace sadari::cpu
