#include "model/linear.h"

#include "core/profile.h"
#include "kernels/cpu/gemm.h"
#include "model/weight_grad_tape.h"

namespace sadari {

template <typename T>
void linear_forward(const T* x, const T* W, T* y, int64_t n, int64_t in, int64_t out) {
  if (n == 0) return;
  ProfileScope scope(ProfileCategory::gemm);
  cpu::matmul<T>(false, true, n, out, in, x, W, y);
}

template <typename T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx) {
  if (n == 0) return;
  ProfileScope scope(ProfileCategory::gemm);
  if (dx) cpu::matmul<T>(false, false, n, in, out, dy, W, dx, accumulate_dx ? T(1) : T(0));
  if (!dW) return;
  // dW += dy^T x: now, or recorded for a later weight-gradient pass.
  if (WeightGradTape<T>* tape = active_weight_grad_tape<T>())
    tape->record(cpu::GemmProblem<T>{true, false, out, in, n, T(1), dy, out, x, in, T(1), dW, in});
  else
    cpu::matmul<T>(true, false, out, in, n, dy, x, dW, T(1));
}

template void linear_forward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t);
template void linear_forward<double>(const double*, const double*, double*, int64_t, int64_t,
                                     int64_t);
template void linear_backward<float>(const float*, const float*, const float*, float*, float*,
                                     int64_t, int64_t, int64_t, bool);
template void linear_backward<double>(const double*, const double*, const double*, double*,
                                      double*, int64_t, int64_t, int64_t, bool);

}  // namespace sadari
