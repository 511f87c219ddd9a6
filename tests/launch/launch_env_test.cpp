// launch_env: rank, sizes and node from the launchers' variables, with the
// precedence and consistency checks documented in comm/launch_env.h. The
// environments below are what the launchers really set (captured from OpenMPI
// 4.1's mpirun and Slurm 22.05's srun --mpi=pmix on this machine, extended to more
// nodes by the same rules); tests/slurm checks the real thing end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "comm/launch_env.h"
#include "core/error.h"

namespace sadari {
namespace {

// Runs `f`, expects a sadari::Error whose message contains every part.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return;
  }
  ADD_FAILURE() << "no sadari::Error thrown";
}

// `mpirun -np world` on nodes of `local_size` slots, by-slot mapping.
EnvironmentVariables openmpi(int rank, int world, int local_rank, int local_size) {
  return {{"OMPI_COMM_WORLD_RANK", std::to_string(rank)},
          {"OMPI_COMM_WORLD_SIZE", std::to_string(world)},
          {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(local_rank)},
          {"OMPI_COMM_WORLD_LOCAL_SIZE", std::to_string(local_size)},
          {"OMPI_COMM_WORLD_NODE_RANK", std::to_string(local_rank)},
          {"OMPI_UNIVERSE_SIZE", std::to_string(world)},
          {"PMIX_RANK", std::to_string(rank)}};
}

// A task of `srun --mpi=pmix` (a job step).
EnvironmentVariables slurm_step(int procid, int ntasks, int localid, int nodeid, int nnodes,
                                const std::string& tasks_per_node) {
  return {{"SLURM_JOB_ID", "7"},
          {"SLURM_STEP_ID", "0"},
          {"SLURM_STEPID", "0"},
          {"SLURM_PROCID", std::to_string(procid)},
          {"SLURM_NTASKS", std::to_string(ntasks)},
          {"SLURM_STEP_NUM_TASKS", std::to_string(ntasks)},
          {"SLURM_LOCALID", std::to_string(localid)},
          {"SLURM_NODEID", std::to_string(nodeid)},
          {"SLURM_NNODES", std::to_string(nnodes)},
          {"SLURM_STEP_NUM_NODES", std::to_string(nnodes)},
          {"SLURM_JOB_NUM_NODES", std::to_string(nnodes)},
          {"SLURM_TASKS_PER_NODE", tasks_per_node},
          {"SLURM_STEP_TASKS_PER_NODE", tasks_per_node},
          {"PMIX_RANK", std::to_string(procid)}};
}

TEST(LaunchEnv, NoLauncherIsOneProcess) {
  const LaunchEnvironment env = launch_environment_from({{"HOME", "/root"}});
  EXPECT_EQ(env.launcher, Launcher::none);
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_EQ(env.local_size, 1);
  EXPECT_EQ(env.node_index, 0);
  EXPECT_EQ(env.node_count, 1);
  EXPECT_FALSE(env.cuda_visible_devices.has_value());
}

TEST(LaunchEnv, OpenMpiOneNode) {
  const LaunchEnvironment env = launch_environment_from(openmpi(1, 2, 1, 2));
  EXPECT_EQ(env.launcher, Launcher::openmpi);
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 2);
  EXPECT_EQ(env.node_index, 0);
  EXPECT_EQ(env.node_count, 1);
  EXPECT_TRUE(env.node_index_derived);
  EXPECT_TRUE(env.placed_by_node);
  EXPECT_EQ(env.describe(), "openmpi: rank 1 of 2, local rank 1 of 2, node 0 of 1 (derived)");
}

TEST(LaunchEnv, OpenMpiDerivesNodeIndexFromBlockPlacement) {
  // 16 ranks on 2 nodes of 8 GPUs: rank 13 is local rank 5 of node 1.
  const LaunchEnvironment env = launch_environment_from(openmpi(13, 16, 5, 8));
  EXPECT_EQ(env.node_index, 1);
  EXPECT_EQ(env.node_count, 2);
  EXPECT_TRUE(env.uniform_local_size);
  EXPECT_TRUE(env.placed_by_node);
}

TEST(LaunchEnv, OpenMpiMapByNodeIsSeenAsNotPlacedByNode) {
  // --map-by node on 2 nodes: rank 1 is the first rank of node 1.
  const LaunchEnvironment env = launch_environment_from(openmpi(1, 4, 0, 2));
  EXPECT_FALSE(env.placed_by_node);
}

TEST(LaunchEnv, OpenMpiWinsOverSlurmVariablesInheritedFromItsDaemon) {
  // mpirun inside an allocation starts orted with srun; rank 3 inherits the
  // daemon's SLURM_PROCID (its node) and SLURM_LOCALID 0.
  EnvironmentVariables vars = slurm_step(1, 2, 0, 1, 2, "1(x2)");
  vars.erase("PMIX_RANK");
  for (const auto& [k, v] : openmpi(3, 4, 1, 2)) vars[k] = v;
  const LaunchEnvironment env = launch_environment_from(vars);
  EXPECT_EQ(env.launcher, Launcher::openmpi);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.node_index, 1);
}

TEST(LaunchEnv, SlurmStepAsSrunSetsIt) {
  const LaunchEnvironment env = launch_environment_from(slurm_step(1, 2, 1, 0, 1, "2"));
  EXPECT_EQ(env.launcher, Launcher::slurm);
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 2);
  EXPECT_EQ(env.node_index, 0);
  EXPECT_EQ(env.node_count, 1);
  EXPECT_FALSE(env.node_index_derived);
  EXPECT_TRUE(env.placed_by_node);
}

TEST(LaunchEnv, SlurmCompressedTaskListOnSeveralNodes) {
  // 3 nodes of 4 tasks: rank 9 is local 1 on node 2.
  const LaunchEnvironment env = launch_environment_from(slurm_step(9, 12, 1, 2, 3, "4(x3)"));
  EXPECT_EQ(env.local_size, 4);
  EXPECT_EQ(env.node_index, 2);
  EXPECT_EQ(env.node_count, 3);
  EXPECT_TRUE(env.uniform_local_size);
  EXPECT_TRUE(env.placed_by_node);
  EXPECT_EQ(ranks_per_node_for_routing(env, 0), 4);
}

TEST(LaunchEnv, SlurmUnevenNodesHaveNoRoutingNodeSize) {
  // 5 tasks on 2 nodes, 3 + 2: rank 4 is local 1 of 2 on node 1.
  const LaunchEnvironment env = launch_environment_from(slurm_step(4, 5, 1, 1, 2, "3,2"));
  EXPECT_EQ(env.local_size, 2);
  EXPECT_FALSE(env.uniform_local_size);
  EXPECT_TRUE(env.placed_by_node);
  expect_error([&] { ranks_per_node_for_routing(env, 0); }, {"parallel.ranks_per_node", "uneven"});
}

TEST(LaunchEnv, SlurmCyclicDistributionIsNotPlacedByNode) {
  // srun --distribution=cyclic, 2 nodes x 2: rank 1 is local 0 on node 1.
  const LaunchEnvironment env = launch_environment_from(slurm_step(1, 4, 0, 1, 2, "2(x2)"));
  EXPECT_FALSE(env.placed_by_node);
}

TEST(LaunchEnv, SlurmNtasksPerNodeWhenNoListIsSet) {
  EnvironmentVariables vars = slurm_step(5, 8, 1, 1, 2, "");
  vars.erase("SLURM_TASKS_PER_NODE");
  vars.erase("SLURM_STEP_TASKS_PER_NODE");
  vars["SLURM_NTASKS_PER_NODE"] = "4";
  const LaunchEnvironment env = launch_environment_from(vars);
  EXPECT_EQ(env.local_size, 4);
  EXPECT_EQ(env.node_index, 1);
}

TEST(LaunchEnv, SlurmBatchScriptIsOneProcessNotAStep) {
  // What the batch script itself sees with --ntasks=2: no step id.
  const LaunchEnvironment env = launch_environment_from({{"SLURM_JOB_ID", "7"},
                                                         {"SLURM_PROCID", "0"},
                                                         {"SLURM_NTASKS", "2"},
                                                         {"SLURM_LOCALID", "0"},
                                                         {"SLURM_NODEID", "0"},
                                                         {"SLURM_NNODES", "1"},
                                                         {"SLURM_TASKS_PER_NODE", "2"}});
  EXPECT_EQ(env.launcher, Launcher::none);
  EXPECT_EQ(env.world_size, 1);
  // ...so an MPI world of 1 matches, and a world of 2 is reported with a hint.
  check_launch_matches_world(env, 0, 1);
  expect_error([&] { check_launch_matches_world(env, 0, 2); }, {"rank 0 of 2", "use mpirun or srun"});
}

TEST(LaunchEnv, SlurmTaskListMustAgreeWithStep) {
  // The list says 2 nodes x 4 = 8 tasks; the step says 6.
  expect_error([] { launch_environment_from(slurm_step(1, 6, 1, 0, 2, "4(x2)")); },
               {"per-node task counts", "8 tasks", "6 tasks"});
  // The list has 1 node; the step 2.
  expect_error([] { launch_environment_from(slurm_step(1, 2, 1, 0, 2, "2")); },
               {"per-node task counts", "1 nodes"});
}

TEST(LaunchEnv, SlurmStepWithoutProcidNamesIt) {
  EnvironmentVariables vars = slurm_step(0, 2, 0, 0, 1, "2");
  vars.erase("SLURM_PROCID");
  expect_error([&] { launch_environment_from(vars); }, {"SLURM_PROCID is not set"});
}

TEST(LaunchEnv, ParsesSlurmTaskLists) {
  EXPECT_EQ(parse_slurm_tasks_per_node("4(x2),3", "V"), (std::vector<int>{4, 4, 3}));
  EXPECT_EQ(parse_slurm_tasks_per_node("8", "V"), (std::vector<int>{8}));
  EXPECT_EQ(parse_slurm_tasks_per_node("2,1(x3),10", "V"), (std::vector<int>{2, 1, 1, 1, 10}));
  for (const char* bad : {"", "4,", ",4", "4(x)", "(x2)", "4(y2)", "4(x2", "4(x0)", "a", "4 "})
    expect_error([&] { parse_slurm_tasks_per_node(bad, "SLURM_TASKS_PER_NODE"); },
                 {"SLURM_TASKS_PER_NODE"});
}

TEST(LaunchEnv, MpichHydraLocalRank) {
  const LaunchEnvironment env = launch_environment_from(
      {{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}});
  EXPECT_EQ(env.launcher, Launcher::mpich);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 2);
  EXPECT_EQ(env.node_index, 1);
  EXPECT_EQ(env.node_count, 2);
  EXPECT_TRUE(env.node_index_derived);
}

TEST(LaunchEnv, MpichUnderSlurmPmi2TakesLocalRankFromTheStep) {
  EnvironmentVariables vars = slurm_step(5, 8, 1, 1, 2, "4(x2)");
  vars.erase("PMIX_RANK");
  vars["PMI_RANK"] = "5";
  vars["PMI_SIZE"] = "8";
  const LaunchEnvironment env = launch_environment_from(vars);
  EXPECT_EQ(env.launcher, Launcher::mpich);
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 4);
  EXPECT_EQ(env.node_index, 1);
  EXPECT_FALSE(env.node_index_derived);

  vars["PMI_RANK"] = "4";
  expect_error([&] { launch_environment_from(vars); }, {"PMI_RANK/PMI_SIZE say rank 4", "SLURM_PROCID"});
}

TEST(LaunchEnv, MpichWithoutLocalRankIsAnError) {
  expect_error([] { launch_environment_from({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}}); },
               {"MPI_LOCALRANKID", "mpiexec or with srun"});
}

TEST(LaunchEnv, PmixAloneIsAnError) {
  expect_error([] { launch_environment_from({{"PMIX_RANK", "0"}}); }, {"PMIX_RANK", "world size"});
}

TEST(LaunchEnv, OpenMpiSingletonAfterMpiInitIsOneProcess) {
  // What MPI_Init adds to a process started without a launcher (OpenMPI 4.1).
  EnvironmentVariables vars = {{"OMPI_MCA_ess", "singleton"},
                               {"OMPI_MCA_orte_ess_num_procs", "1"},
                               {"PMIX_RANK", "0"},
                               {"PMIX_NAMESPACE", "173539329"}};
  const LaunchEnvironment env = launch_environment_from(vars);
  EXPECT_EQ(env.launcher, Launcher::none);
  EXPECT_EQ(env.world_size, 1);
  vars["PMIX_RANK"] = "1";
  expect_error([&] { launch_environment_from(vars); }, {"PMIX_RANK is 1"});
}

TEST(LaunchEnv, PmixRankMustAgree) {
  EnvironmentVariables vars = slurm_step(1, 2, 1, 0, 1, "2");
  vars["PMIX_RANK"] = "0";
  expect_error([&] { launch_environment_from(vars); }, {"PMIX_RANK is 0", "rank 1"});
}

TEST(LaunchEnv, MalformedNumbersNameTheVariable) {
  for (const char* bad : {"x1", "1 ", "-1", "", "1.5", "99999999999"}) {
    EnvironmentVariables vars = openmpi(0, 2, 0, 2);
    vars["OMPI_COMM_WORLD_LOCAL_RANK"] = bad;
    expect_error([&] { launch_environment_from(vars); }, {"OMPI_COMM_WORLD_LOCAL_RANK", "not a non-negative"});
  }
  EnvironmentVariables vars = openmpi(0, 2, 0, 2);
  vars.erase("OMPI_COMM_WORLD_SIZE");
  expect_error([&] { launch_environment_from(vars); }, {"OMPI_COMM_WORLD_SIZE is not set"});
  vars = openmpi(0, 2, 0, 2);
  vars["OMPI_COMM_WORLD_LOCAL_SIZE"] = "0";
  expect_error([&] { launch_environment_from(vars); }, {"OMPI_COMM_WORLD_LOCAL_SIZE is 0"});
}

TEST(LaunchEnv, OutOfRangeValuesAreRejected) {
  expect_error([] { launch_environment_from(openmpi(2, 2, 0, 2)); }, {"rank 2 is not below the world size 2"});
  expect_error([] { launch_environment_from(openmpi(0, 2, 2, 2)); }, {"local rank 2 of local size 2"});
  expect_error([] { launch_environment_from(openmpi(0, 2, 0, 4)); }, {"local size 4"});
  expect_error([] { launch_environment_from(slurm_step(0, 2, 0, 1, 1, "2")); }, {"SLURM_NODEID 1"});
}

TEST(LaunchEnv, GpuByLocalRank) {
  LaunchEnvironment env = launch_environment_from(openmpi(13, 16, 5, 8));
  EXPECT_EQ(gpu_for_local_rank(env, 8), 5);  // every rank sees the node's 8 GPUs
  EXPECT_EQ(gpu_for_local_rank(env, 1), 0);  // the launcher bound one GPU to this rank
  EXPECT_EQ(gpu_for_local_rank(env, 16), 5);
}

TEST(LaunchEnv, GpuSharingAndMissingDevicesAreErrors) {
  EnvironmentVariables vars = slurm_step(3, 4, 3, 0, 1, "4");
  vars["CUDA_VISIBLE_DEVICES"] = "0,1";
  const LaunchEnvironment env = launch_environment_from(vars);
  ASSERT_EQ(env.cuda_visible_devices, std::optional<std::string>("0,1"));
  expect_error([&] { gpu_for_local_rank(env, 2); },
               {"rank 3 (local rank 3 of 4", "4 ranks on this node but only 2", "CUDA_VISIBLE_DEVICES='0,1'"});
  expect_error([&] { gpu_for_local_rank(env, 0); }, {"no CUDA device is visible"});
}

TEST(LaunchEnv, RanksPerNodeForRouting) {
  const LaunchEnvironment env = launch_environment_from(openmpi(13, 16, 5, 8));
  EXPECT_EQ(ranks_per_node_for_routing(env, 0), 8);
  EXPECT_EQ(ranks_per_node_for_routing(env, 4), 4);  // configured wins
  expect_error([&] { ranks_per_node_for_routing(env, 3); }, {"parallel.ranks_per_node = 3", "16"});
}

TEST(LaunchEnv, MpiWorldMismatchExplainsTheLikelyCause) {
  const LaunchEnvironment env = launch_environment_from(slurm_step(1, 2, 1, 0, 1, "2"));
  check_launch_matches_world(env, 1, 2);
  expect_error([&] { check_launch_matches_world(env, 0, 1); }, {"rank 0 of 1", "--mpi=pmix"});
}

TEST(LaunchEnv, DetectReadsTheProcessEnvironment) {
  // Only meaningful when the test itself was not started by a launcher.
  const LaunchEnvironment outside = detect_launch_environment();
  if (outside.launcher != Launcher::none) GTEST_SKIP() << "test runs under " << outside.describe();
  const auto vars = openmpi(1, 2, 1, 2);
  for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  LaunchEnvironment env;
  try {
    env = detect_launch_environment();
  } catch (...) {
    for (const auto& [k, v] : vars) unsetenv(k.c_str());
    throw;
  }
  for (const auto& [k, v] : vars) unsetenv(k.c_str());
  EXPECT_EQ(env.launcher, Launcher::openmpi);
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.local_size, 2);
}

}  // namespace
}  // namespace sadari
