// make_process_groups over real MPI groups: for every layout that fits the world
// size, each group's members (all-gathered world ranks, in group-rank order)
// must be exactly the ranks the documented rank order (comm/process_groups.h)
// puts in it, and a reduction inside each group must see only its members.
#include <gtest/gtest.h>

#include <vector>

#include "comm/process_groups.h"
#include "core/error.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

std::vector<ParallelLayout> layouts_for(int world_size) {
  std::vector<ParallelLayout> layouts;
  for (int pp = 1; pp <= world_size; ++pp) {
    if (world_size % pp != 0) continue;
    const int dp = world_size / pp;
    for (int ep = 1; ep <= dp; ++ep)
      if (dp % ep == 0) layouts.push_back({pp, dp, ep});
  }
  return layouts;
}

std::vector<int> members(Communicator& group) {
  std::vector<int32_t> ranks(static_cast<size_t>(group.size()));
  const int32_t mine = group.world_rank();
  group.all_gather(&mine, ranks.data(), 1, DType::i32);
  return {ranks.begin(), ranks.end()};
}

void expect_group(Communicator& group, const char* name, int expected_rank,
                  const std::vector<int>& expected_members) {
  EXPECT_EQ(group.name(), name);
  EXPECT_EQ(group.rank(), expected_rank) << name;
  EXPECT_EQ(members(group), expected_members) << name;
  int64_t rank_sum = group.world_rank(), expected_sum = 0;
  group.all_reduce(&rank_sum, 1, ReduceOp::sum);
  for (int r : expected_members) expected_sum += r;
  EXPECT_EQ(rank_sum, expected_sum) << name;
}

TEST(ProcessGroups, MembersFollowTheDocumentedRankOrder) {
  Communicator& world = test::world();
  for (const ParallelLayout& layout : layouts_for(world.size())) {
    SCOPED_TRACE(testing::Message() << "pp=" << layout.pp << " dp=" << layout.dp
                                    << " ep=" << layout.ep);
    ProcessGroups groups = make_process_groups(world, layout);
    const RankCoordinates c = coordinates_of(layout, world.rank());
    EXPECT_EQ(groups.coords.pp, c.pp);
    EXPECT_EQ(groups.coords.dp, c.dp);
    EXPECT_EQ(groups.coords.ep, c.ep);
    EXPECT_EQ(groups.coords.edp, c.edp);
    EXPECT_EQ(groups.world, &world);

    const int E = layout.ep;
    std::vector<int> dp_members, ep_members, edp_members, pp_members;
    for (int j = 0; j < layout.dp; ++j) dp_members.push_back(world_rank_of(layout, {c.pp, j, 0, 0}));
    for (int j = 0; j < E; ++j)
      ep_members.push_back(world_rank_of(layout, {c.pp, c.edp * E + j, 0, 0}));
    for (int i = 0; i < layout.edp(); ++i)
      edp_members.push_back(world_rank_of(layout, {c.pp, i * E + c.ep, 0, 0}));
    for (int s = 0; s < layout.pp; ++s) pp_members.push_back(world_rank_of(layout, {s, c.dp, 0, 0}));

    expect_group(*groups.dp, "dp", c.dp, dp_members);
    expect_group(*groups.ep, "ep", c.ep, ep_members);
    expect_group(*groups.edp, "edp", c.edp, edp_members);
    expect_group(*groups.pp, "pp", c.pp, pp_members);

    // The documented shapes: ep groups are consecutive ranks, edp stride ep,
    // pp stride dp.
    for (size_t i = 1; i < ep_members.size(); ++i) EXPECT_EQ(ep_members[i], ep_members[i - 1] + 1);
    for (size_t i = 1; i < edp_members.size(); ++i)
      EXPECT_EQ(edp_members[i], edp_members[i - 1] + E);
    for (size_t i = 1; i < pp_members.size(); ++i)
      EXPECT_EQ(pp_members[i], pp_members[i - 1] + layout.dp);
  }
}

TEST(ProcessGroups, LayoutNotMatchingTheJobThrowsOnEveryRankBeforeCommunicating) {
  Communicator& world = test::world();
  try {
    make_process_groups(world, {1, world.size() + 1, 1});
    ADD_FAILURE() << "a layout for " << world.size() + 1 << " ranks should be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.hint()).find("mpirun -np"), std::string::npos) << e.what();
  }
  // Nothing was left half-done: the world still works.
  int32_t one = 1, ranks = 0;
  world.all_reduce(&one, &ranks, 1, DType::i32, ReduceOp::sum);
  EXPECT_EQ(ranks, world.size());
}

}  // namespace
}  // namespace sadari
