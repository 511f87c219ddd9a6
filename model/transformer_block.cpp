#include "model/transformer_block.h"

#include "kernels/ops.h"
#include "model/swiglu_ffn.h"
#include "model/tensor_buffer.h"

namespace sadari {

template <typename T>
TransformerBlock<T>::TransformerBlock(const ModelConfig& cfg, int64_t layer,
                                      ParameterStore& params, uint64_t seed,
                                      TokenDispatcher<T>* dispatcher,
                                      ComputePrecision precision, const ExecContext& ctx)
    : D_(cfg.hidden),
      dense_F_(cfg.dense_ffn_hidden),
      eps_(static_cast<T>(cfg.norm_eps)),
      precision_(precision),
      ctx_(ctx),
      attn_norm_(params.add("blocks." + std::to_string(layer) + ".attn_norm.weight", {cfg.hidden},
                            Init::ones, 0, seed, /*weight_decay=*/false)),
      ffn_norm_(nullptr),
      attn_(cfg, layer, params, seed, precision, ctx) {
  const std::string prefix = "blocks." + std::to_string(layer) + ".";
  ffn_norm_ = params.add(prefix + "ffn_norm.weight", {D_}, Init::ones, 0, seed, false);
  if (layer < cfg.first_dense_layers) {
    ffn_gate_up_ = params.add(prefix + "ffn.gate_up", {2 * dense_F_, D_}, Init::normal,
                              cfg.init_std, seed);
    ffn_down_ = params.add(prefix + "ffn.down", {D_, dense_F_}, Init::normal,
                           cfg.init_std / std::sqrt(2.0 * static_cast<double>(cfg.layers)), seed);
  } else {
    moe_ = std::make_unique<MoELayer<T>>(cfg, layer, params, seed, dispatcher, precision, ctx);
    // Active FLOPs: router, top_k routed experts and the shared experts.
    const double F = static_cast<double>(cfg.moe_ffn_hidden), D = static_cast<double>(D_);
    moe_flops_per_token_ = 2.0 * D * static_cast<double>(cfg.experts) +
                           2.0 * 3.0 * D * F * static_cast<double>(cfg.top_k + cfg.shared_experts);
  }
}

template <typename T>
double TransformerBlock<T>::forward(const T* x, T* y, int64_t batch, int64_t seq,
                                    Cache& c) const {
  const int64_t n = batch * seq;
  const DType dt = dtype_of<T>::value;
  c.x = x;
  c.batch = batch;
  c.seq = seq;
  for (Tensor* t : {&c.attn_in, &c.attn_out, &c.mid, &c.ffn_in, &c.ffn_out})
    ensure_shape(*t, {n, D_}, dt);
  ensure_shape(c.attn_rstd, {n}, dt);
  ensure_shape(c.ffn_rstd, {n}, dt);

  ops::rmsnorm_forward<T>(ctx_, x, attn_norm_->w<T>(), c.attn_in.template data<T>(), c.attn_rstd.template data<T>(), n,
                          D_, eps_);
  attn_.forward(c.attn_in.template data<T>(), c.attn_out.template data<T>(), batch, seq, c.attn);
  ops::add<T>(ctx_, x, c.attn_out.template data<T>(), c.mid.template data<T>(), n * D_);

  ops::rmsnorm_forward<T>(ctx_, c.mid.template data<T>(), ffn_norm_->w<T>(), c.ffn_in.template data<T>(),
                          c.ffn_rstd.template data<T>(), n, D_, eps_);
  double aux = 0;
  if (moe_) {
    aux = moe_->forward(c.ffn_in.template data<T>(), c.ffn_out.template data<T>(), n, seq, c.moe);
  } else {
    ensure_shape(c.ffn_gate_up, {n, 2 * dense_F_}, dt);
    ensure_shape(c.ffn_h, {n, dense_F_}, dt);
    swiglu_ffn_forward<T>(c.ffn_in.template data<T>(), ffn_gate_up_->w<T>(), ffn_down_->w<T>(),
                          c.ffn_out.template data<T>(), c.ffn_gate_up.template data<T>(), c.ffn_h.template data<T>(), n, D_,
                          dense_F_, dense_numerics());
  }
  ops::add<T>(ctx_, c.mid.template data<T>(), c.ffn_out.template data<T>(), y, n * D_);
  return aux;
}

template <typename T>
void TransformerBlock<T>::backward(const T* dy, T* dx, Cache& c, T aux_grad_scale,
                                   WeightGradTape<T>* tape) const {
  const int64_t n = c.batch * c.seq;
  const DType dt = dtype_of<T>::value;
  ensure_shape(c.d_mid, {n, D_}, dt);
  ensure_shape(c.d_norm, {n, D_}, dt);
  T* d_mid = c.d_mid.template data<T>();
  T* d_norm = c.d_norm.template data<T>();

  // FFN branch: d_norm = dFFN/d(ffn_in), then through the norm into d_mid.
  if (moe_) {
    moe_->backward(dy, d_norm, c.moe, aux_grad_scale, tape);
  } else {
    ensure_shape(c.ffn_scratch, {n, 3 * dense_F_}, dt);
    swiglu_ffn_backward<T>(dy, c.ffn_in.template data<T>(), ffn_gate_up_->w<T>(), ffn_down_->w<T>(),
                           c.ffn_gate_up.template data<T>(), c.ffn_h.template data<T>(), d_norm,
                           ffn_gate_up_->g<T>(), ffn_down_->g<T>(), c.ffn_scratch.template data<T>(), n,
                           D_, dense_F_, false, dense_numerics(), tape);
  }
  ops::rmsnorm_backward<T>(ctx_, d_norm, c.mid.template data<T>(), ffn_norm_->w<T>(), c.ffn_rstd.template data<T>(),
                           d_mid, ffn_norm_->g<T>(), n, D_);
  ops::add_inplace<T>(ctx_, d_mid, dy, n * D_);  // residual

  // Attention branch: same pattern into dx.
  attn_.backward(d_mid, d_norm, c.attn, tape);
  ops::rmsnorm_backward<T>(ctx_, d_norm, c.x, attn_norm_->w<T>(), c.attn_rstd.template data<T>(), dx,
                           attn_norm_->g<T>(), n, D_);
  ops::add_inplace<T>(ctx_, dx, d_mid, n * D_);  // residual
}

template <typename T>
double TransformerBlock<T>::forward_flops_per_token(int64_t seq) const {
  double ffn = moe_ ? moe_flops_per_token_
                    : 2.0 * 3.0 * static_cast<double>(D_) * static_cast<double>(dense_F_);
  return attn_.forward_flops_per_token(seq) + ffn;
}

template class TransformerBlock<float>;
template class TransformerBlock<double>;

}  // namespace sadari
