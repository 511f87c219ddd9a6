// The expert placement and rebalancing keys (parallel.expert_slots,
// expert_policy, rebalance_every, rebalance_decay): defaults, and bad values
// rejected with file:line and the key.
#include <gtest/gtest.h>

#include "config_test_util.h"
#include "core/config_load.h"

namespace sadari {
namespace {

using testing::expect_config_error;
using testing::load_text;

const char* kModel = "model:\n  experts: 8\n  top_k: 2\n";

TEST(ExpertRebalanceConfig, DefaultsKeepTheIdentityPlacementAndNeverRebalance) {
  const Config c = load_text(kModel);
  EXPECT_EQ(c.parallel.expert_slots, 0);
  EXPECT_EQ(c.parallel.rebalance_every, 0);
  EXPECT_EQ(c.parallel.expert_policy, "global");
  EXPECT_GE(c.parallel.rebalance_decay, 0.0);
  EXPECT_LT(c.parallel.rebalance_decay, 1.0);
}

TEST(ExpertRebalanceConfig, SlotsWithReplicasLiftTheDivisibilityOfExpertsByEp) {
  // 6 experts over ep 4: impossible without slots, fine with 2 slots each (8 slots).
  const std::string yaml =
      "model:\n  experts: 6\n  top_k: 2\nparallel:\n  dp: 4\n  ep: 4\n  expert_slots: 2\n"
      "  rebalance_every: 5\n  expert_policy: greedy\ntrain:\n  global_batch: 16\n  micro_batch: 4\n";
  const Config c = load_text(yaml);
  EXPECT_EQ(c.parallel.expert_slots, 2);
  expect_config_error([] { load_text("model:\n  experts: 6\n  top_k: 2\nparallel:\n  dp: 4\n  ep: 4\n"); },
                      {"t.yaml:6 parallel.ep", "ep (4) does not divide experts (6)", "expert_slots"});
}

TEST(ExpertRebalanceConfig, TooFewSlotsAreRejected) {
  expect_config_error(
      [] { load_text(std::string(kModel) + "parallel:\n  dp: 2\n  ep: 2\n  expert_slots: 3\n"); },
      {"t.yaml:7 parallel.expert_slots", "expert_slots (3) x ep (2) = 6 slots cannot hold the 8 experts",
       "at least 4"});
}

TEST(ExpertRebalanceConfig, MoreSlotsThanExpertsAreRejected) {
  expect_config_error(
      [] { load_text(std::string(kModel) + "parallel:\n  dp: 2\n  ep: 2\n  expert_slots: 9\n"); },
      {"t.yaml:7 parallel.expert_slots", "expert_slots (9) exceeds experts (8)"});
}

TEST(ExpertRebalanceConfig, UnknownPolicyNamesTheAllowedOnes) {
  expect_config_error([] { load_text("parallel:\n  expert_policy: gredy\n"); },
                      {"t.yaml:2 parallel.expert_policy", "identity, greedy, global, hierarchical",
                       "did you mean 'greedy'?"});
}

TEST(ExpertRebalanceConfig, IdentityPolicyCannotFillReplicaSlots) {
  expect_config_error(
      [] {
        load_text(std::string(kModel) +
                  "parallel:\n  dp: 2\n  ep: 2\n  expert_slots: 5\n  rebalance_every: 10\n"
                  "  expert_policy: identity\n");
      },
      {"t.yaml:9 parallel.expert_policy", "places no replicas", "10 slots exceed the 8 experts"});
}

TEST(ExpertRebalanceConfig, OutOfRangeValues) {
  expect_config_error([] { load_text("parallel:\n  rebalance_decay: 1.0\n"); },
                      {"t.yaml:2 parallel.rebalance_decay", "must be in [0, 1)"});
  expect_config_error([] { load_text("parallel:\n  rebalance_every: -1\n"); },
                      {"t.yaml:2 parallel.rebalance_every", "must be >= 0"});
}

}  // namespace
}  // namespace sadari
