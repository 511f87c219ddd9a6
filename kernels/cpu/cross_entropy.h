// Softmax cross-entropy over logits: [n, vocab] with integer targets: [n].
// Targets equal to kIgnoreTarget (-1) contribute nothing and are not counted.
// Forward returns the SUM of per-token losses (double accumulation) and writes the
// per-row log-sum-exp into lse: [n] for backward; count receives the number of
// counted targets (count may be null). lse is written for every row, ignored ones
// included. Any other target outside [0, vocab) throws Error naming it and its row.
// The sum over rows is taken in row order, independent of the thread count.
// Backward WRITES dlogits = scale * (softmax(logits) - onehot(target)) per counted
// row, zero for ignored rows; pass scale = 1 / (tokens in the global batch) for a mean.
#pragma once
#include <cstdint>

namespace sadari::cpu {

inline constexpr int32_t kIgnoreTarget = -1;

template <typename T>
double cross_entropy_forward(const T* logits, const int32_t* targets, T* lse, int64_t n,
                             int64_t vocab, int64_t* count);

template <typename T>
void cross_entropy_backward(const T* logits, const int32_t* targets, const T* lse, T* dlogits,
                            int64_t n, int64_t vocab, T scale);

}  // namespace sadari::cpu
