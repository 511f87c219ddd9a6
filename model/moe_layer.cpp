#include "model/moe_layer.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/grow.h"
#include "core/profile.h"
#include "kernels/ops.h"
#include "model/linear.h"
#include "model/swiglu_ffn.h"

namespace sadari {

namespace {

// The model's routing options plus the node limit the dispatcher asks for.
template <typename T>
RouterOptions routing_options(const ModelConfig& cfg, const TokenDispatcher<T>* dispatcher) {
  RouterOptions o = RouterOptions::from(cfg);
  if (dispatcher && dispatcher->max_nodes_per_token() > 0) {
    o.max_nodes = dispatcher->max_nodes_per_token();
    o.expert_node = dispatcher->expert_nodes();
    o.validate();
  }
  return o;
}

}  // namespace

template <typename T>
MoELayer<T>::MoELayer(const ModelConfig& cfg, int64_t layer, ParameterStore& params,
                      uint64_t seed, TokenDispatcher<T>* dispatcher,
                      ComputePrecision precision, const ExecContext& ctx)
    : layer_(layer),
      D_(cfg.hidden),
      E_(cfg.experts),
      K_(cfg.top_k),
      F_(cfg.moe_ffn_hidden),
      S_(cfg.shared_experts * cfg.moe_ffn_hidden),
      aux_alpha_(cfg.aux_loss_alpha),
      bias_speed_(cfg.bias_update_speed),
      precision_(precision),
      ctx_(ctx),
      router_(routing_options<T>(cfg, dispatcher), ctx),
      dispatcher_(dispatcher) {
  const std::string prefix = "blocks." + std::to_string(layer) + ".moe.";
  SADARI_CHECK(params.dtype() == dtype_of<T>::value, "MoE layer ", layer, ": parameter store is ",
               dtype_name(params.dtype()), ", layer computes in ", dtype_name(dtype_of<T>::value));
  if (D_ < 1) fail(detail::cat("hidden = ", D_, " must be >= 1"), "model.hidden");
  if (F_ < 1) fail(detail::cat("moe_ffn_hidden = ", F_, " must be >= 1"), "model.moe_ffn_hidden");
  if (cfg.shared_experts < 0)
    fail(detail::cat("shared_experts = ", cfg.shared_experts, " must be >= 0"),
         "model.shared_experts");
  if (aux_alpha_ < 0)
    fail(detail::cat("aux_loss_alpha = ", aux_alpha_, " must be >= 0"), "model.aux_loss_alpha");
  if (bias_speed_ < 0)
    fail(detail::cat("bias_update_speed = ", bias_speed_, " must be >= 0"),
         "model.bias_update_speed");

  if (!dispatcher_) {
    owned_dispatcher_ =
        std::make_unique<LocalTokenDispatcher<T>>(E_, DispatchWire::for_precision(precision), ctx);
    dispatcher_ = owned_dispatcher_.get();
  }
  SADARI_CHECK(dispatcher_->experts() == E_, "MoE layer ", layer, ": dispatcher routes over ",
               dispatcher_->experts(), " experts, model has ", E_, " (model.experts)");
  const std::vector<int64_t>& local_ids = dispatcher_->local_expert_ids();
  {
    // Distinct ids in range: each local slot gets its own parameters, named by the id.
    std::vector<uint8_t> seen(static_cast<size_t>(E_), 0);
    for (size_t j = 0; j < local_ids.size(); ++j) {
      const int64_t e = local_ids[j];
      SADARI_CHECK(e >= 0 && e < E_ && !seen[e], "MoE layer ", layer, ": dispatcher's local slot ",
                   j, " holds expert ", e, ", which is outside [0, ", E_,
                   ") or already held by another local slot");
      seen[e] = 1;
    }
  }

  const double std = cfg.init_std;
  router_weight_ = params.add(prefix + "router.weight", {E_, D_}, Init::normal, std, seed,
                              /*weight_decay=*/true, /*trainable=*/true);
  router_bias_ = params.add(prefix + "router.bias", {E_}, Init::zeros, 0.0, seed,
                            /*weight_decay=*/false, /*trainable=*/false);
  for (const int64_t e : local_ids) {
    const std::string ep = prefix + "experts." + std::to_string(e) + ".";
    expert_gate_up_.push_back(
        params.add(ep + "gate_up", {2 * F_, D_}, Init::normal, std, seed, true, true, e));
    expert_down_.push_back(
        params.add(ep + "down", {D_, F_}, Init::normal, std, seed, true, true, e));
  }
  if (S_ > 0) {
    shared_gate_up_ = params.add(prefix + "shared.gate_up", {2 * S_, D_}, Init::normal, std, seed);
    shared_down_ = params.add(prefix + "shared.down", {D_, S_}, Init::normal, std, seed);
  }
}

template <typename T>
double MoELayer<T>::forward(const T* x, T* y, int64_t n, int64_t seq, Cache& c) const {
  SADARI_CHECK(n >= 0 && seq > 0 && n % seq == 0, "MoE layer ", layer_, ": ", n,
               " tokens are not whole sequences of length ", seq);
  c.x = x;
  c.n = n;
  c.seq = seq;

  // Router: logits by one GEMM, then scores, selection and gate weights.
  grow(c.router.logits, n * E_);
  linear_forward<T>(x, router_weight_->w<T>(), c.router.logits.data(), n, D_, E_,
                    router_numerics());
  if (!c.dispatch) c.dispatch = dispatcher_->make_state();
  DispatchState<T>& ds = *c.dispatch;
  {
    // Routing bookkeeping: scores, top-k, aux loss, permutation into expert rows.
    ProfileScope scope(ProfileCategory::moe_routing);
    router_.route(router_bias_->w<T>(), n, c.router);
    c.aux_loss = 0.0;
    if (aux_alpha_ > 0)
      c.aux_loss = seq_aux_loss_forward<T>(c.router.scores.data(), c.router.expert.data(), n,
                                           seq, E_, K_, aux_alpha_, c.aux_f, ctx_);
    dispatcher_->dispatch(x, c.router.expert.data(), n, K_, D_, ds);
  }

  // Local experts: expert j's rows are contiguous, so it is one SwiGLU (two GEMMs
  // and the gate) on a slice; the shared experts are one more SwiGLU on all tokens,
  // writing y, which combine then adds the routed part to. All of them run as one
  // group: each phase's GEMMs in one grouped GEMM (see swiglu_ffn.h), bit for bit
  // the same as one SwiGLU call after another. Experts without rows are skipped.
  const int64_t R = ds.num_rows();
  grow(c.expert_out, R * D_);
  grow(c.expert_act, R * 2 * F_);
  grow(c.expert_h, R * F_);
  std::vector<SwigluFfnMember<T>> group;
  group.reserve(expert_gate_up_.size() + 1);
  for (size_t j = 0; j < expert_gate_up_.size(); ++j) {
    const int64_t off = ds.local_offsets[j];
    SwigluFfnMember<T> m;
    m.n = ds.local_counts[j];
    m.F = F_;
    m.x = ds.rows.data() + off * D_;
    m.w_gate_up = expert_gate_up_[j]->w<T>();
    m.w_down = expert_down_[j]->w<T>();
    m.y = c.expert_out.data() + off * D_;
    m.gate_up_act = c.expert_act.data() + off * 2 * F_;
    m.h = c.expert_h.data() + off * F_;
    m.numerics = {precision_, expert_gate_up_[j]->name, expert_down_[j]->name, ctx_};
    group.push_back(m);
  }
  if (S_ > 0) {
    grow(c.shared_act, n * 2 * S_);
    grow(c.shared_h, n * S_);
    SwigluFfnMember<T> m;
    m.n = n;
    m.F = S_;
    m.x = x;
    m.w_gate_up = shared_gate_up_->w<T>();
    m.w_down = shared_down_->w<T>();
    m.y = y;
    m.gate_up_act = c.shared_act.data();
    m.h = c.shared_h.data();
    m.numerics = {precision_, shared_gate_up_->name, shared_down_->name, ctx_};
    group.push_back(m);
  } else if (n > 0) {
    std::memset(y, 0, sizeof(T) * n * D_);
  }
  swiglu_ffn_forward_grouped<T>(group.data(), static_cast<int64_t>(group.size()), D_);
  {
    ProfileScope scope(ProfileCategory::moe_routing);
    dispatcher_->combine(c.expert_out.data(), c.router.weight.data(), y, ds);
  }
  return c.aux_loss;
}

template <typename T>
void MoELayer<T>::backward(const T* dy, T* dx, Cache& c, T aux_grad_scale,
                           WeightGradTape<T>* tape) const {
  SADARI_CHECK(c.dispatch != nullptr && c.x != nullptr,
               "MoE layer ", layer_, ": backward without a forward on this cache");
  const int64_t n = c.n;
  DispatchState<T>& ds = *c.dispatch;
  const int64_t R = ds.num_rows();

  // Combine backward: gradients for the expert outputs and the gate weights.
  grow(c.d_weight, n * K_);
  grow(c.d_expert_out, R * D_);
  grow(c.d_rows, R * D_);
  {
    ProfileScope scope(ProfileCategory::moe_routing);
    dispatcher_->combine_backward(dy, c.expert_out.data(), c.router.weight.data(),
                                  c.d_expert_out.data(), c.d_weight.data(), ds);
  }

  // Experts and shared experts backward, as one group (see forward). dx is
  // written by the shared experts' input gradient; the router's and the routed
  // experts' contributions are added below in a fixed order.
  // Scratch: routed dh [R, F], dgate_up [R, 2F], then shared dh [n, S], dgate_up [n, 2S].
  grow(c.scratch, R * 3 * F_ + n * 3 * S_);
  T* routed_dh = c.scratch.data();
  T* routed_dgu = routed_dh + R * F_;
  T* shared_dh = routed_dgu + R * 2 * F_;
  T* shared_dgu = shared_dh + n * S_;
  std::vector<SwigluFfnMember<T>> group;
  group.reserve(expert_gate_up_.size() + 1);
  for (size_t j = 0; j < expert_gate_up_.size(); ++j) {
    const int64_t off = ds.local_offsets[j];
    SwigluFfnMember<T> m;
    m.n = ds.local_counts[j];  // 0: the gradient stays as it was (no contribution)
    m.F = F_;
    m.x = ds.rows.data() + off * D_;
    m.w_gate_up = expert_gate_up_[j]->w<T>();
    m.w_down = expert_down_[j]->w<T>();
    m.gate_up_act = c.expert_act.data() + off * 2 * F_;
    m.h = c.expert_h.data() + off * F_;
    m.dy = c.d_expert_out.data() + off * D_;
    m.dx = c.d_rows.data() + off * D_;
    m.dw_gate_up = expert_gate_up_[j]->g<T>();
    m.dw_down = expert_down_[j]->g<T>();
    m.dh = routed_dh + off * F_;
    m.dgate_up = routed_dgu + off * 2 * F_;
    m.numerics = {precision_, expert_gate_up_[j]->name, expert_down_[j]->name, ctx_};
    group.push_back(m);
  }
  if (S_ > 0) {
    SwigluFfnMember<T> m;
    m.n = n;
    m.F = S_;
    m.x = c.x;
    m.w_gate_up = shared_gate_up_->w<T>();
    m.w_down = shared_down_->w<T>();
    m.gate_up_act = c.shared_act.data();
    m.h = c.shared_h.data();
    m.dy = dy;
    m.dx = dx;
    m.dw_gate_up = shared_gate_up_->g<T>();
    m.dw_down = shared_down_->g<T>();
    m.dh = shared_dh;
    m.dgate_up = shared_dgu;
    m.numerics = {precision_, shared_gate_up_->name, shared_down_->name, ctx_};
    group.push_back(m);
  } else if (n > 0) {
    std::memset(dx, 0, sizeof(T) * n * D_);
  }
  swiglu_ffn_backward_grouped<T>(group.data(), static_cast<int64_t>(group.size()), D_, tape);

  // Router: gate-weight gradient (+ aux loss) -> logits -> W_r and x.
  grow(c.d_logits, n * E_);
  {
    ProfileScope scope(ProfileCategory::moe_routing);
    const T* d_scores_extra = nullptr;
    if (aux_alpha_ > 0 && aux_grad_scale != T(0)) {
      grow(c.d_aux_scores, n * E_);
      std::fill(c.d_aux_scores.begin(), c.d_aux_scores.begin() + n * E_, T(0));
      seq_aux_loss_backward<T>(c.router.scores.data(), c.aux_f, n, c.seq, E_, aux_alpha_,
                               static_cast<double>(aux_grad_scale), c.d_aux_scores.data(), ctx_);
      d_scores_extra = c.d_aux_scores.data();
    }
    router_.backward(c.d_weight.data(), d_scores_extra, c.router, c.d_logits.data());
  }
  linear_backward<T>(c.d_logits.data(), c.x, router_weight_->w<T>(), dx, router_weight_->g<T>(), n,
                     D_, E_, /*accumulate_dx=*/true, router_numerics(), tape);

  {
    ProfileScope scope(ProfileCategory::moe_routing);
    dispatcher_->dispatch_backward(c.d_rows.data(), dx, ds);
  }
}

template <typename T>
const std::vector<int64_t>& MoELayer<T>::expert_counts(const Cache& c) const {
  SADARI_CHECK(c.dispatch != nullptr, "MoE layer ", layer_,
               ": expert counts asked of a cache without a forward");
  return c.dispatch->tokens_per_expert;
}

template <typename T>
int64_t MoELayer<T>::dropped_pairs(const Cache& c) const {
  SADARI_CHECK(c.dispatch != nullptr, "MoE layer ", layer_,
               ": dropped pairs asked of a cache without a forward");
  return c.dispatch->dropped_pairs;
}

template <typename T>
void MoELayer<T>::update_bias(const int64_t* counts) {
  if (bias_speed_ == 0.0) return;
  ops::update_router_bias<T>(ctx_, counts, E_, static_cast<T>(bias_speed_), router_bias_->w<T>());
}

template <typename T>
void MoELayer<T>::set_dispatcher(TokenDispatcher<T>& d) {
  const std::vector<int64_t>& ids = d.local_expert_ids();
  SADARI_CHECK(d.experts() == E_ && ids.size() == expert_gate_up_.size(), "MoE layer ", layer_,
               ": the new dispatcher has ", ids.size(), " local slots over ", d.experts(),
               " experts; the layer has ", expert_gate_up_.size(), " slots over ", E_);
  std::vector<uint8_t> seen(static_cast<size_t>(E_), 0);
  for (size_t j = 0; j < ids.size(); ++j) {
    const int64_t e = ids[j];
    SADARI_CHECK(e >= 0 && e < E_ && !seen[e], "MoE layer ", layer_, ": new local slot ", j,
                 " holds expert ", e, ", outside [0, ", E_, ") or held by another local slot");
    seen[e] = 1;
  }
  const std::string prefix = "blocks." + std::to_string(layer_) + ".moe.experts.";
  for (size_t j = 0; j < ids.size(); ++j) {
    const std::string ep = prefix + std::to_string(ids[j]) + ".";
    expert_gate_up_[j]->name = ep + "gate_up";
    expert_gate_up_[j]->expert_id = ids[j];
    expert_down_[j]->name = ep + "down";
    expert_down_[j]->expert_id = ids[j];
  }
  if (d.max_nodes_per_token() > 0) {
    RouterOptions o = router_.options();
    o.max_nodes = d.max_nodes_per_token();
    o.expert_node = d.expert_nodes();
    o.validate();
    router_ = Router<T>(o);
  }
  dispatcher_ = &d;
  owned_dispatcher_.reset();
}

template class MoELayer<float>;
template class MoELayer<double>;

}  // namespace sadari
