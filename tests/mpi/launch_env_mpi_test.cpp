// launch_env under a real launcher: what detect_launch_environment() reads from
// the environment must agree with the MPI world the launcher built. ctest runs
// this under mpirun (mpi.np2/3/4); tests/slurm runs it under `srun --mpi=pmix`.
// The expected local rank, local size and node index are computed serially from
// every rank's host name (gathered over MPI), assuming node-by-node placement,
// which both launch/mpirun.sh and launch/slurm/train.sbatch ask for.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/launch_env.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

using test::world;

constexpr int kHostWords = 8;  // host names up to 63 characters, as int64 words

std::vector<std::string> gather_host_names(Communicator& comm) {
  char name[kHostWords * 8] = {};
  gethostname(name, sizeof(name) - 1);
  int64_t words[kHostWords];
  std::memcpy(words, name, sizeof(words));
  std::vector<int64_t> all(static_cast<size_t>(kHostWords) * comm.size());
  comm.all_gather(words, all.data(), kHostWords, DType::i64);
  std::vector<std::string> hosts;
  for (int r = 0; r < comm.size(); ++r)
    hosts.emplace_back(reinterpret_cast<const char*>(all.data() + r * kHostWords));
  return hosts;
}

TEST(LaunchEnvUnderMpi, MatchesTheMpiWorldAndTheHosts) {
  Communicator& comm = world();
  const std::vector<std::string> hosts = gather_host_names(comm);
  const LaunchEnvironment env = detect_launch_environment();
  SCOPED_TRACE(env.describe());

  EXPECT_NO_THROW(check_launch_matches_world(env, comm.rank(), comm.size()));
  if (comm.size() > 1) {
    EXPECT_NE(env.launcher, Launcher::none);
  }

  // Serial expectation from the host names.
  const std::string& mine = hosts[comm.rank()];
  int local_rank = 0, local_size = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (hosts[r] != mine) continue;
    ++local_size;
    if (r < comm.rank()) ++local_rank;
  }
  std::vector<std::string> distinct;
  for (const auto& h : hosts) {
    if (std::find(distinct.begin(), distinct.end(), h) == distinct.end()) distinct.push_back(h);
  }
  const int node_index =
      static_cast<int>(std::find(distinct.begin(), distinct.end(), mine) - distinct.begin());

  EXPECT_EQ(env.local_rank, local_rank);
  EXPECT_EQ(env.local_size, local_size);
  EXPECT_EQ(env.node_index, node_index);
  EXPECT_EQ(env.node_count, static_cast<int>(distinct.size()));
  EXPECT_TRUE(env.placed_by_node);
}

}  // namespace
}  // namespace sadari
