// `sadari schedule`: one happy path through text, JSON and SVG output, and the two
// kinds of mistakes (a schedule that cannot run: exit 1; a malformed command line:
// exit 2), each a one-line error naming the option.
#include <filesystem>

#include "cli_test_util.h"
#include "core/error.h"

namespace sadari::testing {
namespace {

TEST_F(CliTest, ScheduleRunsPrintsTimelineJsonAndWritesSvg) {
  const int P = 4, M = 8;
  // Text: one row per rank (3 columns per unit of time by default), then the numbers;
  // rank r's first forward waits r forwards (F = 1); rank 0 is busy M(F+B+W) = 24 and
  // idles (P-1)(F+B+W) = 9.
  const CliResult text = sadari({"schedule", "--kind", "1f1b", "--stages", std::to_string(P),
                                 "--microbatches", std::to_string(M)});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  for (int r = 0; r < P; ++r)
    EXPECT_NE(text.out.find("rank " + std::to_string(r) + "  |" + std::string(3 * r, '.') + "F0 "),
              std::string::npos) << text.out;
  EXPECT_NE(text.out.find("rank 0: busy 24, bubble 9, peak activations 4"), std::string::npos)
      << text.out;

  // JSON with costs F=2, B=1, W=1: 1F1B's makespan is (M + P - 1)(F + B + W) and every
  // rank's bubble (P - 1)(F + B + W); rank 0 holds P activations.
  const std::string svg = path("timeline.svg");
  const CliResult json = sadari({"schedule", "--kind", "1f1b", "--stages", std::to_string(P),
                                 "--microbatches", std::to_string(M), "--f", "2", "--b", "1",
                                 "--w", "1", "--json", "--svg", svg});
  ASSERT_EQ(json.exit_code, 0) << json.describe();
  EXPECT_EQ(json.err, "");
  const double full = 2 + 1 + 1;
  EXPECT_NE(json.out.find("\"makespan\":" + std::to_string(static_cast<int>((M + P - 1) * full))),
            std::string::npos) << json.out;
  const int bubble = static_cast<int>((P - 1) * full);
  EXPECT_NE(json.out.find(sadari::detail::cat("\"per_rank\":[", bubble, ",", bubble, ",", bubble, ",",
                                      bubble, "]")),
            std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"peak_activations\":[4,3,2,1]"), std::string::npos) << json.out;
  EXPECT_EQ(json.out.front(), '{');
  EXPECT_EQ(json.out.find('\n'), json.out.size() - 1) << "not one JSON line";
  ASSERT_TRUE(std::filesystem::exists(svg));
  const std::string picture = read(svg);
  EXPECT_EQ(picture.rfind("<svg", 0), 0u);
  EXPECT_NE(picture.find("</svg>"), std::string::npos);
  // One rectangle per forward and backward on every rank.
  size_t labels = 0;
  for (size_t at = picture.find("<title>"); at != std::string::npos; at = picture.find("<title>", at + 1))
    ++labels;
  EXPECT_EQ(labels, static_cast<size_t>(2 * M * P));
}

TEST_F(CliTest, ScheduleRejectsOddStagesForDualPipe) {
  const std::string svg = path("never.svg");
  expect_error(sadari({"schedule", "--kind", "dualpipe", "--stages", "3", "--microbatches", "12",
                       "--svg", svg}),
               1, {"--stages", "even", "got 3", "dualpipev"});
  EXPECT_FALSE(std::filesystem::exists(svg)) << "a failed schedule wrote its picture";
}

TEST_F(CliTest, ScheduleUsageMistakesExitWith2) {
  expect_error(sadari({"schedule", "--kind", "1f1b", "--stages", "4", "--microbatches", "many"}), 2,
               {"--microbatches", "integer", "many"});
  expect_error(sadari({"schedule", "--stages", "4", "--microbatches", "8"}), 2, {"--kind"});
  expect_error(sadari({"schedule", "--kind", "1f1b", "--stages", "4", "--microbatches", "8",
                       "--f", "-1"}),
               2, {"--f", "non-negative"});
}

}  // namespace
}  // namespace sadari::testing
