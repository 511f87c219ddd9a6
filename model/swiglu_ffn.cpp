#include "model/swiglu_ffn.h"

#include "kernels/cpu/swiglu.h"
#include "model/linear.h"

namespace sadari {

template <typename T>
void swiglu_ffn_forward(const T* x, const T* w_gate_up, const T* w_down, T* y, T* gate_up_act,
                        T* h, int64_t n, int64_t D, int64_t F) {
  if (n == 0) return;
  linear_forward<T>(x, w_gate_up, gate_up_act, n, D, 2 * F);
  cpu::swiglu_forward<T>(gate_up_act, h, n, F);
  linear_forward<T>(h, w_down, y, n, F, D);
}

template <typename T>
void swiglu_ffn_backward(const T* dy, const T* x, const T* w_gate_up, const T* w_down,
                         const T* gate_up_act, const T* h, T* dx, T* dw_gate_up, T* dw_down,
                         T* scratch, int64_t n, int64_t D, int64_t F, bool accumulate_dx) {
  if (n == 0) return;
  T* dh = scratch;               // [n, F]
  T* dgate_up = scratch + n * F; // [n, 2F]
  linear_backward<T>(dy, h, w_down, dh, dw_down, n, F, D);
  cpu::swiglu_backward<T>(dh, gate_up_act, dgate_up, n, F);
  linear_backward<T>(dgate_up, x, w_gate_up, dx, dw_gate_up, n, D, 2 * F, accumulate_dx);
}

#define SADARI_INSTANTIATE(T)                                                                  \
  template void swiglu_ffn_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t,       \
                                      int64_t, int64_t);                                       \
  template void swiglu_ffn_backward<T>(const T*, const T*, const T*, const T*, const T*,       \
                                       const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, bool);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari
