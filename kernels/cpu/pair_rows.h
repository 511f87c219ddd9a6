// The per-token arithmetic of combining expert outputs, shared by every token
// dispatcher (model/token_dispatcher.h, parallel/expert_parallel_dispatcher.h,
// through kernels/ops.h) so that the local and the expert-parallel one compute
// the same sums in the same order.
//
// A "pair" is one (token t, slot j) choice of the router, index t*k + j.
// row_of_pair[t*k + j] is the row of that pair's data in `rows` ([*, D]), or -1
// when the pair was dropped (capacity): a dropped pair contributes nothing and
// gets zero gradient. Each token's k slots are visited in slot order, one thread
// per token, so results do not depend on the thread count.
//
// REQUIRES: no two pairs share a row (combine_pairs_backward writes rows of
// d_rows per pair from different threads).
#pragma once

#include <cstdint>

namespace sadari::cpu {

// y_t += sum_j weight[t,j] * rows[row_of_pair[t,j]]   (y: [n, D])
template <typename T>
void combine_pairs(const T* rows, const int64_t* row_of_pair, const T* weight, T* y, int64_t n,
                   int64_t k, int64_t D);

// The backward of combine_pairs for dy: [n, D]:
//   d_rows[row_of_pair[t,j]] = weight[t,j] * dy_t        (WRITTEN; dropped pairs skipped)
//   d_weight[t,j] = <dy_t, rows[row_of_pair[t,j]]>        (0 for dropped pairs)
template <typename T>
void combine_pairs_backward(const T* dy, const T* rows, const int64_t* row_of_pair,
                            const T* weight, T* d_rows, T* d_weight, int64_t n, int64_t k,
                            int64_t D);

// dx_t += sum_j rows[row_of_pair[t,j]]   (the backward of copying each token's
// input to its k pairs; dx: [n, D])
template <typename T>
void sum_pair_rows(const T* rows, const int64_t* row_of_pair, T* dx, int64_t n, int64_t k,
                   int64_t D);

// out[i, :] = src[index[i] / stride, :] for i < count, rows of D: the dispatch
// permutation (stride k maps a pair to its token). One row copy per i, rows
// split across threads (a copy: the same bits for any split).
template <typename T>
void gather_rows(const T* src, const int64_t* index, int64_t stride, T* out, int64_t count,
                 int64_t D);
// out[index[i], :] = src[i / stride, :] for i < count with index[i] >= 0 (a
// negative index skips i: a dropped pair). REQUIRES: no two i share an index.
template <typename T>
void scatter_rows(const T* src, const int64_t* index, int64_t stride, T* out, int64_t count,
                  int64_t D);

}  // namespace sadari::cpu
