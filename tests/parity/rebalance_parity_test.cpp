// Parity with online expert rebalancing and replicated experts: a placement
// changes where an expert runs, never the math. Each run trains tiny-moe for 30
// steps under mpirun and must match the one-process run step for step (loss and
// gradient norm within 1e-5 relative, as in parity_test.cpp), while the
// placement really changes: metrics.jsonl must hold rebalance records that moved
// experts (weights and AdamW state, parallel/expert_migration.h).
#include "tests/parity/parity_fixture.h"

namespace sadari::parity {
namespace {

class RebalanceParityTest : public ParityFixture {
 protected:
  // The rebalance records of the current test's run: {moved slots per record}.
  static std::vector<int64_t> rebalances() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::ifstream in(root() / info->name() / "metrics.jsonl");
    std::vector<int64_t> moved;
    for (std::string line; std::getline(in, line);) {
      double flag = 0, slots = 0;
      if (json_number(line, "rebalance", &flag) && flag == 1) {
        json_number(line, "moved_slots", &slots);
        moved.push_back(static_cast<int64_t>(slots));
      }
    }
    return moved;
  }
  void expect_moved_experts() {
    const std::vector<int64_t> moved = rebalances();
    ASSERT_FALSE(moved.empty()) << "no rebalance changed the placement";
    for (int64_t m : moved) EXPECT_GT(m, 0);
    std::printf("  %zu rebalances moved experts\n", moved.size());
  }
};

// Two ep ranks, no replicas (4 slots each): experts swap ranks.
TEST_F(RebalanceParityTest, DataParallel2ExpertParallel2RebalanceEvery5) {
  expect_parity(2, {"parallel.dp=2", "parallel.ep=2", "parallel.rebalance_every=5",
                    "parallel.rebalance_decay=0.5"});
  expect_moved_experts();
}

// dp4 ep2 with replicas (10 slots for 8 experts), ZeRO-1 state re-sharded.
TEST_F(RebalanceParityTest, DataParallel4ExpertParallel2ReplicasRebalanceZero1) {
  expect_parity(4, {"parallel.dp=4", "parallel.ep=2", "train.micro_batch=4", "train.eval_batches=8",
                    "parallel.expert_slots=5", "parallel.rebalance_every=5",
                    "parallel.rebalance_decay=0.5"});
  expect_moved_experts();
}

// dp4 ep4 with replicas (12 slots), ZeRO-0 (replicated state), greedy policy.
TEST_F(RebalanceParityTest, DataParallel4ExpertParallel4ReplicasRebalanceZero0Greedy) {
  expect_parity(4, {"parallel.dp=4", "parallel.ep=4", "train.micro_batch=4", "train.eval_batches=8",
                    "parallel.expert_slots=3", "parallel.rebalance_every=5",
                    "parallel.rebalance_decay=0.5", "parallel.expert_policy=greedy",
                    "parallel.zero_stage=0"});
  expect_moved_experts();
}

TEST_F(RebalanceParityTest, TooFewExpertSlotsAreRejected) {
  expect_rejected(2, {"parallel.dp=2", "parallel.ep=2", "parallel.expert_slots=3"},
                  "6 slots cannot hold the 8 experts");
}

TEST_F(RebalanceParityTest, RebalancingUnderPipelineParallelismIsRejected) {
  expect_rejected(2, {"parallel.pp=2", "parallel.rebalance_every=5"},
                  "not implemented under pipeline parallelism");
}

}  // namespace
}  // namespace sadari::parity
