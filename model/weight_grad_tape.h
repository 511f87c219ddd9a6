// WeightGradTape: splitting a backward pass into its input-gradient part (B) and
// its weight-gradient part (W), as zero-bubble pipeline schedules (ZB-H1,
// DualPipe) need: B runs first and unblocks the previous pipeline stage, W runs
// later to fill a bubble.
//
// While a DeferWeightGrads scope is open on a thread, the layers' weight-gradient
// products (linear layers: dW += dY^T X, the SwiGLU experts' grouped products,
// the router and head projections) are RECORDED on the tape instead of computed;
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

// The tape the current thread records on, or nullptr (compute immediately).
template <typename T>
WeightGradTape<T>* active_weight_grad_tape();

// Opens a recording scope on this thread; restores the previous one on exit.
template <typename T>
class DeferWeightGrads {
 public:
  explicit DeferWeightGrads(WeightGradTape<T>* tape);
  ~DeferWeightGrads();
  DeferWeightGrads(const DeferWeightGrads&) = delete;
  DeferWeightGrads& operator=(const DeferWeightGrads&) = delete;

 private:
  WeightGradTape<T>* previous_;
};

}  // namespace sadari
