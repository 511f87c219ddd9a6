// Checkpoints of a training run: which rank writes which pieces of the model and
// optimizer state, and loading them back into any layout.
//
// Logical tensors (the same in every layout; checkpoint/ knows nothing else):
//   param/<name>    every parameter (router biases included), f32, full shape;
//                   with f32 training these are also the master weights;
//   adam_m/<name>, adam_v/<name>   AdamW moments of every trainable parameter.
//   rebalance/placement/<block>, rebalance/ema/<block>   online rebalancing's
//                   per-layer placement (i64 [ep, slots]) and load EMA (f64 [E]).
// Manifest counters: step (optimizer steps done), samples_consumed.
//
// Who writes (each element exactly once, checked by the writer):
//   parameters and ZeRO-0 moments: dense ones by dp rank 0 of their pp stage;
//   routed experts by the first replica holder (lowest ep rank) in edp group 0;
//   ZeRO-1 moments: every rank its own shards (the shards of a reduction group
//   partition its parameters);
//   DualPipe (every stage on two pp ranks): only the copy on the rank whose
//   first chunk is that stage.
// Loading (any layout, any ZeRO stage, any expert placement): every rank reads
// the full values of the parameters it holds and the moments of its parameters
// (ZeRO-1: its group's moments, then keeps its shards), so a checkpoint loads
// into another dp/ep/pp/zero layout: resharding is reading other ranges.
//
// Resume is exact: data order, learning rate and everything else are functions
// of the step, and the state that is not (weights, moments, router biases, step)
// is restored bit for bit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/expert_rebalancer.h"
#include "comm/process_groups.h"
#include "core/config.h"
#include "core/parameter.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/stage_partition.h"

namespace sadari {

struct CheckpointScope {
  const Config* cfg = nullptr;
  Communicator* world = nullptr;
  ProcessGroups* groups = nullptr;
  ParameterStore* params = nullptr;
  DistributedOptimizer* optimizer = nullptr;
  DistributedOptimizer::PlacementOf placement_of;  // nullptr: no replicated experts
  // DualPipe: the stages of the pipeline; this rank writes only stage pp.rank().
  std::vector<StageLayers> dualpipe_stages;
  // Online rebalancing: its placements and load EMAs are saved (by world rank 0)
  // and restored before the weights are loaded. nullptr: none.
  ExpertRebalancer* rebalancer = nullptr;
};

// Saves after `steps_done` optimizer steps into cfg.checkpoint.dir (keeping
// cfg.checkpoint.keep). COLLECTIVE over world. Throws Error (same on every rank).
std::string save_training_checkpoint(const CheckpointScope& scope, int64_t steps_done);

// Where `resume` points: "latest" -> cfg.checkpoint.dir; anything else as given.
std::string resume_path(const Config& cfg, const std::string& resume);

// Loads the checkpoint at `path` (directory or root) into the scope's
// parameters and optimizer; returns the steps it had done. Refuses (Error naming
// the key or tensor) a checkpoint whose model config or tensor shapes differ.
// Every rank reads what it needs; no communication, except that with online
// rebalancing the experts first move to the saved placements (COLLECTIVE over dp).
int64_t load_training_checkpoint(const CheckpointScope& scope, const std::string& path);

}  // namespace sadari
