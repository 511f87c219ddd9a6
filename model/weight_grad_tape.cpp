#include "model/weight_grad_tape.h"

#include "core/profile.h"
#include "kernels/ops.h"

namespace sadari {

template <typename T>
void WeightGradTape<T>::run(const ExecContext& ctx) {
  if (!products_.empty()) {
    ProfileScope scope(ProfileCategory::gemm);
    ops::gemm_grouped<T>(ctx, products_.data(), static_cast<int64_t>(products_.size()));
  }
  for (auto& task : tasks_) task();
  clear();
}

template class WeightGradTape<float>;
template class WeightGradTape<double>;

}  // namespace sadari
