// The layout search: every layout the runtime can run for a model on a number of
// GPUs, estimated by the cost model (cost_model.h) and ranked by predicted time
// per optimizer step among the layouts that fit in memory.
//
// What is enumerated (world = the GPUs planned for; see SearchOptions::gpus):
//   pp           every divisor of world whose pipeline has <= model.layers stages
//   dp           world / pp
//   ep           every divisor of dp that also divides model.experts (1 only for a
//                model without MoE layers)
//   micro_batch  every divisor of global_batch / dp (dp must divide global_batch);
//                microbatches = global_batch / (dp x micro_batch)
//   schedule     pp = 1: "1f1b" only (one stage: every schedule is the same);
//                pp > 1: gpipe, 1f1b, interleaved (chunks 2), zb-h1, dualpipe
//                (chunks 2, even pp), dualpipev (chunks 2)
//   zero_stage   0 and 1
//   recompute    off, and on unless SearchOptions::allow_recompute is false
// Each candidate is checked with layout_problem (and SearchOptions::extra_problem);
// rejected candidates are counted, not estimated.
//
// Choice: the search plans for exactly `gpus` GPUs, by default the whole cluster
// (a booked cluster is paid for whole; a layout on fewer GPUs would leave some
// idle). Plan for fewer GPUs with SearchOptions::gpus (`sadari plan --gpus N`,
// and `parallel: auto`, which plans for the running world size).
//
// Ranking: Estimate::time.step ascending; ties (equal to the last bit) broken by
// lower memory, then by Layout::describe(), so the order is deterministic and every
// rank of a job computes the same winner without communicating.
//
// Pure computation: no I/O. Errors: search_layouts throws Error when `gpus` is not
// in [1, cluster.gpus()]; best_plan throws Error when no layout fits (naming the
// closest layout and its memory overshoot) or none is valid at all (naming why).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"

namespace sadari {

// The pipeline schedules the runtime executes, in the order they are tried.
const std::vector<std::string>& pipeline_schedule_names();

struct SearchOptions {
  int64_t gpus = 0;              // GPUs to plan for; 0: cluster.gpus()
  int64_t top = 5;               // fitting layouts kept, fastest first
  bool allow_recompute = true;   // also try recomputing activations in the backward
  // An extra check a caller applies on top of layout_problem (e.g. what this
  // build's trainer can run); returns why the layout is rejected, or "".
  std::function<std::string(const Layout&)> extra_problem;
};

struct SearchResult {
  int64_t gpus = 0;                 // world size planned for
  std::vector<Estimate> best;       // fitting layouts, fastest first, at most options.top
  std::optional<Estimate> closest;  // the non-fitting layout with the smallest overshoot
  int64_t enumerated = 0;           // candidates generated
  int64_t rejected = 0;             // failed layout_problem or extra_problem
  int64_t estimated = 0;            // estimate() calls (enumerated - rejected)
  int64_t fitting = 0;              // estimated layouts that fit in memory
  std::string first_rejection;      // one rejection reason, for messages ("" if none)
};

// Every candidate layout as listed above (not yet checked with layout_problem).
// REQUIRES: 1 <= gpus.
std::vector<Layout> enumerate_layouts(const ModelConfig& model, const Workload& work, int64_t gpus,
                                      bool allow_recompute = true);

// Enumerates, checks, estimates and ranks. Throws Error for a bad options.gpus.
SearchResult search_layouts(const ModelConfig& model, const ClusterSpec& cluster,
                            const Workload& work, const SearchOptions& options = {});

// The fastest fitting layout. Throws Error when there is none: "no plan fits"
// with the closest layout and its overshoot in GB over the GPU's memory, or, when
// no layout was valid, why (global batch not divisible, ...).
const Estimate& best_plan(const SearchResult& result, const ModelConfig& model,
                          const ClusterSpec& cluster, const Workload& work);

// True when `a` ranks before `b` (the order described in the header comment).
bool ranks_before(const Estimate& a, const Estimate& b);

}  // namespace sadari
