// comm/nccl/nccl_check.h: NCCL statuses become sadari::Error with the operation,
// NCCL's text, the place and a hint; and the loaded library names its version.
// No GPU needed: these only call NCCL's host-side string and version functions.
#include <gtest/gtest.h>

#include <string>

#include "comm/nccl/nccl_check.h"
#include "comm/nccl/nccl_communicator.h"
#include "core/error.h"

namespace sadari {
namespace {

// Status codes from nccl.h (not on the tests' include path).
constexpr int kInvalidArgument = 4;
constexpr int kRemoteError = 6;

TEST(NcclCheck, StatusesBecomeErrorsWithOperationPlaceAndHint) {
  try {
    nccl::throw_nccl_error("ncclAllReduce", kInvalidArgument, "rank 0 of world");
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_NE(e.what_failed().find("ncclAllReduce failed: "), std::string::npos) << e.what();
    EXPECT_NE(e.what_failed().find(nccl::error_string(kInvalidArgument)), std::string::npos)
        << e.what();
    EXPECT_EQ(e.where(), "rank 0 of world");
    EXPECT_NE(e.hint().find("bug in sadari"), std::string::npos) << e.what();
  }
  try {
    nccl::throw_nccl_error("ncclSend", kRemoteError, "x", "peer 3 closed the connection");
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_NE(e.what_failed().find("(peer 3 closed the connection)"), std::string::npos)
        << e.what();
    EXPECT_NE(e.hint().find("other ranks"), std::string::npos) << e.what();
  }
}

TEST(NcclCheck, LibraryVersionIsTheLoadedOne) {
  const std::string v = nccl_library_version();
  EXPECT_EQ(v.rfind("2.", 0), 0u) << v;
}

}  // namespace
}  // namespace sadari
