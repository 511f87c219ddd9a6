// How a run's experts are spread over the ep group: the placement and the
// expert-parallel dispatcher the MoE layers use (parallel/expert_parallel_dispatcher.h).
//
// With ep = 1, no capacity limit and no node limit the model's local dispatcher
// does the same arithmetic without the exchange machinery: `dispatcher` stays
// null. Node-limited routing needs the node size: parallel.ranks_per_node, or
// the launcher's ranks per node when that is 0 (resolved into `parallel`). The
// placement is the identity, or with parallel.expert_slots the round robin of
// ExpertPlacement::round_robin (replicas of experts 0, 1, ... in the extra
// slots) until online rebalancing has load statistics.
//
// Ownership: the dispatcher borrows groups.ep and the placement held here, so
// keep the ExpertSetup (at a fixed address: it is not movable once made) and
// the groups alive as long as the model that uses the dispatcher.
// No communication.
#pragma once

#include <memory>
#include <optional>

#include "comm/process_groups.h"
#include "core/config.h"
#include "model/compute_precision.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "parallel/expert_placement.h"

namespace sadari {

struct ExpertSetup {
  std::optional<ExpertPlacement> placement;
  std::unique_ptr<ExpertParallelDispatcher<float>> dispatcher;
  ParallelConfig parallel;  // cfg.parallel with ranks_per_node resolved
};

std::unique_ptr<ExpertSetup> make_expert_setup(const Config& cfg, ProcessGroups& groups);

// train.precision, parsed (the schema has checked the value; errors name the key anyway).
ComputePrecision precision_of(const Config& cfg);

}  // namespace sadari
