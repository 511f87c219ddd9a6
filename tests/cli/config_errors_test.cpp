// `sadari` on bad configs, bad overrides and bad command lines: exit code 1 for a
// bad input, 2 for a usage mistake; one "sadari: error:" line naming the problem;
// no crash; and no run directory contents written.
#include <regex>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

const std::string kTiny = source_file("configs/tiny-moe.yaml");

TEST_F(CliTest, MalformedYamlNamesFileAndLine) {
  write("bad.yaml", "model:\n  hidden: [64, 32\n  layers: 2\ntrain:\n  steps: 3\n");
  const auto r = train(path("bad.yaml"));
  const std::string e = expect_error(r, 1, {"malformed YAML"});
  EXPECT_TRUE(std::regex_search(e, std::regex("bad\\.yaml:[0-9]+"))) << "no file:line in: " << e;
  expect_no_run_output();
}

TEST_F(CliTest, MalformedYamlInConfigCommand) {
  write("bad.yaml", "train: {steps: 3\n");
  const std::string e = expect_error(sadari({"config", path("bad.yaml")}), 1, {"malformed YAML"});
  EXPECT_TRUE(std::regex_search(e, std::regex("bad\\.yaml:[0-9]+"))) << "no file:line in: " << e;
}

TEST_F(CliTest, UnknownKeyIsNamedWithSuggestion) {
  write("typo.yaml", "model: {hiden: 64}\n");
  expect_error(train(path("typo.yaml")), 1, {"typo.yaml:1", "model.hiden", "unknown key", "hidden"});
  expect_no_run_output();
}

TEST_F(CliTest, WrongTypeInFile) {
  write("type.yaml", "model:\n  layers: 2\ntrain:\n  steps: abc\n");
  expect_error(train(path("type.yaml")), 1, {"type.yaml:4", "train.steps", "integer", "abc"});
  expect_no_run_output();
}

TEST_F(CliTest, WrongTypeInOverride) {
  expect_error(train(kTiny, {"--set", "train.steps=abc"}), 1, {"--set train.steps", "integer", "abc"});
  expect_no_run_output();
}

TEST_F(CliTest, HiddenNotDivisibleByHeads) {
  write("shape.yaml", "model:\n  hidden: 66\n  heads: 4\n");
  expect_error(train(path("shape.yaml")), 1, {"shape.yaml:3", "model.heads", "not divisible", "66"});
  expect_no_run_output();
}

TEST_F(CliTest, TopKAboveExperts) {
  expect_error(train(kTiny, {"--set", "model.top_k=9"}), 1, {"model.top_k", "top_k (9) exceeds experts (8)"});
  expect_no_run_output();
}

TEST_F(CliTest, OverrideOfUnknownKey) {
  expect_error(train(kTiny, {"--set", "model.hiden=64"}), 1, {"--set model.hiden", "unknown key", "hidden"});
  expect_no_run_output();
}

TEST_F(CliTest, OverrideOfUnknownSection) {
  expect_error(train(kTiny, {"--set", "modle.hidden=64"}), 1, {"modle", "unknown section"});
  expect_no_run_output();
}

TEST_F(CliTest, OverrideWithoutEquals) {
  expect_error(train(kTiny, {"--set", "train.steps"}), 1, {"train.steps", "KEY=VALUE"});
  expect_no_run_output();
}

TEST_F(CliTest, MissingConfigFile) {
  expect_error(train(path("absent.yaml")), 1, {"absent.yaml", "not found"});
  expect_no_run_output();
}

TEST_F(CliTest, UnknownCommandIsUsageError) {
  expect_error(sadari({"frobnicate", kTiny}), 2, {"unknown command", "frobnicate"});
}

TEST_F(CliTest, UnknownOptionIsUsageError) {
  expect_error(train(kTiny, {"--frobnicate"}), 2, {"unknown option --frobnicate", "sadari train"});
  expect_no_run_output();
  expect_error(sadari({"config", kTiny, "--bogus=1"}), 2, {"unknown option --bogus"});
  expect_error(sadari({"prepare-data", "--outptu", path("x.bin"), kTiny}), 2, {"unknown option --outptu"});
  EXPECT_FALSE(std::filesystem::exists(path("x.bin")));
}

TEST_F(CliTest, OptionWithoutValueIsUsageError) {
  expect_error(sadari({"config", kTiny, "--set"}), 2, {"--set needs a value"});
}

TEST_F(CliTest, MissingConfigArgumentIsUsageError) {
  expect_error(sadari({"train"}), 2, {"expected one CONFIG"});
}

TEST_F(CliTest, NoArgumentsPrintsUsageAndExits2) {
  const auto r = sadari({});
  EXPECT_TRUE(r.exited()) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("usage: sadari COMMAND"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace sadari::testing
