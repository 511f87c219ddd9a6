#include "model/attention_layer.h"

#include "core/profile.h"
#include "kernels/ops.h"
#include "model/linear.h"
#include "model/tensor_buffer.h"

namespace sadari {

template <typename T>
AttentionLayer<T>::AttentionLayer(const ModelConfig& cfg, int64_t layer, ParameterStore& params,
                                  uint64_t seed, ComputePrecision precision,
                                  const ExecContext& ctx)
    : D_(cfg.hidden),
      H_(cfg.heads),
      hd_(cfg.head_dim ? cfg.head_dim : cfg.hidden / cfg.heads),
      rope_theta_(cfg.rope_theta),
      precision_(precision),
      ctx_(ctx) {
  if (cfg.attention != "mha")
    fail("attention '" + cfg.attention + "' is not trainable yet", "model.attention",
         "use attention: mha for training; mla configs are for the planners");
  if (cfg.kv_heads != 0 && cfg.kv_heads != cfg.heads)
    fail("grouped-query attention (kv_heads < heads) is not trainable yet", "model.kv_heads",
         "set kv_heads to 0 or to heads");
  std::string prefix = "blocks." + std::to_string(layer) + ".attn.";
  const int64_t inner = H_ * hd_;
  wq_ = params.add(prefix + "wq", {inner, D_}, Init::normal, cfg.init_std, seed);
  wk_ = params.add(prefix + "wk", {inner, D_}, Init::normal, cfg.init_std, seed);
  wv_ = params.add(prefix + "wv", {inner, D_}, Init::normal, cfg.init_std, seed);
  // Output projections start smaller so the residual stream grows slowly with depth.
  wo_ = params.add(prefix + "wo", {D_, inner}, Init::normal,
                   cfg.init_std / std::sqrt(2.0 * static_cast<double>(cfg.layers)), seed);
}

template <typename T>
void AttentionLayer<T>::forward(const T* x, T* y, int64_t batch, int64_t seq, Cache& c) const {
  const int64_t n = batch * seq, inner = H_ * hd_;
  const DType dt = dtype_of<T>::value;
  c.x = x;
  c.batch = batch;
  c.seq = seq;
  ensure_shape(c.q, {n, inner}, dt);
  ensure_shape(c.k, {n, inner}, dt);
  ensure_shape(c.v, {n, inner}, dt);
  ensure_shape(c.o, {n, inner}, dt);
  ensure_shape(c.lse, {batch, H_, seq}, dt);
  T *q = c.q.template data<T>(), *k = c.k.template data<T>(), *v = c.v.template data<T>(), *o = c.o.template data<T>();
  linear_forward<T>(x, wq_->w<T>(), q, n, D_, inner, numerics(wq_));
  linear_forward<T>(x, wk_->w<T>(), k, n, D_, inner, numerics(wk_));
  linear_forward<T>(x, wv_->w<T>(), v, n, D_, inner, numerics(wv_));
  ops::rope_forward<T>(ctx_, q, batch, seq, H_, hd_, rope_theta_);
  ops::rope_forward<T>(ctx_, k, batch, seq, H_, hd_, rope_theta_);
  {
    ProfileScope scope(ProfileCategory::attention);
    ops::attention_forward<T>(ctx_, q, k, v, o, c.lse.template data<T>(), batch, seq, H_, hd_, hd_);
  }
  linear_forward<T>(o, wo_->w<T>(), y, n, inner, D_, numerics(wo_));
}

template <typename T>
void AttentionLayer<T>::backward(const T* dy, T* dx, Cache& c, WeightGradTape<T>* tape) const {
  const int64_t n = c.batch * c.seq, inner = H_ * hd_;
  ensure_shape(c.scratch, {4, n, inner}, dtype_of<T>::value);
  T* dq = c.scratch.template data<T>();
  T* dk = dq + n * inner;
  T* dv = dk + n * inner;
  T* d_o = dv + n * inner;
  linear_backward<T>(dy, c.o.template data<T>(), wo_->w<T>(), d_o, wo_->g<T>(), n, inner, D_,
                     false, numerics(wo_), tape);
  {
    ProfileScope scope(ProfileCategory::attention);
    ops::attention_backward<T>(ctx_, d_o, c.q.template data<T>(), c.k.template data<T>(), c.v.template data<T>(), c.o.template data<T>(),
                             c.lse.template data<T>(), dq, dk, dv, c.batch, c.seq, H_, hd_, hd_);
  }
  ops::rope_backward<T>(ctx_, dq, c.batch, c.seq, H_, hd_, rope_theta_);
  ops::rope_backward<T>(ctx_, dk, c.batch, c.seq, H_, hd_, rope_theta_);
  linear_backward<T>(dq, c.x, wq_->w<T>(), dx, wq_->g<T>(), n, D_, inner, false, numerics(wq_), tape);
  linear_backward<T>(dk, c.x, wk_->w<T>(), dx, wk_->g<T>(), n, D_, inner, true, numerics(wk_), tape);
  linear_backward<T>(dv, c.x, wv_->w<T>(), dx, wv_->g<T>(), n, D_, inner, true, numerics(wv_), tape);
}

template <typename T>
double AttentionLayer<T>::forward_flops_per_token(int64_t seq) const {
  const double inner = static_cast<double>(H_ * hd_);
  const double projections = 2.0 * 4.0 * static_cast<double>(D_) * inner;
  // Scores and value products over the causal half: on average (seq+1)/2 keys per query.
  const double attention = 2.0 * 2.0 * inner * (static_cast<double>(seq) + 1.0) / 2.0;
  return projections + attention;
}

template class AttentionLayer<float>;
template class AttentionLayer<double>;

}  // namespace sadari
