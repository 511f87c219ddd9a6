// ShardedAdamW: ZeRO stage 1. AdamW whose fp32 master weights and moments are
// split over the ranks of one group: rank r keeps, for every bucket of a
// ParamBuckets, only shard r (see optim/param_buckets.h) of the master weights,
// m and v, updates it from its shard of the reduced gradient (what reduce_scatter
// leaves), and all-gathers the updated shards so every rank ends the step with the
// full, identical parameters.
//
// Numerics: the update is ops::adamw_update (kernels/ops.h), element-wise, so on the
// same summed gradients a sharded step gives bit-identical weights to the
// replicated AdamW; only who computes which element changes. Memory per rank:
// 3 x (parameters / group size) floats of optimizer state instead of 3 x parameters.
//
// Master weights are a separate fp32 copy (initialised from the parameters), so
// the model's copy may later become bf16 without changing this class's contract.
// The parameters' weight_decay flag is honoured per element; padding is skipped.
//
// Ownership: borrows the ParamBuckets and the group communicator; both must
// outlive it. COLLECTIVE: step() (one all_gather per bucket over the group).
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "core/config.h"
#include "core/tensor.h"
#include "kernels/exec_context.h"
#include "optim/adamw.h"
#include "optim/param_buckets.h"

namespace sadari {

class ShardedAdamW {
 public:
  // REQUIRES buckets.group_size() == group.size().
  // ctx: where the shards (master weights, moments) live and the update runs.
  ShardedAdamW(const OptimConfig& cfg, ParamBuckets& buckets, Communicator& group,
               const ExecContext& ctx = ExecContext::cpu());

  // Elements of this rank's shards, all buckets concatenated in bucket order.
  int64_t shard_elements() const { return shard_total_; }
  // Where bucket b's shard starts within the concatenated shards.
  int64_t shard_offset(size_t bucket) const { return shard_offsets_[bucket]; }

  // grad_shard: shard_elements() reduced gradients (bucket after bucket).
  // Updates this rank's master shard and moments, then all-gathers the new
  // values into the buckets' flat values (the model parameters). COLLECTIVE.
  void step(double lr, const float* grad_shard);
  int64_t steps_taken() const { return t_; }

  // [shard_elements()] f32 tensors on the context's device.
  const Tensor& master_shard() const { return master_; }
  const Tensor& first_moment_shard() const { return m_; }
  const Tensor& second_moment_shard() const { return v_; }

  // Moving optimizer state with parameters (parallel/expert_migration.h):
  // gather_moments fills m and v with the full moments in the buckets' flat
  // layout (buckets.size() floats each, padding 0) by all-gathering every rank's
  // shards (COLLECTIVE over the group); restore sets the step count, this rank's
  // moment shards from full moments in that layout and its master shard from the
  // parameters' current values (not collective).
  void gather_moments(std::vector<float>& m, std::vector<float>& v);
  void restore(int64_t steps, const float* m, const float* v);

 private:
  OptimConfig cfg_;
  ExecContext ctx_;
  ParamBuckets* buckets_;
  Communicator* group_;
  int64_t shard_total_ = 0;
  std::vector<int64_t> shard_offsets_;
  // Per bucket, this rank's shard as parameter pieces, offsets relative to the
  // start of the concatenated shards (flat_offset rewritten).
  std::vector<ParamBuckets::Segment> segments_;
  Tensor master_, m_, v_;  // this rank's shards
  int64_t t_ = 0;
};

}  // namespace sadari
