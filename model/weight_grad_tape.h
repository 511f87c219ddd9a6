// WeightGradTape: splitting a backward pass into its input-gradient part (B) and
// its weight-gradient part (W), as zero-bubble pipeline schedules (ZB-H1,
// DualPipe) need: B runs first and unblocks the previous pipeline stage, W runs
// later to fill a bubble.
//
// A backward given a tape (the layers' backward functions take it as their last
// argument, nullptr by default) RECORDS its weight-gradient products (linear
// layers: dW += dY^T X, the SwiGLU experts' grouped products, the router and
// head projections, the embedding's scatter) on it instead of computing them;
// run() computes them later, with exactly the arguments they would have had, so
// the gradients are bit for bit those of an unsplit backward (cpu::gemm_grouped
// is bit-identical to one gemm per problem). Whoever records must keep every
// recorded buffer (dY, X, dW) alive and unchanged until run(): the model stage
// does (model/transformer_stage.h backward_input / backward_weight).
// Norm weights' gradients are elementwise and stay in B.
//
// Not thread-safe: one tape per micro-batch cache, used by one thread.
#pragma once

#include <functional>
#include <vector>

#include "kernels/exec_context.h"
#include "kernels/gemm_problem.h"

namespace sadari {

template <typename T>
class WeightGradTape {
 public:
  void record(const GemmProblem<T>& product) { products_.push_back(product); }
  void record(std::function<void()> task) { tasks_.push_back(std::move(task)); }
  // Computes everything recorded, in recording order (products first, then tasks;
  // they write disjoint gradients), and empties the tape. The products run as
  // one grouped GEMM on ctx (kernels/ops.h).
  void run(const ExecContext& ctx = ExecContext::cpu());
  bool empty() const { return products_.empty() && tasks_.empty(); }
  void clear() {
    products_.clear();
    tasks_.clear();
  }

 private:
  std::vector<GemmProblem<T>> products_;
  std::vector<std::function<void()>> tasks_;
};

}  // namespace sadari
