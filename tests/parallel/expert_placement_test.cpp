// Expert placement: identity layout, replicas, validation errors, and the
// deterministic spreading of tokens over replicas.
#include "parallel/expert_placement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace sadari {
namespace {

// Runs f, expects an Error whose text contains every fragment.
template <typename F>
void expect_error(F f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    const std::string text = e.what();
    for (const std::string& frag : fragments)
      EXPECT_NE(text.find(frag), std::string::npos) << "'" << frag << "' not in: " << text;
  }
}

TEST(ExpertPlacement, IdentityGivesEachRankAContiguousBlock) {
  const ExpertPlacement p = ExpertPlacement::identity(8, 4);
  EXPECT_EQ(p.experts(), 8);
  EXPECT_EQ(p.ranks(), 4);
  EXPECT_EQ(p.slots_per_rank(), 2);
  EXPECT_FALSE(p.has_replicas());
  for (int r = 0; r < 4; ++r) EXPECT_EQ(p.rank_slots(r), (std::vector<int64_t>{2 * r, 2 * r + 1}));
  for (int64_t e = 0; e < 8; ++e) {
    ASSERT_EQ(p.replicas(e).size(), 1u);
    EXPECT_EQ(p.replicas(e)[0].rank, e / 2);
    EXPECT_EQ(p.replicas(e)[0].slot, e % 2);
    // One replica: every source and token goes to it.
    EXPECT_EQ(p.replica_for(e, 3, 17).rank, e / 2);
  }
  EXPECT_EQ(p.describe(), "rank 0: [0 1] | rank 1: [2 3] | rank 2: [4 5] | rank 3: [6 7]");
  EXPECT_EQ(ExpertPlacement::identity(5, 1).rank_slots(0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(ExpertPlacement, IdentityRejectsUnevenSplit) {
  expect_error([] { ExpertPlacement::identity(6, 4); }, {"parallel.ep", "6 experts", "4 ep ranks"});
  expect_error([] { ExpertPlacement::identity(0, 1); }, {"model.experts"});
  expect_error([] { ExpertPlacement::identity(4, 0); }, {"parallel.ep"});
}

TEST(ExpertPlacement, ReplicasAreListedByRankAndSpreadBySourceAndToken) {
  // Expert 0 is hot: replicated on ranks 0 and 2; every rank holds 2 slots.
  const ExpertPlacement p = ExpertPlacement::from_slots(5, {{0, 1}, {2, 3}, {4, 0}});
  EXPECT_TRUE(p.has_replicas());
  ASSERT_EQ(p.replicas(0).size(), 2u);
  EXPECT_EQ(p.replicas(0)[0].rank, 0);
  EXPECT_EQ(p.replicas(0)[0].slot, 0);
  EXPECT_EQ(p.replicas(0)[1].rank, 2);
  EXPECT_EQ(p.replicas(0)[1].slot, 1);
  // Rule: replica (source + token) mod 2.
  EXPECT_EQ(p.replica_for(0, 0, 0).rank, 0);
  EXPECT_EQ(p.replica_for(0, 0, 1).rank, 2);
  EXPECT_EQ(p.replica_for(0, 1, 0).rank, 2);
  EXPECT_EQ(p.replica_for(0, 1, 1).rank, 0);
  EXPECT_EQ(p.replica_for(0, 2, 7).rank, 2);
  // Over many tokens of one source, both replicas get half.
  int on_rank0 = 0;
  for (int64_t t = 0; t < 100; ++t) on_rank0 += p.replica_for(0, 1, t).rank == 0;
  EXPECT_EQ(on_rank0, 50);
}

TEST(ExpertPlacement, ValidationNamesTheProblem) {
  expect_error([] { ExpertPlacement::from_slots(4, {{0, 1}, {2}}); },
               {"rank 1 has 1 slots", "rank 0 has 2", "same number"});
  expect_error([] { ExpertPlacement::from_slots(4, {{0, 1}, {2, 2}}); },
               {"rank 1 holds expert 2 twice", "another rank"});
  expect_error([] { ExpertPlacement::from_slots(4, {{0, 1}, {2, 1}}); },
               {"expert 3 has no slot"});
  expect_error([] { ExpertPlacement::from_slots(4, {{0, 1}, {2, 4}}); },
               {"rank 1 slot 1 holds expert 4", "outside [0, 4)"});
  expect_error([] { ExpertPlacement::from_slots(4, {{0, 1}, {2, -1}}); }, {"expert -1"});
  expect_error([] { ExpertPlacement::from_slots(4, {}); }, {"no ranks"});
  expect_error([] { ExpertPlacement::from_slots(2, {{}, {}}); }, {"slots"});
  // Valid: a replica of expert 1 on another rank, in any slot order.
  EXPECT_NO_THROW(ExpertPlacement::from_slots(3, {{1, 0}, {2, 1}}));
}

}  // namespace
}  // namespace sadari
