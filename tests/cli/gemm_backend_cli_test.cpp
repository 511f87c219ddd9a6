// The GEMM kernel a run computes with (kernels/gemm_backend.h): `sadari` never
// settles for OpenBLAS's generic kernels on a CPU with AVX2 or AVX-512, a
// user's OPENBLAS_CORETYPE wins, and the choice is printed (`sadari version`,
// and the start of every training run).
#include <stdlib.h>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

// Runs `sadari ARGS` with OPENBLAS_CORETYPE as given ("" = unset), as a user's
// shell would start it (this test process's own choice is not inherited).
CliResult sadari_with_coretype(const std::string& coretype, const std::vector<std::string>& args) {
  const char* saved = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved_value = saved ? saved : "";
  const char* marker = std::getenv("SADARI_OPENBLAS_CORETYPE_CHOSEN");
  const std::string saved_marker = marker ? marker : "";
  ::unsetenv("SADARI_OPENBLAS_CORETYPE_CHOSEN");
  if (coretype.empty())
    ::unsetenv("OPENBLAS_CORETYPE");
  else
    ::setenv("OPENBLAS_CORETYPE", coretype.c_str(), 1);
  std::vector<std::string> argv = {sadari_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  CliResult r = run_cli(argv);
  if (saved) ::setenv("OPENBLAS_CORETYPE", saved_value.c_str(), 1);
  else ::unsetenv("OPENBLAS_CORETYPE");
  if (marker) ::setenv("SADARI_OPENBLAS_CORETYPE_CHOSEN", saved_marker.c_str(), 1);
  return r;
}

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

TEST_F(CliTest, VersionNamesAModernGemmKernelWhereTheCpuHasOne) {
  const CliResult r = sadari_with_coretype("", {"version"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("GEMM OpenBLAS "), std::string::npos) << r.out;
  if (cpu_has_avx512()) {
    const bool avx512_kernel = r.out.find("kernel SkylakeX") != std::string::npos ||
                               r.out.find("kernel Cooperlake") != std::string::npos ||
                               r.out.find("kernel SapphireRapids") != std::string::npos;
    EXPECT_TRUE(avx512_kernel) << r.out;
  } else if (cpu_has_avx2()) {
    EXPECT_EQ(r.out.find("kernel Prescott"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("kernel Core2"), std::string::npos) << r.out;
  } else {
    GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512";
  }
}

TEST_F(CliTest, AUsersOpenBlasCoretypeWins) {
  // Prescott runs on every x86-64 CPU, and is the one sadari would replace.
  const CliResult r = sadari_with_coretype("PRESCOTT", {"version"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("kernel Prescott (chosen by OPENBLAS_CORETYPE)"), std::string::npos)
      << r.out;
}

TEST_F(CliTest, TrainingRunSaysWhichGemmKernelItUses) {
  std::vector<std::string> args = {"train", source_file("configs/tiny-moe.yaml"), "--set",
                                   "logging.run_dir=" + run_dir()};
  for (const auto& a : small_run_overrides()) args.push_back(a);
  const CliResult r = sadari_with_coretype("", args);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("sadari: GEMM OpenBLAS "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sadari::testing
