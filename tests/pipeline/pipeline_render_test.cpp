// The text, SVG and JSON forms of a simulated schedule (parallel/pipeline_render.h).
#include "parallel/pipeline_render.h"

#include <gtest/gtest.h>

#include "parallel/pipeline_generators.h"

namespace sadari {
namespace {

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// GPipe, 2 ranks, 2 micro-batches, F = B = W = 1 (full backward 2): rank 1 starts one
// unit late; rank 0's first backward waits for rank 1's (ends at 5); makespan 9.
// At 3 columns per unit each action is its label, its letter, and a closing blank.
TEST(PipelineRender, TextTimelineDrawsEachActionAtItsTime) {
  const PipelineSchedule s = generate_schedule({ScheduleKind::gpipe, 2, 2, 0});
  const SimulationCosts costs;
  const SimulationResult r = simulate_schedule(s, costs);
  ASSERT_EQ(r.makespan, 9);
  const std::string text = render_text_timeline(s, r, costs, 3);
  EXPECT_NE(text.find("rank 0  |F0 F1 .........B0BBB B1BBB |\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 1  |...F0 F1 B0BBB B1BBB ......|\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 1: busy 6, bubble 3, peak activations 2"), std::string::npos) << text;
}

TEST(PipelineRender, SecondChunkIsLowerCaseInText) {
  const PipelineSchedule s = generate_schedule({ScheduleKind::dualpipe_v, 2, 4, 0});
  const SimulationCosts costs;
  const std::string text = render_text_timeline(s, simulate_schedule(s, costs), costs);
  EXPECT_NE(text.find("f0"), std::string::npos) << text;
  EXPECT_NE(text.find("F0"), std::string::npos) << text;
}

TEST(PipelineRender, SvgHasOneRectanglePerComputeAndJsonOneEntryPerAction) {
  const PipelineSchedule s = generate_schedule({ScheduleKind::dualpipe, 4, 8, 0});
  SimulationCosts costs;
  costs.overlapped_f_b = 2.5;
  const SimulationResult r = simulate_schedule(s, costs);
  size_t computes = 0, actions = 0;
  for (int rank = 0; rank < s.ranks(); ++rank)
    for (const Action& a : s.actions(rank)) {
      ++actions;
      if (is_compute(a.kind)) ++computes;
    }
  const std::string svg = render_svg(s, r, costs);
  EXPECT_EQ(count(svg, "<title>"), computes);
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(svg.find('&'), svg.find("&amp;")) << "unescaped '&' in the SVG";

  const std::string json = render_json(s, r, costs);
  EXPECT_EQ(count(json, "\"microbatch\":"), actions);
  EXPECT_EQ(count(json, "{"), count(json, "}"));
  EXPECT_EQ(count(json, "["), count(json, "]"));
  EXPECT_NE(json.find("\"fb\":2.5"), std::string::npos);
  EXPECT_NE(json.find("\"kind\":\"dualpipe\""), std::string::npos);
}

}  // namespace
}  // namespace sadari
