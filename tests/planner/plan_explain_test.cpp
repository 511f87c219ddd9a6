// "Why the winner wins" (parallel/planner/plan_explain.h) says what the numbers
// say: the percentage gap, the step terms that differ (largest first, summing to
// the gap), the settings that differ, and memory against the limit.
#include <gtest/gtest.h>

#include "parallel/planner/plan_explain.h"

namespace sadari {
namespace {

Estimate make(int64_t pp, const std::string& schedule, double compute, double bubble, double comm,
              double memory_gb) {
  Estimate e;
  e.layout.pp = pp;
  e.layout.dp = 64 / pp;
  e.layout.microbatches = 8;
  e.layout.schedule = schedule;
  e.layout.chunks = schedule == "dualpipe" ? 2 : 1;
  e.time.compute = compute;
  e.time.bubble = bubble;
  e.time.exposed_comm = comm;
  e.time.step = compute + bubble + comm;
  e.memory.weights = memory_gb * 1e9;
  e.fits = true;
  e.mfu = 0.25;
  return e;
}

TEST(PlanExplain, SecondsInReadableUnits) {
  EXPECT_EQ(seconds_text(12.345), "12.35 s");
  EXPECT_EQ(seconds_text(0.8456), "846 ms");
  EXPECT_EQ(seconds_text(3.72e-5), "37.2 us");
  EXPECT_EQ(seconds_text(250), "250 s");
  EXPECT_EQ(seconds_text(0), "0 s");
  EXPECT_EQ(seconds_text(0.002), "2.00 ms");
  EXPECT_EQ(seconds_text(-0.0125), "-12.5 ms");
}

TEST(PlanExplain, ComparesTermByTerm) {
  const Estimate w = make(8, "dualpipe", 8, 1, 1, 60);   // step 10
  const Estimate o = make(16, "1f1b", 8, 3.5, 0.5, 50);  // step 12
  const std::string s = compare_estimates(w, o, "the runner-up", 80e9);
  EXPECT_NE(s.find("Against the runner-up (" + o.layout.describe() + ")"), std::string::npos) << s;
  EXPECT_NE(s.find("16.7% faster per step (10.00 s vs 12.00 s)"), std::string::npos) << s;
  // Largest difference first; compute named as equal.
  EXPECT_NE(s.find("the difference is bubble -2.50 s, exposed communication +500 ms, compute equal"),
            std::string::npos) << s;
  EXPECT_NE(s.find("pp 8 vs 16, dp 8 vs 4, schedule dualpipe vs 1f1b"), std::string::npos) << s;
  EXPECT_NE(s.find("memory 60.0 vs 50.0 GB of 80.0 GB"), std::string::npos) << s;
}

TEST(PlanExplain, SaysWhenTheOtherIsFasterButDoesNotFit) {
  const Estimate w = make(8, "1f1b", 8, 1, 1, 60);
  Estimate o = make(4, "1f1b", 8, 0.5, 0.5, 95);
  o.fits = false;
  o.memory_overshoot = 15e9;
  const std::string s = compare_estimates(w, o, "--layout", 80e9);
  EXPECT_NE(s.find("--layout is 10.0% faster (9.00 s vs 10.00 s) but does not fit: it needs 95.0 GB, 15.0 GB over"),
            std::string::npos) << s;
}

TEST(PlanExplain, ParagraphNamesWinnerRunnerUpAndNamedLayout) {
  const std::vector<Estimate> best = {make(8, "dualpipe", 8, 1, 1, 60), make(16, "1f1b", 8, 3.5, 0.5, 50)};
  const Estimate named = make(16, "dualpipe", 8, 2, 1, 55);
  const std::string s = explain_winner(best, &named, "deepseek-v3", 80e9, 1234);
  EXPECT_EQ(s.rfind("Why " + best[0].layout.describe() + " wins: it is the fastest of 1234 layouts", 0), 0u) << s;
  EXPECT_NE(s.find("MFU 25.0%"), std::string::npos) << s;
  EXPECT_NE(s.find("Against the runner-up"), std::string::npos) << s;
  EXPECT_NE(s.find("Against deepseek-v3 (" + named.layout.describe() + "): 9.1% faster"), std::string::npos) << s;
  const std::string self = explain_winner(best, &best[0], "deepseek-v3", 80e9, 2);
  EXPECT_NE(self.find("deepseek-v3 is the winner itself."), std::string::npos) << self;
}

}  // namespace
}  // namespace sadari
