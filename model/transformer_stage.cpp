#include "model/transformer_stage.h"

#include <cstring>

#include "kernels/ops.h"
#include "model/linear.h"
#include "model/tensor_buffer.h"

namespace sadari {

template <typename T>
TransformerStage<T>::TransformerStage(const ModelConfig& cfg, const StageSpan& span,
                                      ParameterStore& params, uint64_t seed,
                                      TokenDispatcher<T>* dispatcher,
                                      ComputePrecision precision, const ExecContext& ctx)
    : cfg_(cfg), span_(span), ctx_(ctx) {
  SADARI_CHECK(span.first >= 0 && span.count >= 1 && span.end() <= cfg.layers, "stage of blocks [",
               span.first, ", ", span.end(), ") does not fit a model of ", cfg.layers, " layers");
  // The one-process creation order: embedding, blocks, final norm, head.
  if (span.has_embedding)
    embed_ = params.add("embed.weight", {cfg.vocab_size, cfg.hidden}, Init::normal, cfg.init_std,
                        seed);
  blocks_.reserve(static_cast<size_t>(span.count));
  for (int64_t l = span.first; l < span.end(); ++l)
    blocks_.emplace_back(cfg, l, params, seed, dispatcher, precision, ctx);
  if (span.has_head) {
    final_norm_ = params.add("final_norm.weight", {cfg.hidden}, Init::ones, 0, seed, false);
    head_ = params.add("head.weight", {cfg.vocab_size, cfg.hidden}, Init::normal, cfg.init_std,
                       seed);
  }
}

template <typename T>
ForwardResult TransformerStage<T>::forward(const int32_t* ids, const T* x,
                                           const int32_t* targets, int64_t batch, int64_t seq,
                                           Cache& c) const {
  const int64_t n = batch * seq, D = cfg_.hidden, V = cfg_.vocab_size;
  const DType dt = dtype_of<T>::value;
  c.ids = ids;
  c.targets = targets;
  c.batch = batch;
  c.seq = seq;
  c.residual.resize(blocks_.size() + 1);
  c.blocks.resize(blocks_.size());
  for (auto& r : c.residual) ensure_shape(r, {n, D}, dt);

  ForwardResult out;
  if (embed_) {
    ops::embedding_forward<T>(ctx_, ids, embed_->w<T>(), c.residual[0].template data<T>(), n, V, D);
  } else {
    SADARI_ASSERT(x != nullptr);
    std::memcpy(c.residual[0].template data<T>(), x, static_cast<size_t>(n * D) * sizeof(T));
  }
  for (size_t l = 0; l < blocks_.size(); ++l)
    out.aux_loss += blocks_[l].forward(c.residual[l].template data<T>(),
                                       c.residual[l + 1].template data<T>(), batch, seq,
                                       c.blocks[l]);
  if (head_) {
    ensure_shape(c.final_in, {n, D}, dt);
    ensure_shape(c.final_rstd, {n}, dt);
    ensure_shape(c.logits, {n, V}, dt);
    ensure_shape(c.lse, {n}, dt);
    ops::rmsnorm_forward<T>(ctx_, c.residual.back().template data<T>(), final_norm_->w<T>(),
                            c.final_in.template data<T>(), c.final_rstd.template data<T>(), n, D,
                            static_cast<T>(cfg_.norm_eps));
    linear_forward<T>(c.final_in.template data<T>(), head_->w<T>(), c.logits.template data<T>(),
                      n, D, V, head_numerics());
    out.ce_sum = ops::cross_entropy_forward<T>(ctx_, c.logits.template data<T>(), targets,
                                               c.lse.template data<T>(), n, V, &out.tokens);
  }
  return out;
}

template <typename T>
void TransformerStage<T>::output_grad(const T* d_output, Cache& c, T ce_scale, T* d_top,
                                      WeightGradTape<T>* tape) const {
  const int64_t n = c.batch * c.seq, D = cfg_.hidden, V = cfg_.vocab_size;
  const DType dt = dtype_of<T>::value;
  if (head_) {
    ensure_shape(c.d_logits, {n, V}, dt);
    ensure_shape(c.d_final, {n, D}, dt);
    ops::cross_entropy_backward<T>(ctx_, c.logits.template data<T>(), c.targets,
                                   c.lse.template data<T>(), c.d_logits.template data<T>(), n, V,
                                   ce_scale);
    linear_backward<T>(c.d_logits.template data<T>(), c.final_in.template data<T>(),
                       head_->w<T>(), c.d_final.template data<T>(), head_->g<T>(), n, D, V,
                       false, head_numerics(), tape);
    ops::rmsnorm_backward<T>(ctx_, c.d_final.template data<T>(), c.residual.back().template data<T>(),
                             final_norm_->w<T>(), c.final_rstd.template data<T>(), d_top,
                             final_norm_->g<T>(), n, D);
  } else {
    SADARI_ASSERT(d_output != nullptr);
    std::memcpy(d_top, d_output, static_cast<size_t>(n * D) * sizeof(T));
  }
}

template <typename T>
void TransformerStage<T>::backward(const T* d_output, Cache& c, T ce_scale, T aux_scale) const {
  const int64_t n = c.batch * c.seq, D = cfg_.hidden, V = cfg_.vocab_size;
  const DType dt = dtype_of<T>::value;
  ensure_shape(c.d_a, {n, D}, dt);
  ensure_shape(c.d_b, {n, D}, dt);
  T* d_cur = c.d_a.template data<T>();
  T* d_next = c.d_b.template data<T>();
  output_grad(d_output, c, ce_scale, d_cur, nullptr);
  for (size_t l = blocks_.size(); l-- > 0;) {
    blocks_[l].backward(d_cur, d_next, c.blocks[l], aux_scale);
    std::swap(d_cur, d_next);
  }
  if (embed_) {
    ops::embedding_backward<T>(ctx_, c.ids, d_cur, embed_->g<T>(), n, V, D);
    c.d_input = nullptr;
  } else {
    c.d_input = d_cur;
  }
}

template <typename T>
void TransformerStage<T>::backward_input(const T* d_output, Cache& c, T ce_scale,
                                         T aux_scale) const {
  const int64_t n = c.batch * c.seq, D = cfg_.hidden, V = cfg_.vocab_size;
  const DType dt = dtype_of<T>::value;
  c.tape.clear();
  // One gradient buffer per residual stream (not two alternating ones as in
  // backward): the recorded products read a block's output gradient after the
  // blocks below have run.
  c.d_stream.resize(blocks_.size() + 1);
  for (auto& d : c.d_stream) ensure_shape(d, {n, D}, dt);
  T* top = c.d_stream.back().template data<T>();
  output_grad(d_output, c, ce_scale, top, &c.tape);
  for (size_t l = blocks_.size(); l-- > 0;)
    blocks_[l].backward(c.d_stream[l + 1].template data<T>(), c.d_stream[l].template data<T>(),
                        c.blocks[l], aux_scale, &c.tape);
  T* d_embedded = c.d_stream[0].template data<T>();
  if (embed_) {
    const int32_t* ids = c.ids;
    T* table_grad = embed_->g<T>();
    c.tape.record([=, ctx = ctx_] { ops::embedding_backward<T>(ctx, ids, d_embedded, table_grad, n, V, D); });
    c.d_input = nullptr;
  } else {
    c.d_input = d_embedded;
  }
}

template <typename T>
void TransformerStage<T>::backward_weight(Cache& c) const {
  c.tape.run(ctx_);
}

template <typename T>
std::vector<std::vector<int64_t>> TransformerStage<T>::expert_counts(const Cache& c) const {
  std::vector<std::vector<int64_t>> counts(blocks_.size());
  for (size_t l = 0; l < blocks_.size(); ++l)
    if (blocks_[l].is_moe() && l < c.blocks.size())
      counts[l] = blocks_[l].moe()->expert_counts(c.blocks[l].moe);
  return counts;
}

template <typename T>
int64_t TransformerStage<T>::dropped_pairs(const Cache& c) const {
  int64_t dropped = 0;
  for (size_t l = 0; l < blocks_.size(); ++l)
    if (blocks_[l].is_moe() && l < c.blocks.size())
      dropped += blocks_[l].moe()->dropped_pairs(c.blocks[l].moe);
  return dropped;
}

template <typename T>
void TransformerStage<T>::update_router_biases(const std::vector<std::vector<int64_t>>& counts) {
  SADARI_ASSERT(counts.size() == blocks_.size());
  for (size_t l = 0; l < blocks_.size(); ++l)
    if (blocks_[l].is_moe() && !counts[l].empty()) blocks_[l].moe()->update_bias(counts[l].data());
}

template <typename T>
double TransformerStage<T>::train_flops_per_token(int64_t seq) const {
  double forward = head_ ? 2.0 * static_cast<double>(cfg_.hidden * cfg_.vocab_size) : 0.0;
  for (const auto& b : blocks_) forward += b.forward_flops_per_token(seq);
  return 3.0 * forward;
}

void add_expert_counts(std::vector<std::vector<int64_t>>& sum,
                       const std::vector<std::vector<int64_t>>& counts) {
  if (sum.empty()) {
    sum = counts;
    return;
  }
  SADARI_ASSERT(sum.size() == counts.size());
  for (size_t l = 0; l < sum.size(); ++l)
    for (size_t e = 0; e < sum[l].size(); ++e) sum[l][e] += counts[l][e];
}

template class TransformerStage<float>;
template class TransformerStage<double>;

}  // namespace sadari
