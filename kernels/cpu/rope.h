// Rotary position embedding, in place, on x: [batch, seq, heads, head_dim] with
// rotate-half pairing (element i pairs with i + head_dim/2, as in Llama/DeepSeek).
// Position of token t is t (sequences start at position 0). head_dim is even.
// Backward applies the inverse rotation to the gradient, in place.
// Angles (position * theta^(-2i/head_dim)) and their cos/sin are computed in double.
// Throws Error if head_dim is odd or not positive, or theta <= 0.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void rope_forward(T* x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta);

template <typename T>
void rope_backward(T* dx, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                   double theta);

}  // namespace sadari::cpu
