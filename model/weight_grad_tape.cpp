#include "model/weight_grad_tape.h"

#include "core/profile.h"
#include "kernels/ops.h"

namespace sadari {

namespace {
template <typename T>
WeightGradTape<T>*& current_tape() {
  thread_local WeightGradTape<T>* tape = nullptr;
  return tape;
}
}  // namespace

template <typename T>
void WeightGradTape<T>::run(const ExecContext& ctx) {
  if (!products_.empty()) {
    ProfileScope scope(ProfileCategory::gemm);
    ops::gemm_grouped<T>(ctx, products_.data(), static_cast<int64_t>(products_.size()));
  }
  for (auto& task : tasks_) task();
  clear();
}

template <typename T>
WeightGradTape<T>* active_weight_grad_tape() {
  return current_tape<T>();
}

template <typename T>
DeferWeightGrads<T>::DeferWeightGrads(WeightGradTape<T>* tape) : previous_(current_tape<T>()) {
  current_tape<T>() = tape;
}

template <typename T>
DeferWeightGrads<T>::~DeferWeightGrads() {
  current_tape<T>() = previous_;
}

template class WeightGradTape<float>;
template class WeightGradTape<double>;
template WeightGradTape<float>* active_weight_grad_tape<float>();
template WeightGradTape<double>* active_weight_grad_tape<double>();
template class DeferWeightGrads<float>;
template class DeferWeightGrads<double>;

}  // namespace sadari
