#include "comm/launch_env.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <numeric>

#include "core/error.h"

extern char** environ;

namespace sadari {
namespace {

const char* get(const EnvironmentVariables& vars, const char* name) {
  const auto it = vars.find(name);
  return it == vars.end() ? nullptr : it->second.c_str();
}

bool has(const EnvironmentVariables& vars, const char* name) { return get(vars, name) != nullptr; }

// A whole-string non-negative decimal integer; anything else names the variable.
int parse_count(const std::string& text, const std::string& variable) {
  int value = -1;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (text.empty() || ec != std::errc() || end != last || value < 0)
    fail(detail::cat("'", text, "' is not a non-negative integer"), "environment " + variable,
         "the launcher sets this variable; check that nothing in the job script overrides it");
  return value;
}

int required(const EnvironmentVariables& vars, const char* name, const char* launcher) {
  const char* value = get(vars, name);
  if (!value)
    fail(detail::cat(name, " is not set although this looks like a ", launcher, " launch"),
         "launch environment",
         "start sadari with mpirun, mpiexec or srun as in launch/README.md; do not set "
         "launcher variables by hand");
  return parse_count(value, name);
}

// A count that must be at least 1 (a size): 0 would make every later division
// and range meaningless, so it is reported here, naming the variable.
int required_size(const EnvironmentVariables& vars, const char* name, const char* launcher) {
  const int value = required(vars, name, launcher);
  if (value < 1)
    fail(detail::cat(name, " is 0"), "environment " + std::string(name),
         "the launcher sets this variable; check that nothing in the job script overrides it");
  return value;
}

// The first of `names` that is set, parsed; nullopt when none is.
std::optional<int> first_of(const EnvironmentVariables& vars, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (const char* value = get(vars, name)) return parse_count(value, name);
  return std::nullopt;
}

std::string in(const LaunchEnvironment& env) {
  return detail::cat("launch environment (", launcher_name(env.launcher), ")");
}

// Ranges every launcher must satisfy.
void check_ranges(const LaunchEnvironment& env) {
  const std::string where = in(env);
  const char* hint = "the launcher's variables contradict each other; start sadari with an "
                     "unmodified mpirun/srun (launch/README.md)";
  if (env.world_size < 1 || env.rank >= env.world_size)
    fail(detail::cat("rank ", env.rank, " is not below the world size ", env.world_size), where, hint);
  if (env.local_size < 1 || env.local_rank >= env.local_size || env.local_size > env.world_size)
    fail(detail::cat("local rank ", env.local_rank, " of local size ", env.local_size,
                     " does not fit world size ", env.world_size),
         where, hint);
  if (env.node_count < 1 || env.node_index >= env.node_count || env.node_count > env.world_size)
    fail(detail::cat("node index ", env.node_index, " of ", env.node_count,
                     " nodes does not fit world size ", env.world_size),
         where, hint);
}

// Node index and count for launchers that report none: block placement of
// local_size ranks per node.
void derive_nodes(LaunchEnvironment& env) {
  env.node_index_derived = true;
  env.node_index = env.rank / env.local_size;
  env.node_count = (env.world_size + env.local_size - 1) / env.local_size;
  env.uniform_local_size = env.world_size % env.local_size == 0;
  env.placed_by_node = env.rank % env.local_size == env.local_rank;
}

struct SlurmStep {
  int rank, world_size, local_rank, node_index, node_count;
  std::vector<int> tasks_per_node;
};

bool in_slurm_step(const EnvironmentVariables& vars) {
  return has(vars, "SLURM_STEP_ID") || has(vars, "SLURM_STEPID");
}

SlurmStep read_slurm_step(const EnvironmentVariables& vars) {
  SlurmStep s{};
  s.rank = required(vars, "SLURM_PROCID", "Slurm step");
  const auto size = first_of(vars, {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"});
  if (!size)
    fail("neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is set in a Slurm step",
         "launch environment (slurm)", "start the job step with srun -n N (launch/slurm/train.sbatch)");
  s.world_size = *size;
  s.local_rank = required(vars, "SLURM_LOCALID", "Slurm step");
  s.node_index = required(vars, "SLURM_NODEID", "Slurm step");
  const auto nodes = first_of(vars, {"SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"});
  s.node_count = nodes ? *nodes : 1;

  if (const char* list = get(vars, "SLURM_STEP_TASKS_PER_NODE")) {
    s.tasks_per_node = parse_slurm_tasks_per_node(list, "SLURM_STEP_TASKS_PER_NODE");
  } else if (const char* list = get(vars, "SLURM_TASKS_PER_NODE")) {
    s.tasks_per_node = parse_slurm_tasks_per_node(list, "SLURM_TASKS_PER_NODE");
  } else if (const char* per_node = get(vars, "SLURM_NTASKS_PER_NODE")) {
    s.tasks_per_node.assign(s.node_count, parse_count(per_node, "SLURM_NTASKS_PER_NODE"));
  } else {
    fail("no per-node task count (SLURM_STEP_TASKS_PER_NODE, SLURM_TASKS_PER_NODE or "
         "SLURM_NTASKS_PER_NODE) in a Slurm step",
         "launch environment (slurm)", "start the job step with srun (launch/slurm/train.sbatch)");
  }
  const long long listed = std::accumulate(s.tasks_per_node.begin(), s.tasks_per_node.end(), 0LL);
  if (static_cast<int>(s.tasks_per_node.size()) != s.node_count || listed != s.world_size)
    fail(detail::cat("the per-node task counts list ", s.tasks_per_node.size(), " nodes and ", listed,
                     " tasks, but the step has ", s.node_count, " nodes and ", s.world_size, " tasks"),
         "launch environment (slurm)",
         "the Slurm variables contradict each other; do not override SLURM_* in the job script");
  return s;
}

void apply_slurm_step(const SlurmStep& s, LaunchEnvironment& env, bool take_rank) {
  if (take_rank) {
    env.rank = s.rank;
    env.world_size = s.world_size;
  }
  env.local_rank = s.local_rank;
  env.node_index = s.node_index;
  env.node_count = s.node_count;
  if (s.node_index >= s.node_count)
    fail(detail::cat("SLURM_NODEID ", s.node_index, " is not below the node count ", s.node_count),
         "launch environment (slurm)", "do not override SLURM_* in the job script");
  env.local_size = s.tasks_per_node[s.node_index];
  env.uniform_local_size = true;
  for (int n : s.tasks_per_node) env.uniform_local_size &= n == s.tasks_per_node[0];
  const int first_rank_here =
      std::accumulate(s.tasks_per_node.begin(), s.tasks_per_node.begin() + s.node_index, 0);
  env.placed_by_node = env.rank == first_rank_here + env.local_rank;
}

void check_pmix_rank(const EnvironmentVariables& vars, const LaunchEnvironment& env) {
  if (const char* pmix = get(vars, "PMIX_RANK")) {
    const int pmix_rank = parse_count(pmix, "PMIX_RANK");
    if (pmix_rank != env.rank)
      fail(detail::cat("PMIX_RANK is ", pmix_rank, " but the ", launcher_name(env.launcher),
                       " variables give rank ", env.rank),
           in(env),
           "the process was started by a different launcher than the one whose variables it "
           "inherited; start it with exactly one of mpirun or srun");
  }
}

}  // namespace

const char* launcher_name(Launcher launcher) {
  switch (launcher) {
    case Launcher::none: return "none";
    case Launcher::openmpi: return "openmpi";
    case Launcher::mpich: return "mpich";
    case Launcher::slurm: return "slurm";
  }
  return "?";
}

std::string LaunchEnvironment::describe() const {
  return detail::cat(launcher_name(launcher), ": rank ", rank, " of ", world_size, ", local rank ",
                     local_rank, " of ", local_size, ", node ", node_index, " of ", node_count,
                     node_index_derived ? " (derived)" : "");
}

std::vector<int> parse_slurm_tasks_per_node(const std::string& text, const std::string& variable) {
  // Entries "N" or "N(xM)" separated by commas.
  const auto malformed = [&] {
    fail(detail::cat("'", text, "' is not a per-node task list like '4(x2),3'"),
         "environment " + variable, "the launcher sets this variable; do not override it");
  };
  std::vector<int> counts;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string entry = text.substr(pos, comma - pos);
    const size_t paren = entry.find('(');
    int tasks = 0, repeat = 1;
    if (paren == std::string::npos) {
      tasks = parse_count(entry, variable);
    } else {
      if (entry.size() < paren + 4 || entry.compare(paren, 2, "(x") != 0 || entry.back() != ')')
        malformed();
      tasks = parse_count(entry.substr(0, paren), variable);
      repeat = parse_count(entry.substr(paren + 2, entry.size() - paren - 3), variable);
    }
    if (repeat < 1) malformed();
    counts.insert(counts.end(), repeat, tasks);
    pos = comma + 1;
  }
  return counts;
}

LaunchEnvironment launch_environment_from(const EnvironmentVariables& vars) {
  LaunchEnvironment env;
  if (const char* cvd = get(vars, "CUDA_VISIBLE_DEVICES")) env.cuda_visible_devices = cvd;

  if (has(vars, "OMPI_COMM_WORLD_RANK")) {
    env.launcher = Launcher::openmpi;
    env.rank = required(vars, "OMPI_COMM_WORLD_RANK", "OpenMPI");
    env.world_size = required_size(vars, "OMPI_COMM_WORLD_SIZE", "OpenMPI");
    env.local_rank = required(vars, "OMPI_COMM_WORLD_LOCAL_RANK", "OpenMPI");
    env.local_size = required_size(vars, "OMPI_COMM_WORLD_LOCAL_SIZE", "OpenMPI");
    derive_nodes(env);
  } else if (has(vars, "PMI_RANK")) {
    env.launcher = Launcher::mpich;
    env.rank = required(vars, "PMI_RANK", "MPICH/PMI");
    env.world_size = required_size(vars, "PMI_SIZE", "MPICH/PMI");
    if (has(vars, "MPI_LOCALRANKID")) {
      env.local_rank = required(vars, "MPI_LOCALRANKID", "MPICH/Hydra");
      env.local_size = required_size(vars, "MPI_LOCALNRANKS", "MPICH/Hydra");
      derive_nodes(env);
    } else if (in_slurm_step(vars)) {
      const SlurmStep step = read_slurm_step(vars);
      if (step.rank != env.rank || step.world_size != env.world_size)
        fail(detail::cat("PMI_RANK/PMI_SIZE say rank ", env.rank, " of ", env.world_size,
                         " but SLURM_PROCID and the step's task count say rank ", step.rank, " of ",
                         step.world_size),
             "launch environment (mpich)", "start the job with exactly one of mpiexec or srun");
      apply_slurm_step(step, env, /*take_rank=*/false);
    } else {
      fail("PMI_RANK is set but no local rank is known (neither MPI_LOCALRANKID nor a Slurm step)",
           "launch environment (mpich)",
           "start sadari with Hydra's mpiexec or with srun, which set the local rank");
    }
  } else if (in_slurm_step(vars)) {
    env.launcher = Launcher::slurm;
    apply_slurm_step(read_slurm_step(vars), env, /*take_rank=*/true);
  } else if (const char* ess = get(vars, "OMPI_MCA_ess"); ess && std::strcmp(ess, "singleton") == 0) {
    // A process started without a launcher that has called MPI_Init: OpenMPI
    // then sets PMIX_RANK=0 for itself (checked below), and it is one process.
  } else if (has(vars, "PMIX_RANK")) {
    fail("PMIX_RANK is set but no launcher variable gives the world size (no OMPI_COMM_WORLD_*, "
         "PMI_* or Slurm step)",
         "launch environment (pmix)",
         "start sadari with OpenMPI's mpirun or with srun --mpi=pmix (launch/README.md)");
  }
  check_ranges(env);
  check_pmix_rank(vars, env);
  return env;
}

LaunchEnvironment detect_launch_environment() {
  // Only the variables launch_environment_from reads, so the map stays small.
  static const char* const prefixes[] = {"OMPI_COMM_WORLD_", "PMI_", "PMIX_RANK", "MPI_LOCAL",
                                         "SLURM_", "CUDA_VISIBLE_DEVICES",
                                         "OMPI_MCA_ess"};
  EnvironmentVariables vars;
  for (char** entry = environ; entry && *entry; ++entry) {
    const char* text = *entry;
    const char* equals = std::strchr(text, '=');
    if (!equals) continue;
    for (const char* prefix : prefixes) {
      if (std::strncmp(text, prefix, std::strlen(prefix)) == 0) {
        vars.emplace(std::string(text, equals), std::string(equals + 1));
        break;
      }
    }
  }
  return launch_environment_from(vars);
}

int gpu_for_local_rank(const LaunchEnvironment& env, int visible_device_count) {
  const std::string visible =
      env.cuda_visible_devices ? "CUDA_VISIBLE_DEVICES='" + *env.cuda_visible_devices + "'"
                               : std::string("CUDA_VISIBLE_DEVICES unset");
  const std::string where = detail::cat("rank ", env.rank, " (local rank ", env.local_rank, " of ",
                                        env.local_size, ", node ", env.node_index, ")");
  if (visible_device_count < 1)
    fail(detail::cat("no CUDA device is visible (", visible, ")"), where,
         "request GPUs for the job (e.g. #SBATCH --gpus-per-node) and check nvidia-smi");
  if (visible_device_count == 1) return 0;
  if (env.local_rank >= visible_device_count)
    fail(detail::cat(env.local_size, " ranks on this node but only ", visible_device_count,
                     " visible CUDA devices (", visible, "); two ranks must not share a GPU"),
         where,
         "start one process per GPU (mpirun -np / srun --ntasks-per-node = GPUs per node)");
  return env.local_rank;
}

int ranks_per_node_for_routing(const LaunchEnvironment& env, long long configured) {
  if (configured > 0) {
    if (env.world_size % configured != 0)
      fail(detail::cat("parallel.ranks_per_node = ", configured, " does not divide the world size ",
                       env.world_size),
           "parallel.ranks_per_node", "set it to the number of processes per node, or 0 for the launcher's");
    return static_cast<int>(configured);
  }
  if (!env.uniform_local_size || env.world_size % env.local_size != 0)
    fail(detail::cat("the launcher placed an uneven number of ranks per node (", env.local_size,
                     " here, world size ", env.world_size, "), so node-limited routing has no node size"),
         "parallel.ranks_per_node",
         "launch the same number of processes on every node, or set parallel.ranks_per_node");
  return env.local_size;
}

void check_launch_matches_world(const LaunchEnvironment& env, int world_rank, int world_size) {
  if (env.rank == world_rank && env.world_size == world_size) return;
  std::string hint = "start sadari with the launcher of the MPI library it was built with (launch/README.md)";
  if (env.launcher == Launcher::none && world_size > 1)
    hint = "no launcher variables were found although MPI has several processes; use mpirun or srun";
  else if (world_size == 1 && env.world_size > 1)
    hint = "MPI started as a single process although the launcher reports several: for srun use "
           "--mpi=pmix (launch/slurm/train.sbatch), for mpirun use the mpirun of the MPI sadari links";
  fail(detail::cat("the MPI world says rank ", world_rank, " of ", world_size, " but the launcher says rank ",
                   env.rank, " of ", env.world_size),
       in(env), hint);
}

}  // namespace sadari
