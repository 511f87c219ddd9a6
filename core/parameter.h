// Named model parameters and their gradients (the registry the model fills and
// the optimizer updates; core so that optim/ need not include model/).
//
// Every parameter has a global name ("blocks.3.attn.wq", "blocks.5.moe.experts.12.down")
// that is the same in every parallel layout, and is initialised from the
// counter-based RNG keyed by (seed, name, element index): routed experts carry
// their logical expert id in the name, so an expert's weights do not depend on
// which rank holds it. Values and gradients are T = float or double (f64 is for
// gradient checks).
//
// Ownership: the ParameterStore owns all Parameters; layers keep raw pointers to
// the Parameters they use, valid for the store's lifetime (entries never move:
// the store holds them by unique_ptr).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sadari {

enum class Init { normal, ones, zeros };

struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;                 // same shape and dtype; accumulated by backward (+=)
  bool weight_decay = true;    // false for norm weights and the router bias
  bool trainable = true;       // false: not updated by the optimizer (router bias)
  int64_t expert_id = -1;      // logical routed-expert id, -1 for everything else

  template <typename T> T* w() const { return value.data<T>(); }
  template <typename T> T* g() const { return grad.data<T>(); }
  int64_t numel() const { return value.numel(); }
};

class ParameterStore {
 public:
  explicit ParameterStore(DType dtype) : dtype_(dtype) {}

  // Creates and initialises a parameter. `std` is used for Init::normal.
  // Throws Error if the name is already taken.
  Parameter* add(const std::string& name, Shape shape, Init init, double std, uint64_t seed,
                 bool weight_decay = true, bool trainable = true, int64_t expert_id = -1);

  Parameter* find(const std::string& name) const;  // nullptr when absent
  const std::vector<std::unique_ptr<Parameter>>& all() const { return params_; }
  DType dtype() const { return dtype_; }
  int64_t numel() const;
  void zero_grad();

 private:
  DType dtype_;
  std::vector<std::unique_ptr<Parameter>> params_;
};

}  // namespace sadari
