// GradientSync: sums the gradients of one ParamBuckets over its process group,
// one collective per bucket (never one per parameter).
//
// Gradients are SUMMED, not averaged: the trainer scales each rank's loss by
// 1 / (tokens of the GLOBAL batch), so the sum over ranks is exactly the
// one-process gradient of the global batch. This also means expert gradients
// are never scaled by ep: an expert's rows already arrive from every rank of its
// ep group, and the edp sum adds the other ep groups' tokens, once each.
//
// Modes:
//   all_reduce     (zero_stage 0) every bucket is all-reduced in place: every
//                  rank's parameter gradients become the global sums.
//   reduce_scatter (zero_stage 1) rank r receives the sums of shard r of every
//                  bucket in grad_shard() (buckets concatenated, as ShardedAdamW
//                  expects); the parameter gradients are left unreduced.
//
// owned_sum_squares(): the squared L2 norm of the reduced gradient restricted to
// this rank's shards. The shards of a group partition its buckets, so summing it
// over the group counts every element exactly once; summed over the dp group for
// the dense buckets (dp) and the expert buckets (edp: ep groups hold different
// experts, edp ranks different shards) it gives the global norm with no element
// counted twice (see DistributedOptimizer).
//
// The sums and the scaling run through the compute interface (kernels/ops.h) on
// `ctx`, where the shard lives.
// Ownership: borrows buckets and group (both must outlive it).
// COLLECTIVE over the group: reduce().
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "core/tensor.h"
#include "kernels/exec_context.h"
#include "optim/param_buckets.h"

namespace sadari {

class GradientSync {
 public:
  enum class Mode { all_reduce, reduce_scatter };

  // REQUIRES buckets.group_size() == group.size().
  GradientSync(ParamBuckets& buckets, Communicator& group, Mode mode,
               const ExecContext& ctx = ExecContext::cpu());

  Mode mode() const { return mode_; }
  // COLLECTIVE. Reduces the gradients currently in the buckets.
  void reduce();
  // reduce_scatter mode: this rank's summed shards (buckets concatenated).
  float* grad_shard() { return shard_.defined() ? shard_.data<float>() : nullptr; }
  int64_t shard_elements() const { return shard_.defined() ? shard_.numel() : 0; }

  // After reduce(): sum of squares of this rank's shards of the reduced gradient
  // (double accumulation, fixed order).
  double owned_sum_squares() const;
  // After reduce(): multiplies the reduced gradients this rank will use by
  // factor (all of them in all_reduce mode, the shards in reduce_scatter mode).
  void scale(float factor);

 private:
  // The buckets' gradients [begin, begin + count) as a tensor view.
  Tensor grads_view(int64_t begin, int64_t count) const;

  ParamBuckets* buckets_;
  Communicator* group_;
  Mode mode_;
  ExecContext ctx_;
  Tensor shard_;  // reduce_scatter mode only: [shard elements] f32 on ctx_.device
};

}  // namespace sadari
