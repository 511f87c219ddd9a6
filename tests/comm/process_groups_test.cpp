// The rank order of comm/process_groups.h without MPI: coordinates, their
// inverse, the example in the header, layout checks, and the groups of a
// one-process run (SelfCommunicator).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>

#include "comm/process_groups.h"
#include "comm/self_communicator.h"
#include "core/error.h"

namespace sadari {
namespace {

TEST(RankOrder, CoordinatesRoundTripForManyLayouts) {
  int layouts = 0;
  for (int pp = 1; pp <= 5; ++pp)
    for (int dp = 1; dp <= 12; ++dp)
      for (int ep = 1; ep <= dp; ++ep) {
        if (dp % ep != 0) continue;
        const ParallelLayout layout{pp, dp, ep};
        std::set<std::tuple<int, int>> seen;  // (pp, dp) pairs: each exactly once
        for (int r = 0; r < layout.world(); ++r) {
          const RankCoordinates c = coordinates_of(layout, r);
          ASSERT_EQ(world_rank_of(layout, c), r) << pp << "x" << dp << " ep" << ep;
          ASSERT_TRUE(c.pp >= 0 && c.pp < pp && c.dp >= 0 && c.dp < dp);
          ASSERT_TRUE(c.ep >= 0 && c.ep < ep && c.edp >= 0 && c.edp < dp / ep);
          ASSERT_EQ(c.edp * ep + c.ep, c.dp);  // ep index and edp index make up dp
          seen.insert({c.pp, c.dp});
        }
        EXPECT_EQ(static_cast<int>(seen.size()), layout.world());
        ++layouts;
      }
  EXPECT_GT(layouts, 100);
}

// The example written in comm/process_groups.h: pp=2, dp=4, ep=2 (8 ranks).
TEST(RankOrder, HeaderExamplePp2Dp4Ep2) {
  const ParallelLayout layout{2, 4, 2};
  auto group_of = [&](int rank, auto key) {
    std::set<int> group;
    for (int r = 0; r < layout.world(); ++r)
      if (key(coordinates_of(layout, r)) == key(coordinates_of(layout, rank))) group.insert(r);
    return group;
  };
  auto ep_key = [](const RankCoordinates& c) { return std::make_tuple(c.pp, c.edp); };
  auto dp_key = [](const RankCoordinates& c) { return std::make_tuple(c.pp, 0); };
  auto edp_key = [](const RankCoordinates& c) { return std::make_tuple(c.pp, c.ep); };
  auto pp_key = [](const RankCoordinates& c) { return std::make_tuple(c.dp, 0); };
  EXPECT_EQ(group_of(0, ep_key), (std::set<int>{0, 1}));
  EXPECT_EQ(group_of(2, ep_key), (std::set<int>{2, 3}));
  EXPECT_EQ(group_of(5, ep_key), (std::set<int>{4, 5}));
  EXPECT_EQ(group_of(7, ep_key), (std::set<int>{6, 7}));
  EXPECT_EQ(group_of(1, dp_key), (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(group_of(6, dp_key), (std::set<int>{4, 5, 6, 7}));
  EXPECT_EQ(group_of(0, edp_key), (std::set<int>{0, 2}));
  EXPECT_EQ(group_of(3, edp_key), (std::set<int>{1, 3}));
  EXPECT_EQ(group_of(4, edp_key), (std::set<int>{4, 6}));
  EXPECT_EQ(group_of(7, edp_key), (std::set<int>{5, 7}));
  EXPECT_EQ(group_of(0, pp_key), (std::set<int>{0, 4}));
  EXPECT_EQ(group_of(1, pp_key), (std::set<int>{1, 5}));
  EXPECT_EQ(group_of(6, pp_key), (std::set<int>{2, 6}));
  EXPECT_EQ(group_of(3, pp_key), (std::set<int>{3, 7}));
  const RankCoordinates c = coordinates_of(layout, 7);
  EXPECT_EQ(c.pp, 1);
  EXPECT_EQ(c.dp, 3);
  EXPECT_EQ(c.ep, 1);
  EXPECT_EQ(c.edp, 1);
}

std::string layout_error(const ParallelLayout& layout, int world_size) {
  try {
    check_layout(layout, world_size);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RankOrder, CheckLayoutNamesTheMismatch) {
  EXPECT_EQ(layout_error({2, 4, 2}, 8), "");
  EXPECT_EQ(layout_error({1, 1, 1}, 1), "");
  const std::string wrong_world = layout_error({2, 4, 1}, 6);
  EXPECT_NE(wrong_world.find("needs 8 processes"), std::string::npos) << wrong_world;
  EXPECT_NE(wrong_world.find("has 6"), std::string::npos) << wrong_world;
  EXPECT_NE(wrong_world.find("mpirun -np 8"), std::string::npos) << wrong_world;
  const std::string ep_not_dividing = layout_error({1, 6, 4}, 6);
  EXPECT_NE(ep_not_dividing.find("parallel.ep"), std::string::npos) << ep_not_dividing;
  EXPECT_NE(layout_error({0, 4, 1}, 4).find("invalid layout"), std::string::npos);
  EXPECT_NE(layout_error({1, 4, 0}, 4).find("invalid layout"), std::string::npos);
}

TEST(RankOrder, OneProcessGroupsAreRealCommunicatorsOfSizeOne) {
  SelfCommunicator world;
  ProcessGroups groups = make_process_groups(world, {1, 1, 1});
  for (Communicator* g : {groups.dp.get(), groups.ep.get(), groups.edp.get(), groups.pp.get()}) {
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->size(), 1);
    EXPECT_EQ(g->rank(), 0);
    float x = 2.5f;
    g->all_reduce(&x, 1, ReduceOp::sum);
    EXPECT_EQ(x, 2.5f);
  }
  EXPECT_EQ(groups.dp->name(), "dp");
  EXPECT_EQ(groups.ep->name(), "ep");
  EXPECT_EQ(groups.edp->name(), "edp");
  EXPECT_EQ(groups.pp->name(), "pp");
  EXPECT_THROW(make_process_groups(world, {2, 1, 1}), Error);
}

}  // namespace
}  // namespace sadari
