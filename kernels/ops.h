// The compute interface: every kernel that model/, optim/ and parallel/ run goes
// through a function here, with an execution context (kernels/exec_context.h)
// that says on which device and with what. The CPU backend (kernels/cpu/) is
// the reference: each function forwards to its cpu:: kernel; a device backend
// adds its own kernel behind the same function and passes the same conformance
// tests (tests/kernels/ops_conformance_test.cpp runs them for every context it
// is given).
//
// Contracts common to every function:
//   - Tensors are dense; "n elements" means Tensor::numel(). Inputs and outputs
//     must all live on ctx.device, else Error naming the operation, the tensor
//     and both devices (no function copies between devices).
//   - Shapes and dtypes are checked up front, with the tensor's name in the error.
//   - Results are the same for any thread count.
//   - Scalars that come back (sums) are on the host; a device backend
//     synchronises for them, and says so here.
//
// Two kinds of functions:
//   - on Tensors (the optimizer's): device, dtype and size checked, with the
//     tensor's name in the error;
//   - layer kernels on raw buffers plus dimensions, the CPU kernels' own
//     signatures (T = float for training, double for gradient checks): the
//     buffers must live on ctx.device (unchecked: a pointer does not say where
//     it points); their contracts are in the kernels/cpu header named at each.
//
// Every kernel of a training step is behind this interface; tests/layering
// fails when a file outside kernels/ includes a kernels/cpu header (benchmarks of
// the CPU kernels themselves excepted, by name).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "kernels/adamw_coefficients.h"
#include "kernels/exec_context.h"
#include "kernels/gemm_problem.h"
#include "kernels/wire_format.h"

namespace sadari::ops {

// AdamW, in place: w (fp32 master weights), m, v (fp32 moments) from g (fp32
// gradient), element-wise by the coefficients of this step. with_decay: the
// parameter has weight decay. REQUIRES all four f32 with the same numel.
void adamw_update(const ExecContext& ctx, const AdamWCoefficients& c, bool with_decay,
                  const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v);

// sum of x^2, accumulated in double in element order (f32 or f64 x). Host result.
double sum_squares(const ExecContext& ctx, const Tensor& x);

// x *= factor, in place (f32: the factor rounded to float first; f64).
void scale(const ExecContext& ctx, const Tensor& x, double factor);

// ---- Layer kernels (raw buffers on ctx.device) ----

// A target that contributes nothing to the loss (kernels/cpu/cross_entropy.h).
inline constexpr int32_t kIgnoreTarget = -1;

// RMSNorm over the last dimension (kernels/cpu/rmsnorm.h): x, y [rows, dim],
// w [dim], rstd [rows]. Backward WRITES dx, ACCUMULATES dw (may be null).
template <typename T>
void rmsnorm_forward(const ExecContext& ctx, const T* x, const T* w, T* y, T* rstd, int64_t rows,
                     int64_t dim, T eps);
template <typename T>
void rmsnorm_backward(const ExecContext& ctx, const T* dy, const T* x, const T* w, const T* rstd,
                      T* dx, T* dw, int64_t rows, int64_t dim);

// out = a + b; y += x (n elements; kernels/cpu/elementwise.h).
template <typename T>
void add(const ExecContext& ctx, const T* a, const T* b, T* out, int64_t n);
template <typename T>
void add_inplace(const ExecContext& ctx, T* y, const T* x, int64_t n);

// Embedding rows out[i] = table[ids[i]]; backward ACCUMULATES into dtable in a
// fixed order. Error naming the id and position for an id outside [0, vocab)
// (kernels/cpu/embedding.h).
template <typename T>
void embedding_forward(const ExecContext& ctx, const int32_t* ids, const T* table, T* out,
                       int64_t n, int64_t vocab, int64_t dim);
template <typename T>
void embedding_backward(const ExecContext& ctx, const int32_t* ids, const T* dout, T* dtable,
                        int64_t n, int64_t vocab, int64_t dim);

// Softmax cross-entropy (kernels/cpu/cross_entropy.h): forward returns the SUM
// over counted targets (host double) and writes lse [n]; backward WRITES
// dlogits = scale * (softmax - onehot).
template <typename T>
double cross_entropy_forward(const ExecContext& ctx, const T* logits, const int32_t* targets,
                             T* lse, int64_t n, int64_t vocab, int64_t* count);
template <typename T>
void cross_entropy_backward(const ExecContext& ctx, const T* logits, const int32_t* targets,
                            const T* lse, T* dlogits, int64_t n, int64_t vocab, T scale);

// Rotary position embedding in place on [batch, seq, heads, head_dim], and its
// inverse on the gradient (kernels/cpu/rope.h).
template <typename T>
void rope_forward(const ExecContext& ctx, T* x, int64_t batch, int64_t seq, int64_t heads,
                  int64_t head_dim, double theta);
template <typename T>
void rope_backward(const ExecContext& ctx, T* dx, int64_t batch, int64_t seq, int64_t heads,
                   int64_t head_dim, double theta);

// Causal multi-head attention (kernels/cpu/attention.h): q, k [batch, seq,
// heads, head_dim], v, out [batch, seq, heads, v_dim], lse [batch, heads, seq].
// Backward WRITES dq, dk, dv.
template <typename T>
void attention_forward(const ExecContext& ctx, const T* q, const T* k, const T* v, T* out, T* lse,
                       int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim);
template <typename T>
void attention_backward(const ExecContext& ctx, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, T* dq, T* dk, T* dv, int64_t batch,
                        int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim);

// GEMMs (kernels/cpu/gemm.h): C = alpha op(A) op(B) + beta C on packed operands
// (matmul: alpha 1, leading dimensions from the shapes), and several products
// in one call, each computed exactly as alone (the same bits).
template <typename T>
void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <typename T>
void matmul(const ExecContext& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            const T* A, const T* B, T* C, T beta = T(0));
template <typename T>
void gemm_grouped(const ExecContext& ctx, const GemmProblem<T>* problems, int64_t count);

// Row softmax over [rows, cols] and elementwise sigmoid, with their backward
// (kernels/cpu/activation.h); dx WRITTEN.
template <typename T>
void softmax_forward(const ExecContext& ctx, const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void softmax_backward(const ExecContext& ctx, const T* dy, const T* y, T* dx, int64_t rows,
                      int64_t cols);
template <typename T>
void sigmoid_forward(const ExecContext& ctx, const T* x, T* y, int64_t n);
template <typename T>
void sigmoid_backward(const ExecContext& ctx, const T* dy, const T* y, T* dx, int64_t n);

// The k largest of each row of [rows, cols], best first, ties to the lower
// index; mask (may be null) excludes entries with mask 0 (kernels/cpu/topk.h).
template <typename T>
void topk_rows(const ExecContext& ctx, const T* x, int64_t rows, int64_t cols, int64_t k,
               int32_t* idx, T* val, const uint8_t* mask = nullptr);

// SwiGLU gate on gate_up [rows, 2F] -> h [rows, F], and its backward
// (kernels/cpu/swiglu.h).
template <typename T>
void swiglu_forward(const ExecContext& ctx, const T* gate_up, T* h, int64_t rows, int64_t F);
template <typename T>
void swiglu_backward(const ExecContext& ctx, const T* dh, const T* gate_up, T* dgate_up,
                     int64_t rows, int64_t F);

// The router's arithmetic (kernels/cpu/routing.h; model/router.h states the
// semantics): biased scores, group scores and masks (group-limited routing),
// node scores and masks (node-limited routing), gate weights of the selected
// experts and their backward, and the sequence-wise aux loss (f on the host).
template <typename T>
void add_expert_bias(const ExecContext& ctx, const T* s, const T* bias, T* b, int64_t n,
                     int64_t E);
template <typename T>
void group_scores(const ExecContext& ctx, const T* b, int64_t n, int64_t E, int64_t G, bool top2,
                  T* gs);
void groups_to_mask(const ExecContext& ctx, const int32_t* group_idx, int64_t n, int64_t E,
                    int64_t KG, int64_t gsize, uint8_t* mask);
template <typename T>
void node_scores(const ExecContext& ctx, const T* b, const int32_t* expert_node, int64_t n,
                 int64_t E, int64_t N, int64_t q, T* ns);
void nodes_to_mask(const ExecContext& ctx, const int32_t* kept, const int32_t* expert_node,
                   int64_t n, int64_t E, int64_t M, uint8_t* mask);
template <typename T>
void gate_weights(const ExecContext& ctx, const T* s, const int32_t* ex, int64_t n, int64_t E,
                  int64_t K, bool normalise, T c, T eps, T* w, T* zsum);
template <typename T>
void gate_weights_backward(const ExecContext& ctx, const T* dw, const T* d_scores_extra,
                           const T* s, const int32_t* ex, const T* zsum, int64_t n, int64_t E,
                           int64_t K, bool normalise, T c, T* ds);
// Aux-loss-free bias update: bias [E] (on ctx) moves by step toward balance;
// counts [E] are host bookkeeping (summed over the step and the dp ranks).
template <typename T>
void update_router_bias(const ExecContext& ctx, const int64_t* counts, int64_t E, T step,
                        T* bias);
template <typename T>
double seq_aux_loss_forward(const ExecContext& ctx, const T* scores, const int32_t* expert,
                            int64_t n, int64_t seq, int64_t E, int64_t K, double alpha,
                            std::vector<double>& f);
template <typename T>
void seq_aux_loss_backward(const ExecContext& ctx, const T* scores, const std::vector<double>& f,
                           int64_t n, int64_t seq, int64_t E, double alpha, double scale,
                           T* d_scores);

// Token dispatch arithmetic (kernels/cpu/pair_rows.h): a pair is one (token t,
// slot j) router choice, index t*k + j; row_of_pair[t*k + j] is its row in
// `rows` [*, D] or -1 when dropped.
//   combine_pairs:          y_t += sum_j weight[t,j] rows[row_of_pair[t,j]]
//   combine_pairs_backward: d_rows (WRITTEN) and d_weight of that
//   sum_pair_rows:          dx_t += sum_j rows[row_of_pair[t,j]]
// gather_rows: out[i] = src[index[i] / stride] for i < count, rows of D
// (stride 1: a plain row gather; stride k: each pair's token row);
// scatter_rows: out[index[i]] = src[i / stride] where index[i] >= 0.
template <typename T>
void combine_pairs(const ExecContext& ctx, const T* rows, const int64_t* row_of_pair,
                   const T* weight, T* y, int64_t n, int64_t k, int64_t D);
template <typename T>
void combine_pairs_backward(const ExecContext& ctx, const T* dy, const T* rows,
                            const int64_t* row_of_pair, const T* weight, T* d_rows, T* d_weight,
                            int64_t n, int64_t k, int64_t D);
template <typename T>
void sum_pair_rows(const ExecContext& ctx, const T* rows, const int64_t* row_of_pair, T* dx,
                   int64_t n, int64_t k, int64_t D);
template <typename T>
void gather_rows(const ExecContext& ctx, const T* src, const int64_t* index, int64_t stride,
                 T* out, int64_t count, int64_t D);
template <typename T>
void scatter_rows(const ExecContext& ctx, const T* src, const int64_t* index, int64_t stride,
                  T* out, int64_t count, int64_t D);

// The wire codecs of kernels/wire_format.h (kernels/cpu/wire_codec.h): rows
// [n, D] to n records of wire_row_bytes(f, D) bytes and back; round_trip_rows
// is decode(encode(in)) without the bytes (out may equal in). Encoding a NaN or
// infinity in fp8 throws Error naming `name` and the element.
void encode_rows(const ExecContext& ctx, WireFormat f, const float* rows, int64_t n, int64_t D,
                 uint8_t* out, std::string_view name);
void decode_rows(const ExecContext& ctx, WireFormat f, const uint8_t* in, int64_t n, int64_t D,
                 float* rows);
void round_trip_rows(const ExecContext& ctx, WireFormat f, const float* in, int64_t n, int64_t D,
                     float* out, std::string_view name);

// FP8 linear products, DeepSeek-V3's recipe (kernels/cpu/fp8_linear.h): E4M3,
// x and dy in 1x128 tiles, W [out, in] in 128x128 blocks re-quantised from the
// fp32 master weight at each call, fp32 scales from the max-abs, fp32
// accumulation with promotion every 128 of K. Inputs and outputs are fp32.
//   fp8_linear_forward: y [n, out] = x [n, in] W^T
//   fp8_linear_dgrad:   dx [n, in] = dy W (written, or added when accumulate_dx)
//   fp8_linear_wgrad:   dW [out, in] += dy^T x
// A NaN or infinity in an operand throws Error naming `name` and the element.
void fp8_linear_forward(const ExecContext& ctx, const float* x, const float* W, float* y,
                        int64_t n, int64_t in, int64_t out, std::string_view name);
void fp8_linear_dgrad(const ExecContext& ctx, const float* dy, const float* W, float* dx,
                      int64_t n, int64_t in, int64_t out, bool accumulate_dx,
                      std::string_view name);
void fp8_linear_wgrad(const ExecContext& ctx, const float* dy, const float* x, float* dW,
                      int64_t n, int64_t in, int64_t out, std::string_view name);

// out = x rounded to the nearest bf16 (round to nearest even), kept as f32: the
// CPU emulation of bf16 operands (out may equal x).
void round_to_bf16(const ExecContext& ctx, const float* x, float* out, int64_t n);

}  // namespace sadari::ops
