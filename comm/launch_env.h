// Launch environment: where this process sits in the job (world rank and size,
// rank and size on its node, node index and count), read from the variables the
// launcher sets, before MPI or NCCL is initialised. Used to pick this process's GPU
// (local rank), to default parallel.ranks_per_node (local size) for node-limited
// routing, and to cross-check the MPI world once it exists.
//
// Sources, in order of precedence (the first whose key variable is set wins):
//   1. OpenMPI mpirun/prterun   OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE.
//      OpenMPI gives no node index: it is derived as rank / local_size, which is
//      right for its default by-slot (block) mapping of equally filled nodes
//      (node_index_derived = true). OMPI_COMM_WORLD_NODE_RANK is NOT a node index
//      (it is the rank among this job's processes on the node) and is not used.
//      OpenMPI comes first because `mpirun` inside a Slurm allocation starts its
//      daemons with srun: the ranks then inherit SLURM_PROCID etc. of the daemon,
//      which describe the daemon, not the rank.
//   2. MPICH / Hydra / Intel MPI   PMI_RANK / PMI_SIZE, local rank and size from
//      MPI_LOCALRANKID / MPI_LOCALNRANKS (Hydra), or else from a Slurm step (Slurm's
//      --mpi=pmi2 sets PMI_RANK/PMI_SIZE and no MPI_LOCAL* variables).
//   3. Slurm job step (srun)   SLURM_PROCID, SLURM_STEP_NUM_TASKS (else SLURM_NTASKS),
//      SLURM_LOCALID, SLURM_NODEID, SLURM_STEP_NUM_NODES (else SLURM_NNODES), and
//      the per-node task counts SLURM_STEP_TASKS_PER_NODE (else SLURM_TASKS_PER_NODE,
//      "4(x2),3" form; else SLURM_NTASKS_PER_NODE). Only a process of a job STEP
//      counts (SLURM_STEP_ID or SLURM_STEPID set): the batch script itself also
//      carries SLURM_PROCID=0 and the job's SLURM_NTASKS, but it is one process.
//   4. None of the above: a single process (rank 0 of 1).
// PMIx sets only PMIX_RANK (the size needs the PMIx API); it is used to check the
// rank of sources 1-3, and alone it is an error (world size unknown), except in an
// OpenMPI singleton (OMPI_MCA_ess=singleton: started without a launcher, after
// MPI_Init), which sets PMIX_RANK=0 for itself and is source 4.
// All of this works before and after MPI_Init (launchers set these variables
// before the process starts; MPI_Init adds PMIx and OMPI_MCA_* ones only).
//
// Consistency checks (all throw sadari::Error naming the variable, its value and
// the launcher): every value an integer in range (0 <= rank < size, 0 <= local_rank
// < local_size <= size, 0 <= node_index < node_count <= size); PMIX_RANK equal to
// the chosen rank; Slurm's per-node task counts list node_count nodes, sum to the
// world size, and give this node local_size tasks.
//
// Thread-safety: detect_launch_environment() reads the process environment; call
// it before starting threads that call setenv. Everything else is pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sadari {

enum class Launcher { none, openmpi, mpich, slurm };
const char* launcher_name(Launcher launcher);  // "none", "openmpi", "mpich", "slurm"

struct LaunchEnvironment {
  Launcher launcher = Launcher::none;  // the source the values came from
  int rank = 0, world_size = 1;        // in the whole job
  int local_rank = 0, local_size = 1;  // among this job's processes on this node
  int node_index = 0, node_count = 1;
  // node_index and node_count computed from rank and local_size (OpenMPI), not
  // reported by the launcher: right for block placement on equally filled nodes.
  bool node_index_derived = false;
  // Every node runs the same number of processes (known from Slurm's per-node
  // counts; for other launchers assumed when world_size % local_size == 0).
  bool uniform_local_size = true;
  // Ranks are placed node by node (rank = first rank of this node + local_rank),
  // as sadari's rank order assumes for keeping ep groups inside a node. False for
  // e.g. `srun --distribution=cyclic` or `mpirun --map-by node`: still correct, but
  // the token all-to-all then crosses nodes.
  bool placed_by_node = true;
  // CUDA_VISIBLE_DEVICES as set for this process; nullopt when unset.
  std::optional<std::string> cuda_visible_devices;

  // "slurm: rank 3 of 8, local rank 1 of 4, node 0 of 2"
  std::string describe() const;
};

using EnvironmentVariables = std::map<std::string, std::string>;

// Reads this process's environment. Throws Error on inconsistent variables.
LaunchEnvironment detect_launch_environment();
// The same from an explicit set of variables (what tests and tools use).
LaunchEnvironment launch_environment_from(const EnvironmentVariables& vars);

// The CUDA device index this process should use (for cudaSetDevice), chosen by
// local rank. visible_device_count is what the CUDA runtime reports, which already
// honours CUDA_VISIBLE_DEVICES (devices are renumbered 0..count-1):
//   - one visible device: 0 (the launcher bound one GPU per task, e.g. Slurm's
//     --gpus-per-task=1 or --gpu-bind=single:1, or a per-rank CUDA_VISIBLE_DEVICES);
//   - otherwise local_rank, which must be < visible_device_count.
// Throws Error when no device is visible or there are more ranks on this node
// than visible devices (two ranks must never share a GPU), naming the local rank,
// local size, the visible count and CUDA_VISIBLE_DEVICES.
int gpu_for_local_rank(const LaunchEnvironment& env, int visible_device_count);

// parallel.ranks_per_node for node-limited routing: `configured` when > 0 (it must
// divide the world size), else the launcher's local size, which must then be the
// same on every node and divide the world size. Throws Error naming
// parallel.ranks_per_node and what to set otherwise.
int ranks_per_node_for_routing(const LaunchEnvironment& env, long long configured);

// Checks the environment against the MPI world once it exists (rank and size from
// MPI_Comm_rank/size). Throws Error when they differ, with the likely cause (e.g.
// `sadari` started directly inside a batch script instead of with srun/mpirun,
// or an MPI library that does not match the launcher).
void check_launch_matches_world(const LaunchEnvironment& env, int world_rank, int world_size);

// Slurm's compressed per-node task counts: "4(x2),3" -> {4, 4, 3}. Throws Error on
// malformed input, naming `variable`.
std::vector<int> parse_slurm_tasks_per_node(const std::string& text, const std::string& variable);

}  // namespace sadari
