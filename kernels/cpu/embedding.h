// Token embedding lookup: out[i, :] = table[ids[i], :], table: [vocab, dim].
// Backward ACCUMULATES dtable[ids[i], :] += dout[i, :] in a deterministic order
// (independent of thread count: positions are grouped by id, and each row of
// dtable receives its gradients in increasing position order). ids must lie in
// [0, vocab): forward and backward check and throw Error naming the offending id
// and its position.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void embedding_forward(const int32_t* ids, const T* table, T* out, int64_t n, int64_t vocab,
                       int64_t dim);

template <typename T>
void embedding_backward(const int32_t* ids, const T* dout, T* dtable, int64_t n, int64_t vocab,
                        int64_t dim);

}  // namespace sadari::cpu
