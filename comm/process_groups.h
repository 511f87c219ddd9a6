// Process groups of a parallel layout, and the one rank order sadari uses.
//
// world = pp x dp (no tensor parallelism, as in DeepSeek-V3); ep divides dp and
// edp = dp / ep. A world rank r has the coordinates
//   pp  = r / dp                 pipeline stage
//   dp  = r % dp                 data-parallel index within the stage
//   ep  = dp % ep                index within its expert-parallel group
//   edp = dp / ep                which ep group of the stage (expert-data-parallel index)
// so that
//   - an ep group is ep CONSECUTIVE ranks (inside one node when ep <= GPUs per node
//     and ranks are placed by node, as mpirun and Slurm do by default): the token
//     all-to-all, the heaviest traffic, stays on NVLink;
//   - a dp group (one stage's replicas) is dp consecutive ranks;
//   - an edp group (replicas of the same experts) is dp/ep ranks with stride ep;
//   - a pp group (one replica's stages) is pp ranks with stride dp.
// Groups: dp reduces dense gradients, ep exchanges tokens, edp reduces expert
// gradients, pp carries activations stage to stage.
//
// Example pp=2, dp=4, ep=2 (8 ranks):   ep groups {0,1} {2,3} {4,5} {6,7}
//   dp groups {0,1,2,3} {4,5,6,7}; edp groups {0,2} {1,3} {4,6} {5,7};
//   pp groups {0,4} {1,5} {2,6} {3,7}.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace sadari {

struct ParallelLayout {
  int pp = 1, dp = 1, ep = 1;
  int world() const { return pp * dp; }
  int edp() const { return dp / ep; }
};

struct RankCoordinates {
  int pp = 0, dp = 0, ep = 0, edp = 0;
};

// REQUIRES: layout valid (pp, dp, ep >= 1, ep divides dp), 0 <= world_rank < world().
RankCoordinates coordinates_of(const ParallelLayout& layout, int world_rank);
int world_rank_of(const ParallelLayout& layout, const RankCoordinates& c);  // uses pp, dp only

// Checks that `layout` can run on `world_size` processes. Throws Error naming
// the mismatch and what to change (for layouts not coming from a validated config).
void check_layout(const ParallelLayout& layout, int world_size);

// The groups this rank belongs to. The world communicator is borrowed (it must
// outlive this object); the others are owned. Groups of size 1 are real
// communicators too, so callers never special-case them.
struct ProcessGroups {
  ParallelLayout layout;
  RankCoordinates coords;
  Communicator* world = nullptr;
  std::unique_ptr<Communicator> dp, ep, edp, pp;
};

// COLLECTIVE over `world`: every rank must call it with the same layout.
// Throws Error (on every rank) when the layout does not match world.size().
ProcessGroups make_process_groups(Communicator& world, const ParallelLayout& layout);

}  // namespace sadari
