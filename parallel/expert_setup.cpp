#include "parallel/expert_setup.h"

#include "comm/launch_env.h"

namespace sadari {

ComputePrecision precision_of(const Config& cfg) {
  return parse_compute_precision(cfg.train.precision, cfg.where("train.precision"));
}

std::unique_ptr<ExpertSetup> make_expert_setup(const Config& cfg, ProcessGroups& groups) {
  ParallelConfig parallel = cfg.parallel;
  if (parallel.max_nodes_per_token > 0)
    parallel.ranks_per_node =
        ranks_per_node_for_routing(detect_launch_environment(), parallel.ranks_per_node);
  auto setup = std::make_unique<ExpertSetup>();
  setup->parallel = parallel;
  if (cfg.model.experts > 0 &&
      (groups.layout.ep > 1 || parallel.capacity_factor > 0 || parallel.max_nodes_per_token > 0)) {
    setup->placement =
        parallel.expert_slots > 0
            ? ExpertPlacement::round_robin(cfg.model.experts, groups.layout.ep,
                                           parallel.expert_slots)
            : ExpertPlacement::identity(cfg.model.experts, groups.layout.ep);
    setup->dispatcher = std::make_unique<ExpertParallelDispatcher<float>>(
        *groups.ep, *setup->placement, parallel, DispatchWire::for_precision(precision_of(cfg)));
  }
  return setup;
}

}  // namespace sadari
