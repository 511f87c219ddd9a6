// Helpers for the data-parallel tests (tests/mpi/dp_*): parameter stores with
// awkward sizes and gradients whose sums over ranks are exact in f32, so a
// bucketed reduction can be compared bit for bit with per-parameter sums
// computed serially (whatever order the MPI library adds in).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parameter.h"

namespace sadari::dp_test {

// Sizes chosen to straddle 16-element alignment, shard and bucket boundaries.
inline const std::vector<Shape>& awkward_shapes() {
  static const std::vector<Shape> shapes = {{3},     {17, 5},  {64},   {1},
                                            {33, 7}, {128, 3}, {5, 5}, {250}};
  return shapes;
}

// A store of awkward_shapes() parameters named p0, p1, ... (every third without
// weight decay), initialised from `seed`: the same values on every rank.
inline ParameterStore make_store(uint64_t seed) {
  ParameterStore store(DType::f32);
  const auto& shapes = awkward_shapes();
  for (size_t i = 0; i < shapes.size(); ++i)
    store.add(detail::cat("p", i), shapes[i], Init::normal, 0.5, seed,
              /*weight_decay=*/i % 3 != 2);
  return store;
}

// Gradient element `i` of parameter `param` on rank `rank` for step `step`:
// multiples of 1/64 of size < 8, so any sum of a few ranks' values is exact.
inline float exact_grad(size_t param, int64_t i, int rank, int step = 0) {
  const int64_t h = (static_cast<int64_t>(param) * 131 + i * 31 + rank * 17 + step * 7) % 97;
  return static_cast<float>(h - 48) / 64.0f;
}

inline void fill_grads(ParameterStore& store, int rank, int step = 0) {
  const auto& ps = store.all();
  for (size_t p = 0; p < ps.size(); ++p)
    for (int64_t i = 0; i < ps[p]->numel(); ++i)
      ps[p]->g<float>()[i] = exact_grad(p, i, rank, step);
}

// The sum over ranks 0..ranks-1, computed here in one fixed order.
inline float summed_grad(size_t param, int64_t i, int ranks, int step = 0) {
  float s = 0;
  for (int r = 0; r < ranks; ++r) s += exact_grad(param, i, r, step);
  return s;
}

}  // namespace sadari::dp_test
