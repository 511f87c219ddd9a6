// The layer kernels of the compute interface (kernels/ops.h): each checks that
// the context has a backend for it and forwards to that backend's kernel.
#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/fp8_linear.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/pair_rows.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/routing.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/cpu/topk.h"
#include "kernels/cpu/wire_codec.h"
#include "kernels/ops.h"
#include "kernels/ops_checks.h"

namespace sadari::ops {

static_assert(kIgnoreTarget == cpu::kIgnoreTarget);

using detail::require_cpu;

template <typename T>
void rmsnorm_forward(const ExecContext& ctx, const T* x, const T* w, T* y, T* rstd, int64_t rows,
                     int64_t dim, T eps) {
  require_cpu(ctx, "rmsnorm_forward");
  cpu::rmsnorm_forward<T>(x, w, y, rstd, rows, dim, eps);
}

template <typename T>
void rmsnorm_backward(const ExecContext& ctx, const T* dy, const T* x, const T* w, const T* rstd,
                      T* dx, T* dw, int64_t rows, int64_t dim) {
  require_cpu(ctx, "rmsnorm_backward");
  cpu::rmsnorm_backward<T>(dy, x, w, rstd, dx, dw, rows, dim);
}

template <typename T>
void add(const ExecContext& ctx, const T* a, const T* b, T* out, int64_t n) {
  require_cpu(ctx, "add");
  cpu::add<T>(a, b, out, n);
}

template <typename T>
void add_inplace(const ExecContext& ctx, T* y, const T* x, int64_t n) {
  require_cpu(ctx, "add_inplace");
  cpu::add_inplace<T>(y, x, n);
}

template <typename T>
void embedding_forward(const ExecContext& ctx, const int32_t* ids, const T* table, T* out,
                       int64_t n, int64_t vocab, int64_t dim) {
  require_cpu(ctx, "embedding_forward");
  cpu::embedding_forward<T>(ids, table, out, n, vocab, dim);
}

template <typename T>
void embedding_backward(const ExecContext& ctx, const int32_t* ids, const T* dout, T* dtable,
                        int64_t n, int64_t vocab, int64_t dim) {
  require_cpu(ctx, "embedding_backward");
  cpu::embedding_backward<T>(ids, dout, dtable, n, vocab, dim);
}

template <typename T>
double cross_entropy_forward(const ExecContext& ctx, const T* logits, const int32_t* targets,
                             T* lse, int64_t n, int64_t vocab, int64_t* count) {
  require_cpu(ctx, "cross_entropy_forward");
  return cpu::cross_entropy_forward<T>(logits, targets, lse, n, vocab, count);
}

template <typename T>
void cross_entropy_backward(const ExecContext& ctx, const T* logits, const int32_t* targets,
                            const T* lse, T* dlogits, int64_t n, int64_t vocab, T scale) {
  require_cpu(ctx, "cross_entropy_backward");
  cpu::cross_entropy_backward<T>(logits, targets, lse, dlogits, n, vocab, scale);
}

template <typename T>
void rope_forward(const ExecContext& ctx, T* x, int64_t batch, int64_t seq, int64_t heads,
                  int64_t head_dim, double theta) {
  require_cpu(ctx, "rope_forward");
  cpu::rope_forward<T>(x, batch, seq, heads, head_dim, theta);
}

template <typename T>
void rope_backward(const ExecContext& ctx, T* dx, int64_t batch, int64_t seq, int64_t heads,
                   int64_t head_dim, double theta) {
  require_cpu(ctx, "rope_backward");
  cpu::rope_backward<T>(dx, batch, seq, heads, head_dim, theta);
}

template <typename T>
void attention_forward(const ExecContext& ctx, const T* q, const T* k, const T* v, T* out, T* lse,
                       int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                       int64_t v_dim) {
  require_cpu(ctx, "attention_forward");
  cpu::attention_forward<T>(q, k, v, out, lse, batch, seq, heads, head_dim, v_dim);
}

template <typename T>
void attention_backward(const ExecContext& ctx, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, T* dq, T* dk, T* dv, int64_t batch,
                        int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim) {
  require_cpu(ctx, "attention_backward");
  cpu::attention_backward<T>(dout, q, k, v, out, lse, dq, dk, dv, batch, seq, heads, head_dim,
                             v_dim);
}

template <typename T>
void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  require_cpu(ctx, "gemm");
  cpu::gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void matmul(const ExecContext& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            const T* A, const T* B, T* C, T beta) {
  require_cpu(ctx, "matmul");
  cpu::matmul<T>(trans_a, trans_b, M, N, K, A, B, C, beta);
}

template <typename T>
void gemm_grouped(const ExecContext& ctx, const GemmProblem<T>* problems, int64_t count) {
  require_cpu(ctx, "gemm_grouped");
  cpu::gemm_grouped<T>(problems, count);
}

template <typename T>
void softmax_forward(const ExecContext& ctx, const T* x, T* y, int64_t rows, int64_t cols) {
  require_cpu(ctx, "softmax_forward");
  cpu::softmax_forward<T>(x, y, rows, cols);
}

template <typename T>
void softmax_backward(const ExecContext& ctx, const T* dy, const T* y, T* dx, int64_t rows,
                      int64_t cols) {
  require_cpu(ctx, "softmax_backward");
  cpu::softmax_backward<T>(dy, y, dx, rows, cols);
}

template <typename T>
void sigmoid_forward(const ExecContext& ctx, const T* x, T* y, int64_t n) {
  require_cpu(ctx, "sigmoid_forward");
  cpu::sigmoid_forward<T>(x, y, n);
}

template <typename T>
void sigmoid_backward(const ExecContext& ctx, const T* dy, const T* y, T* dx, int64_t n) {
  require_cpu(ctx, "sigmoid_backward");
  cpu::sigmoid_backward<T>(dy, y, dx, n);
}

template <typename T>
void topk_rows(const ExecContext& ctx, const T* x, int64_t rows, int64_t cols, int64_t k,
               int32_t* idx, T* val, const uint8_t* mask) {
  require_cpu(ctx, "topk_rows");
  cpu::topk_rows<T>(x, rows, cols, k, idx, val, mask);
}

template <typename T>
void swiglu_forward(const ExecContext& ctx, const T* gate_up, T* h, int64_t rows, int64_t F) {
  require_cpu(ctx, "swiglu_forward");
  cpu::swiglu_forward<T>(gate_up, h, rows, F);
}

template <typename T>
void swiglu_backward(const ExecContext& ctx, const T* dh, const T* gate_up, T* dgate_up,
                     int64_t rows, int64_t F) {
  require_cpu(ctx, "swiglu_backward");
  cpu::swiglu_backward<T>(dh, gate_up, dgate_up, rows, F);
}

template <typename T>
void add_expert_bias(const ExecContext& ctx, const T* s, const T* bias, T* b, int64_t n,
                     int64_t E) {
  require_cpu(ctx, "add_expert_bias");
  cpu::add_expert_bias<T>(s, bias, b, n, E);
}

template <typename T>
void group_scores(const ExecContext& ctx, const T* b, int64_t n, int64_t E, int64_t G, bool top2,
                  T* gs) {
  require_cpu(ctx, "group_scores");
  cpu::group_scores<T>(b, n, E, G, top2, gs);
}

void groups_to_mask(const ExecContext& ctx, const int32_t* group_idx, int64_t n, int64_t E,
                    int64_t KG, int64_t gsize, uint8_t* mask) {
  require_cpu(ctx, "groups_to_mask");
  cpu::groups_to_mask(group_idx, n, E, KG, gsize, mask);
}

template <typename T>
void node_scores(const ExecContext& ctx, const T* b, const int32_t* expert_node, int64_t n,
                 int64_t E, int64_t N, int64_t q, T* ns) {
  require_cpu(ctx, "node_scores");
  cpu::node_scores<T>(b, expert_node, n, E, N, q, ns);
}

void nodes_to_mask(const ExecContext& ctx, const int32_t* kept, const int32_t* expert_node,
                   int64_t n, int64_t E, int64_t M, uint8_t* mask) {
  require_cpu(ctx, "nodes_to_mask");
  cpu::nodes_to_mask(kept, expert_node, n, E, M, mask);
}

template <typename T>
void gate_weights(const ExecContext& ctx, const T* s, const int32_t* ex, int64_t n, int64_t E,
                  int64_t K, bool normalise, T c, T eps, T* w, T* zsum) {
  require_cpu(ctx, "gate_weights");
  cpu::gate_weights<T>(s, ex, n, E, K, normalise, c, eps, w, zsum);
}

template <typename T>
void gate_weights_backward(const ExecContext& ctx, const T* dw, const T* d_scores_extra,
                           const T* s, const int32_t* ex, const T* zsum, int64_t n, int64_t E,
                           int64_t K, bool normalise, T c, T* ds) {
  require_cpu(ctx, "gate_weights_backward");
  cpu::gate_weights_backward<T>(dw, d_scores_extra, s, ex, zsum, n, E, K, normalise, c, ds);
}

template <typename T>
void update_router_bias(const ExecContext& ctx, const int64_t* counts, int64_t E, T step,
                        T* bias) {
  require_cpu(ctx, "update_router_bias");
  cpu::update_router_bias<T>(counts, E, step, bias);
}

template <typename T>
double seq_aux_loss_forward(const ExecContext& ctx, const T* scores, const int32_t* expert,
                            int64_t n, int64_t seq, int64_t E, int64_t K, double alpha,
                            std::vector<double>& f) {
  require_cpu(ctx, "seq_aux_loss_forward");
  return cpu::seq_aux_loss_forward<T>(scores, expert, n, seq, E, K, alpha, f);
}

template <typename T>
void seq_aux_loss_backward(const ExecContext& ctx, const T* scores, const std::vector<double>& f,
                           int64_t n, int64_t seq, int64_t E, double alpha, double scale,
                           T* d_scores) {
  require_cpu(ctx, "seq_aux_loss_backward");
  cpu::seq_aux_loss_backward<T>(scores, f, n, seq, E, alpha, scale, d_scores);
}

template <typename T>
void combine_pairs(const ExecContext& ctx, const T* rows, const int64_t* row_of_pair,
                   const T* weight, T* y, int64_t n, int64_t k, int64_t D) {
  require_cpu(ctx, "combine_pairs");
  cpu::combine_pairs<T>(rows, row_of_pair, weight, y, n, k, D);
}

template <typename T>
void combine_pairs_backward(const ExecContext& ctx, const T* dy, const T* rows,
                            const int64_t* row_of_pair, const T* weight, T* d_rows, T* d_weight,
                            int64_t n, int64_t k, int64_t D) {
  require_cpu(ctx, "combine_pairs_backward");
  cpu::combine_pairs_backward<T>(dy, rows, row_of_pair, weight, d_rows, d_weight, n, k, D);
}

template <typename T>
void sum_pair_rows(const ExecContext& ctx, const T* rows, const int64_t* row_of_pair, T* dx,
                   int64_t n, int64_t k, int64_t D) {
  require_cpu(ctx, "sum_pair_rows");
  cpu::sum_pair_rows<T>(rows, row_of_pair, dx, n, k, D);
}

template <typename T>
void gather_rows(const ExecContext& ctx, const T* src, const int64_t* index, int64_t stride,
                 T* out, int64_t count, int64_t D) {
  require_cpu(ctx, "gather_rows");
  cpu::gather_rows<T>(src, index, stride, out, count, D);
}

template <typename T>
void scatter_rows(const ExecContext& ctx, const T* src, const int64_t* index, int64_t stride,
                  T* out, int64_t count, int64_t D) {
  require_cpu(ctx, "scatter_rows");
  cpu::scatter_rows<T>(src, index, stride, out, count, D);
}

void encode_rows(const ExecContext& ctx, WireFormat f, const float* rows, int64_t n, int64_t D,
                 uint8_t* out, std::string_view name) {
  require_cpu(ctx, "encode_rows");
  cpu::encode_rows(f, rows, n, D, out, name);
}

void decode_rows(const ExecContext& ctx, WireFormat f, const uint8_t* in, int64_t n, int64_t D,
                 float* rows) {
  require_cpu(ctx, "decode_rows");
  cpu::decode_rows(f, in, n, D, rows);
}

void round_trip_rows(const ExecContext& ctx, WireFormat f, const float* in, int64_t n, int64_t D,
                     float* out, std::string_view name) {
  require_cpu(ctx, "round_trip_rows");
  cpu::round_trip_rows(f, in, n, D, out, name);
}

namespace {
// DeepSeek-V3's choice: E4M3 everywhere, scales from the max-abs as is.
const cpu::Fp8QuantizeOptions kFp8{};
}  // namespace

void fp8_linear_forward(const ExecContext& ctx, const float* x, const float* W, float* y,
                        int64_t n, int64_t in, int64_t out, std::string_view name) {
  require_cpu(ctx, "fp8_linear_forward");
  const auto Wq = cpu::fp8_quantize_weight(W, out, in, kFp8, std::string(name));
  cpu::fp8_linear_forward(x, Wq, y, n, kFp8);
}

void fp8_linear_dgrad(const ExecContext& ctx, const float* dy, const float* W, float* dx,
                      int64_t n, int64_t in, int64_t out, bool accumulate_dx,
                      std::string_view name) {
  require_cpu(ctx, "fp8_linear_dgrad");
  const auto Wq = cpu::fp8_quantize_weight(W, out, in, kFp8, std::string(name));
  cpu::fp8_linear_backward(dy, nullptr, Wq, dx, nullptr, n, kFp8, accumulate_dx);
}

void fp8_linear_wgrad(const ExecContext& ctx, const float* dy, const float* x, float* dW,
                      int64_t n, int64_t in, int64_t out, std::string_view name) {
  require_cpu(ctx, "fp8_linear_wgrad");
  cpu::fp8_linear_wgrad(dy, x, dW, n, out, in, kFp8, std::string(name));
}

void round_to_bf16(const ExecContext& ctx, const float* x, float* out, int64_t n) {
  require_cpu(ctx, "round_to_bf16");
  cpu::round_to_bf16(x, out, n);
}

#define SADARI_INSTANTIATE(T)                                                                     \
  template void rmsnorm_forward<T>(const ExecContext&, const T*, const T*, T*, T*, int64_t,      \
                                   int64_t, T);                                                   \
  template void rmsnorm_backward<T>(const ExecContext&, const T*, const T*, const T*, const T*,  \
                                    T*, T*, int64_t, int64_t);                                    \
  template void add<T>(const ExecContext&, const T*, const T*, T*, int64_t);                     \
  template void add_inplace<T>(const ExecContext&, T*, const T*, int64_t);                       \
  template void embedding_forward<T>(const ExecContext&, const int32_t*, const T*, T*, int64_t,  \
                                     int64_t, int64_t);                                           \
  template void embedding_backward<T>(const ExecContext&, const int32_t*, const T*, T*, int64_t, \
                                      int64_t, int64_t);                                          \
  template double cross_entropy_forward<T>(const ExecContext&, const T*, const int32_t*, T*,     \
                                           int64_t, int64_t, int64_t*);                           \
  template void cross_entropy_backward<T>(const ExecContext&, const T*, const int32_t*,          \
                                          const T*, T*, int64_t, int64_t, T);                     \
  template void rope_forward<T>(const ExecContext&, T*, int64_t, int64_t, int64_t, int64_t,      \
                                double);                                                          \
  template void rope_backward<T>(const ExecContext&, T*, int64_t, int64_t, int64_t, int64_t,     \
                                 double);                                                         \
  template void attention_forward<T>(const ExecContext&, const T*, const T*, const T*, T*, T*,   \
                                     int64_t, int64_t, int64_t, int64_t, int64_t);               \
  template void attention_backward<T>(const ExecContext&, const T*, const T*, const T*,          \
                                      const T*, const T*, const T*, T*, T*, T*, int64_t,          \
                                      int64_t, int64_t, int64_t, int64_t);                        \
  template void gemm<T>(const ExecContext&, bool, bool, int64_t, int64_t, int64_t, T, const T*,  \
                        int64_t, const T*, int64_t, T, T*, int64_t);                              \
  template void matmul<T>(const ExecContext&, bool, bool, int64_t, int64_t, int64_t, const T*,   \
                          const T*, T*, T);                                                       \
  template void gemm_grouped<T>(const ExecContext&, const GemmProblem<T>*, int64_t);             \
  template void softmax_forward<T>(const ExecContext&, const T*, T*, int64_t, int64_t);          \
  template void softmax_backward<T>(const ExecContext&, const T*, const T*, T*, int64_t,         \
                                    int64_t);                                                     \
  template void sigmoid_forward<T>(const ExecContext&, const T*, T*, int64_t);                   \
  template void sigmoid_backward<T>(const ExecContext&, const T*, const T*, T*, int64_t);        \
  template void topk_rows<T>(const ExecContext&, const T*, int64_t, int64_t, int64_t, int32_t*,  \
                             T*, const uint8_t*);                                                 \
  template void swiglu_forward<T>(const ExecContext&, const T*, T*, int64_t, int64_t);           \
  template void swiglu_backward<T>(const ExecContext&, const T*, const T*, T*, int64_t, int64_t); \
  template void combine_pairs<T>(const ExecContext&, const T*, const int64_t*, const T*, T*,      \
                                 int64_t, int64_t, int64_t);                                      \
  template void combine_pairs_backward<T>(const ExecContext&, const T*, const T*,                \
                                          const int64_t*, const T*, T*, T*, int64_t, int64_t,     \
                                          int64_t);                                               \
  template void sum_pair_rows<T>(const ExecContext&, const T*, const int64_t*, T*, int64_t,      \
                                 int64_t, int64_t);                                               \
  template void gather_rows<T>(const ExecContext&, const T*, const int64_t*, int64_t, T*,        \
                               int64_t, int64_t);                                                 \
  template void scatter_rows<T>(const ExecContext&, const T*, const int64_t*, int64_t, T*,       \
                                int64_t, int64_t);                                                \
  template void add_expert_bias<T>(const ExecContext&, const T*, const T*, T*, int64_t, int64_t); \
  template void update_router_bias<T>(const ExecContext&, const int64_t*, int64_t, T, T*);      \
  template void group_scores<T>(const ExecContext&, const T*, int64_t, int64_t, int64_t, bool,  \
                                T*);                                                              \
  template void node_scores<T>(const ExecContext&, const T*, const int32_t*, int64_t, int64_t,  \
                               int64_t, int64_t, T*);                                             \
  template void gate_weights<T>(const ExecContext&, const T*, const int32_t*, int64_t, int64_t, \
                                int64_t, bool, T, T, T*, T*);                                     \
  template void gate_weights_backward<T>(const ExecContext&, const T*, const T*, const T*,      \
                                         const int32_t*, const T*, int64_t, int64_t, int64_t,   \
                                         bool, T, T*);                                            \
  template double seq_aux_loss_forward<T>(const ExecContext&, const T*, const int32_t*, int64_t,\
                                          int64_t, int64_t, int64_t, double,                     \
                                          std::vector<double>&);                                  \
  template void seq_aux_loss_backward<T>(const ExecContext&, const T*,                          \
                                         const std::vector<double>&, int64_t, int64_t, int64_t,  \
                                         double, double, T*);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::ops
