// `sadari ckpt inspect|verify|export` on a checkpoint a 2-step run wrote, and the
// errors a user can cause: a damaged piece (verify exits 1 naming it), a path that
// is no checkpoint, a wrong action or format (usage errors, exit 2).
#include <filesystem>
#include <fstream>

#include "tests/cli/cli_test_util.h"

namespace sadari::testing {
namespace {

class CkptCli : public CliTest {
 protected:
  // Trains tiny-moe for 2 steps saving at the end into path("ck").
  void make_checkpoint() {
    std::vector<std::string> args = {"train", source_file("configs/tiny-moe.yaml"), "--set",
                                     "logging.run_dir=" + run_dir(), "--set",
                                     "checkpoint.every=2", "--set", "checkpoint.dir=" + path("ck")};
    for (const auto& o : small_run_overrides()) args.push_back(o);
    const CliResult r = sadari(args);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    ASSERT_NE(r.out.find("step 2: saved checkpoint"), std::string::npos) << r.out;
  }
};

TEST_F(CkptCli, InspectVerifyExport) {
  make_checkpoint();
  const CliResult inspect = sadari({"ckpt", "inspect", path("ck")});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.describe();
  EXPECT_NE(inspect.out.find("step 2, written by sadari"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("param/blocks.1.moe.experts.7.gate_up"), std::string::npos);
  EXPECT_NE(inspect.out.find("adam_v/embed.weight"), std::string::npos);
  const CliResult json = sadari({"ckpt", "inspect", path("ck"), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.describe();
  EXPECT_NE(json.out.find("\"tensors\""), std::string::npos);

  const CliResult verify = sadari({"ckpt", "verify", path("ck")});
  ASSERT_EQ(verify.exit_code, 0) << verify.describe();
  EXPECT_NE(verify.out.find("every checksum matches"), std::string::npos) << verify.out;

  const CliResult exported =
      sadari({"ckpt", "export", path("ck"), "--format", "safetensors", path("m.safetensors")});
  ASSERT_EQ(exported.exit_code, 0) << exported.describe();
  EXPECT_TRUE(std::filesystem::exists(path("m.safetensors")));
  EXPECT_NE(exported.out.find("wrote"), std::string::npos);
}

TEST_F(CkptCli, VerifyNamesTheDamagedPiece) {
  make_checkpoint();
  const std::string data = path("ck/step-00000002/rank-00000.bin");
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x7f');
  }
  const CliResult r = sadari({"ckpt", "verify", path("ck")});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("damaged: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank-00000.bin bytes ["), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  // Resuming from it fails on the damaged piece, naming it.
  std::vector<std::string> args = {"train", source_file("configs/tiny-moe.yaml"), "--set",
                                   "logging.run_dir=" + path("resumed"), "--resume", path("ck")};
  for (const auto& o : small_run_overrides()) args.push_back(o);
  args.insert(args.end(), {"--set", "train.steps=4"});
  expect_error(sadari(args), 1, {"rank-00000.bin bytes [", "checksum mismatch"});
}

TEST_F(CkptCli, BadInput) {
  expect_error(sadari({"ckpt", "inspect", path("nowhere")}), 1, {"no such checkpoint directory"});
  expect_error(sadari({"ckpt", "frobnicate", path("x")}), 2, {"unknown action 'frobnicate'"});
  expect_error(sadari({"ckpt", "export", path("x"), "--format", "gguf", path("y")}), 2,
               {"unknown --format 'gguf'"});
  expect_error(sadari({"ckpt", "verify"}), 2, {"takes 1 argument"});
}

}  // namespace
}  // namespace sadari::testing
