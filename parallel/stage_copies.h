// Stage copies: DualPipe (parallel/pipeline_schedule.h) holds every pipeline
// stage on two pp ranks, r and P-1-r (chunk 0 of one, chunk 1 of the other),
// and feeds half of the micro-batches through each copy. Both copies start from
// the same weights (same global names, same RNG keys); after the step's
// backward their gradients are summed, so each copy has the gradient of the
// whole batch and the optimizer moves both identically.
//
// The pair {r, P-1-r} holds exactly the same two stages, so its two stores hold
// the same parameters, in different creation order: everything here works by
// parameter name (sorted), never by store position.
#pragma once

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/parameter.h"

namespace sadari {

// The pair group {r, P-1-r} of pp rank r ("pp-copies"). COLLECTIVE over pp.
// REQUIRES: pp.size() even.
std::unique_ptr<Communicator> make_stage_copy_group(Communicator& pp);

// Sums the gradients of every trainable parameter of `params` with the other
// copy's, matched by name. COLLECTIVE over `copies`.
void sum_gradients_over_copies(ParameterStore& params, Communicator& copies);

// Sums expert-load counts, given per stage in increasing stage order
// ([stage][block][expert]), with the other copy's. COLLECTIVE over `copies`.
void sum_counts_over_copies(std::vector<std::vector<std::vector<int64_t>>>& counts_by_stage,
                            Communicator& copies);

}  // namespace sadari
