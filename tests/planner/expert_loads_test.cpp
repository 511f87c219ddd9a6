// Expert load files (parallel/planner/expert_loads.h): both forms parse to the
// same loads, the writer's output reads back exactly, and every malformed file
// is rejected with an error naming file:line and what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "parallel/planner/expert_loads.h"

namespace sadari {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_expert_loads(text, "loads.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_rejected(const std::string& text, std::initializer_list<std::string> parts) {
  const std::string msg = error_of(text);
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
}

TEST(ExpertLoads, ReadsRowsAndIndexedLayers) {
  const ExpertLoads rows = parse_expert_loads("{\"layers\": [[120, 80, 0, 33],\n [90, 91.5, 4e1, 12]]}", "x");
  EXPECT_EQ(rows.layer_ids, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(rows.loads, (std::vector<std::vector<double>>{{120, 80, 0, 33}, {90, 91.5, 40, 12}}));
  EXPECT_EQ(rows.layers(), 2);
  EXPECT_EQ(rows.experts(), 4);

  // Indexed layers, in any order, come back ascending.
  const ExpertLoads ids = parse_expert_loads(
      "{\"layers\": [\n"
      "  {\"layer\": 7, \"loads\": [1, 2]},\n"
      "  {\"loads\": [3, 4], \"layer\": 3}\n"
      "]}",
      "x");
  EXPECT_EQ(ids.layer_ids, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(ids.loads, (std::vector<std::vector<double>>{{3, 4}, {1, 2}}));
}

TEST(ExpertLoads, WriterOutputReadsBackExactly) {
  ExpertLoads in;
  in.layer_ids = {3, 4, 60};
  in.loads = {{0.1, 1e-300, 123456789.125}, {0, 2, 3}, {1.0 / 3, 7, 1e15}};
  const std::string json = expert_loads_to_json(in);
  const ExpertLoads out = parse_expert_loads(json, "written.json");
  EXPECT_EQ(out.layer_ids, in.layer_ids) << json;
  EXPECT_EQ(out.loads, in.loads) << json;
  EXPECT_EQ(json.rfind("{\"layers\": [{\"layer\": 3, \"loads\": [", 0), 0u) << json;
}

TEST(ExpertLoads, RejectsMalformedFilesNamingTheLine) {
  expect_rejected("", {"loads.json", "empty"});
  expect_rejected("  \n\n", {"loads.json", "empty"});
  expect_rejected("{\"layers\": [[1, 2, 3],\n  [4, 5]]]}", {"loads.json:2:10", "malformed JSON"});
  expect_rejected("{\"layers\": [[1, 2, 3]\n", {"loads.json:", "malformed JSON"});
  expect_rejected("[[1, 2]]", {"loads.json:1", "expected a JSON object, got a list"});
  expect_rejected("{\"layer\": [[1, 2]]}", {"loads.json:1", "unknown key 'layer'"});
  expect_rejected("{}", {"no \"layers\""});
  expect_rejected("{\"layers\": []}", {"empty list"});
  expect_rejected("{\"layers\": 5}", {"must be a list"});
  // Ragged: names the row's line, its layer, and the first row.
  expect_rejected("{\"layers\": [\n  [1, 2, 3],\n  [1, 2, 3],\n  [1, 2]\n]}",
                  {"loads.json:4", "ragged", "layer 2 has 2 loads", "layer 0 (line 2) has 3"});
  expect_rejected("{\"layers\": [\n  [1, 2],\n  []\n]}", {"loads.json:3", "layer 1 has no loads"});
  expect_rejected("{\"layers\": [\n  [1, 2],\n  [3, -4]\n]}", {"loads.json:3", "layer 1 expert 1", "negative", "-4"});
  expect_rejected("{\"layers\": [[1, abc]]}", {"loads.json:1", "expert 1", "not a number", "'abc'"});
  expect_rejected("{\"layers\": [[1, \"12\"]]}", {"expert 1", "not a number"});
  expect_rejected("{\"layers\": [[1, null]]}", {"expert 1", "not a number"});
  expect_rejected("{\"layers\": [[1, [2]]]}", {"expert 1", "not a number", "a list"});
  expect_rejected("{\"layers\": [[1, true]]}", {"expert 1", "'true'"});
  expect_rejected("{\"layers\": [[1, .nan]]}", {"expert 1", "not a number"});
  expect_rejected("{\"layers\": [[1, inf]]}", {"expert 1", "not a number"});
  expect_rejected("{\"layers\": [[1, 1e999]]}", {"expert 1", "not a number"});
  expect_rejected("{\"layers\": [[1, 2], 7]}", {"the loads of layer 1 must be a list"});
  // Indexed form.
  expect_rejected("{\"layers\": [\n {\"layer\": 1, \"loads\": [1]},\n {\"layer\": 1, \"loads\": [2]}]}",
                  {"loads.json:3", "layer 1 given twice", "first given at line 2"});
  expect_rejected("{\"layers\": [{\"layer\": -1, \"loads\": [1]}]}", {"\"layer\" must be an integer >= 0", "'-1'"});
  expect_rejected("{\"layers\": [{\"layer\": 1.5, \"loads\": [1]}]}", {"integer", "'1.5'"});
  expect_rejected("{\"layers\": [{\"loads\": [1]}]}", {"without \"layer\""});
  expect_rejected("{\"layers\": [{\"layer\": 0}]}", {"layer 0 has no \"loads\""});
  expect_rejected("{\"layers\": [{\"layer\": 0, \"loads\": [1], \"weight\": 2}]}", {"unknown key 'weight'"});
  expect_rejected("{\"layers\": [{\"layer\": 0, \"loads\": [1]},\n [2]]}",
                  {"loads.json:2", "layer entry 1 is a list, entry 0 is an object"});
}

TEST(ExpertLoads, FileErrorsNameThePath) {
  const std::string dir = ::testing::TempDir() + "sadari-expert-loads";
  std::filesystem::create_directories(dir);
  const std::string missing = dir + "/missing.json";
  try {
    load_expert_loads(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": expert load file not found"), std::string::npos) << e.what();
  }
  try {
    load_expert_loads(dir);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  const std::string good = dir + "/good.json";
  std::ofstream(good) << "{\"layers\": [[1, 2], [3, 4]]}\n";
  EXPECT_EQ(load_expert_loads(good).loads, (std::vector<std::vector<double>>{{1, 2}, {3, 4}}));
  const std::string bad = dir + "/bad.json";
  std::ofstream(bad) << "{\"layers\": [\n[1, 2],\n[3]]}\n";
  try {
    load_expert_loads(bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad + ":3"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sadari
