#include "comm/process_groups.h"

#include "core/error.h"

namespace sadari {

RankCoordinates coordinates_of(const ParallelLayout& layout, int world_rank) {
  SADARI_ASSERT(layout.pp >= 1 && layout.dp >= 1 && layout.ep >= 1 && layout.dp % layout.ep == 0);
  SADARI_ASSERT(world_rank >= 0 && world_rank < layout.world());
  RankCoordinates c;
  c.pp = world_rank / layout.dp;
  c.dp = world_rank % layout.dp;
  c.ep = c.dp % layout.ep;
  c.edp = c.dp / layout.ep;
  return c;
}

int world_rank_of(const ParallelLayout& layout, const RankCoordinates& c) {
  return c.pp * layout.dp + c.dp;
}

void check_layout(const ParallelLayout& layout, int world_size) {
  if (layout.pp < 1 || layout.dp < 1 || layout.ep < 1)
    fail(detail::cat("invalid layout pp=", layout.pp, " dp=", layout.dp, " ep=", layout.ep),
         "parallel", "every degree must be at least 1");
  if (layout.dp % layout.ep != 0)
    fail(detail::cat("ep (", layout.ep, ") does not divide dp (", layout.dp, ")"), "parallel.ep",
         "choose ep dividing dp");
  if (layout.world() != world_size)
    fail(detail::cat("the layout pp=", layout.pp, " x dp=", layout.dp, " needs ", layout.world(),
                     " processes, but the job has ", world_size),
         "parallel",
         detail::cat("launch with mpirun -np ", layout.world(), ", or set parallel.pp and "
                     "parallel.dp so that pp x dp = ", world_size));
}

ProcessGroups make_process_groups(Communicator& world, const ParallelLayout& layout) {
  check_layout(layout, world.size());
  ProcessGroups g;
  g.layout = layout;
  g.coords = coordinates_of(layout, world.rank());
  g.world = &world;
  const RankCoordinates& c = g.coords;
  const int E = layout.ep, EDP = layout.edp();
  // Colors identify the group; keys order ranks inside it by the group's index.
  g.dp = world.split(c.pp, c.dp, "dp");
  g.ep = world.split(c.pp * EDP + c.edp, c.ep, "ep");
  g.edp = world.split(c.pp * E + c.ep, c.edp, "edp");
  g.pp = world.split(c.dp, c.pp, "pp");
  return g;
}

}  // namespace sadari
