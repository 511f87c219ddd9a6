// `sadari place-experts`: the table, the JSON maps (read back and checked:
// slots per GPU, every expert placed, groups on their nodes, the balance
// figures), --output, and the one-line errors of bad load files (exit 1, naming
// file:line) and command-line mistakes (exit 2).
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

// 2 layers x 8 experts (4 groups of 2), the second with a hot expert 5.
const char* kLoads =
    "{\"layers\": [\n"
    "  [6, 3, 3, 2, 2, 2, 1, 0],\n"
    "  [1, 1, 1, 1, 1, 40, 1, 2]\n"
    "]}\n";

TEST_F(CliTest, PlaceExpertsPrintsTheBalanceTable) {
  write("loads.json", kLoads);
  const CliResult r = sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--gpus-per-node", "2",
                              "--groups", "4", "--policy", "hierarchical"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("policy hierarchical, 2 layers x 8 experts on 4 GPUs (2 nodes x 2), 2 slots per GPU"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max/mean"), std::string::npos) << r.out;
  // Layer 0 of the hand-worked case in tests/planner: max 6, mean 4.75, bound 6.
  EXPECT_NE(r.out.find("     0            6         4.75            6    1.2632     1.0000"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" total "), std::string::npos) << r.out;

  // --output without --json: the table, and the JSON in the file.
  const std::string out_file = path("maps.json");
  const CliResult o = sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--output", out_file});
  ASSERT_EQ(o.exit_code, 0) << o.describe();
  EXPECT_NE(o.out.find("wrote the per-layer maps to " + out_file), std::string::npos) << o.out;
  EXPECT_EQ(YAML::Load(read(out_file))["policy"].as<std::string>(), "global");
}

TEST_F(CliTest, PlaceExpertsJsonHasTheMapsAndWritesOutput) {
  write("loads.json", kLoads);
  const std::string out_file = path("placement.json");
  const CliResult r = sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--gpus-per-node", "2",
                              "--slots-per-gpu", "3", "--groups", "4", "--policy", "hierarchical", "--json",
                              "--output", out_file});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(read(out_file), r.out);
  const YAML::Node j = YAML::Load(r.out);
  EXPECT_EQ(j["policy"].as<std::string>(), "hierarchical");
  EXPECT_EQ(j["nodes"].as<int>(), 2);
  ASSERT_EQ(j["layers"].size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    const YAML::Node layer = j["layers"][l];
    EXPECT_EQ(layer["layer"].as<int>(), static_cast<int>(l));
    ASSERT_EQ(layer["gpus"].size(), 4u);
    std::vector<std::set<int>> on_gpu(4);
    double max_load = 0;
    for (size_t g = 0; g < 4; ++g) {
      const YAML::Node gpu = layer["gpus"][g];
      EXPECT_EQ(gpu["node"].as<int>(), static_cast<int>(g / 2));
      ASSERT_EQ(gpu["experts"].size(), 3u);
      for (const auto& e : gpu["experts"]) on_gpu[g].insert(e.as<int>());
      EXPECT_EQ(on_gpu[g].size(), 3u) << "duplicate expert on GPU " << g;
      max_load = std::max(max_load, gpu["load"].as<double>());
    }
    EXPECT_DOUBLE_EQ(layer["max_load"].as<double>(), max_load);
    EXPECT_LE(layer["lower_bound"].as<double>(), max_load);
    ASSERT_EQ(layer["experts"].size(), 8u);
    int replicas = 0;
    for (int e = 0; e < 8; ++e) {
      const YAML::Node ex = layer["experts"][e];
      EXPECT_EQ(ex["expert"].as<int>(), e);
      ASSERT_GE(ex["gpus"].size(), 1u) << "expert " << e << " has no replica";
      replicas += static_cast<int>(ex["gpus"].size());
      for (size_t k = 0; k < ex["gpus"].size(); ++k) {
        const int g = ex["gpus"][k].as<int>();
        EXPECT_TRUE(on_gpu[g].count(e)) << "expert " << e << " not on GPU " << g;
        // Group e / 2 stays on one node: its two experts' replicas share it.
        EXPECT_EQ(g / 2, layer["experts"][e - e % 2]["gpus"][0].as<int>() / 2) << "expert " << e;
      }
    }
    EXPECT_EQ(replicas, 12);
  }
  // The hot expert 5 of layer 1 is replicated on both GPUs of its node.
  EXPECT_EQ(j["layers"][1]["experts"][5]["gpus"].size(), 2u);
  EXPECT_GT(j["totals"]["max_load_sum"].as<double>(), 0);
}

TEST_F(CliTest, PlaceExpertsRejectsBadLoadFilesAndOptions) {
  write("ragged.json", "{\"layers\": [\n  [1, 2, 3, 4],\n  [1, 2, 3]\n]}\n");
  const std::string out_file = path("never.json");
  expect_error(sadari({"place-experts", "--loads", path("ragged.json"), "--gpus", "2", "--output", out_file}), 1,
               {"ragged.json:3", "ragged rows", "layer 1 has 3 loads"});
  EXPECT_FALSE(std::filesystem::exists(out_file)) << "a failed run wrote its output";
  write("negative.json", "{\"layers\": [[1, 2, -3, 4]]}");
  expect_error(sadari({"place-experts", "--loads", path("negative.json"), "--gpus", "2"}), 1,
               {"negative.json:1", "negative"});
  write("empty.json", "");
  expect_error(sadari({"place-experts", "--loads", path("empty.json"), "--gpus", "2"}), 1, {"empty"});
  expect_error(sadari({"place-experts", "--loads", path("missing.json"), "--gpus", "2"}), 1, {"not found"});
  write("loads.json", kLoads);
  // One expert group cannot be split over 2 nodes.
  expect_error(sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--gpus-per-node", "2",
                       "--policy", "hierarchical"}),
               1, {"layer 0", "1 groups cannot be split over 2 nodes"});
  expect_error(sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--slots-per-gpu", "3",
                       "--policy", "identity"}),
               1, {"identity", "12 slots for 8 experts"});
  // Command-line mistakes: exit 2.
  expect_error(sadari({"place-experts", "--gpus", "4"}), 2, {"--loads"});
  expect_error(sadari({"place-experts", "--loads", path("loads.json")}), 2, {"--gpus"});
  expect_error(sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "four"}), 2,
               {"--gpus", "positive integer", "four"});
  expect_error(sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "4", "--policy", "best"}), 2,
               {"--policy", "best", "hierarchical"});
  expect_error(sadari({"place-experts", "--loads", path("loads.json"), "--gpus", "3"}), 2,
               {"--slots-per-gpu is required", "3 GPUs", "8 experts"});
}

}  // namespace
}  // namespace sadari::testing
