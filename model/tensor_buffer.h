// Grow-only scratch tensors for per-forward caches: reallocates only when the
// requested element count exceeds what the tensor already holds, so steady-state
// training does no allocation.
#pragma once

#include "core/tensor.h"

namespace sadari {

// Makes `t` a [shape] tensor of dtype, reusing its storage when large enough.
// Contents are unspecified (not zeroed) when reused.
inline void ensure_shape(Tensor& t, const Shape& shape, DType dtype) {
  int64_t need = shape_numel(shape);
  if (t.defined() && t.dtype() == dtype && t.owns_storage() && t.capacity() >= need) {
    t = t.with_shape(shape);
    return;
  }
  t = Tensor::empty(shape, dtype);
}

}  // namespace sadari
