// Causal scaled-dot-product attention, multi-head.
// q, k: [batch, seq, heads, head_dim]; v, out: [batch, seq, heads, v_dim].
// Scale 1/sqrt(head_dim). lse: [batch, heads, seq], the row log-sum-exp of the
// scaled masked scores, saved by forward; backward recomputes the probabilities
// from it (no [seq, seq] tensor is kept between passes).
// Backward WRITES dq, dk, dv. Work is parallel over (batch, head) with OpenMP and
// uses GEMMs per (batch, head) for the score and value products, which then run
// single-threaded; each output element is computed by one thread in a fixed
// order, so results do not depend on the thread count.
// Temporary memory: O(64 * seq) per thread; nothing [seq, seq] is allocated.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, int64_t batch,
                       int64_t seq, int64_t heads, int64_t head_dim, int64_t v_dim);

template <typename T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, T* dq, T* dk, T* dv, int64_t batch, int64_t seq,
                        int64_t heads, int64_t head_dim, int64_t v_dim);

}  // namespace sadari::cpu
