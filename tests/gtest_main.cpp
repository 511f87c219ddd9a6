// main() of every GoogleTest executable but tests/mpi's (which has its own):
// chooses the GEMM kernel first, as `sadari` does, so the tests compute with the
// kernel a run would use (kernels/gemm_backend.h), then runs the tests.
#include <gtest/gtest.h>

#include "kernels/gemm_backend.h"

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // may restart the process, before any test runs
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
