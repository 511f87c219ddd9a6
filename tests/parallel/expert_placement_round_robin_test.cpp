// ExpertPlacement::round_robin: the initial placement with parallel.expert_slots
// (known answers), the identity when the slots exactly hold the experts, and
// errors naming parallel.expert_slots.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "parallel/expert_placement.h"

namespace sadari {
namespace {

TEST(ExpertPlacementRoundRobin, ExtraSlotsReplicateTheFirstExpertsOnOtherRanks) {
  const ExpertPlacement p = ExpertPlacement::round_robin(8, 2, 5);
  EXPECT_EQ(p.rank_slots(0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.rank_slots(1), (std::vector<int64_t>{5, 6, 7, 0, 1}));
  EXPECT_TRUE(p.has_replicas());
  ASSERT_EQ(p.replicas(0).size(), 2u);
  EXPECT_EQ(p.replicas(0)[1].rank, 1);
  EXPECT_EQ(p.replicas(0)[1].slot, 3);
  EXPECT_EQ(p.replicas(2).size(), 1u);
  // 3 ranks of 3 slots for 8 experts: expert 0 twice, on ranks 0 and 2.
  const ExpertPlacement q = ExpertPlacement::round_robin(8, 3, 3);
  EXPECT_EQ(q.rank_slots(2), (std::vector<int64_t>{6, 7, 0}));
}

TEST(ExpertPlacementRoundRobin, ExactSlotsAreTheIdentity) {
  EXPECT_TRUE(ExpertPlacement::round_robin(8, 4, 2) == ExpertPlacement::identity(8, 4));
  EXPECT_TRUE(ExpertPlacement::round_robin(8, 1, 8) == ExpertPlacement::identity(8, 1));
}

TEST(ExpertPlacementRoundRobin, SlotsThatCannotHoldTheExpertsAreRejected) {
  for (int64_t slots : {3, 9}) {
    try {
      ExpertPlacement::round_robin(8, 2, slots);
      ADD_FAILURE() << slots << " slots accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("parallel.expert_slots"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sadari
