#include "apps/commands.h"

#include <cstdio>
#include <optional>

#include "apps/build_info.h"
#include "apps/ckpt_command.h"
#include "apps/command_line.h"
#include "apps/plan_apply.h"
#include "apps/plan_command.h"
#include "apps/place_experts_command.h"
#include "apps/schedule_command.h"
#include "apps/trainer.h"
#include "comm/abort_job.h"
#include "comm/launch_env.h"
#include "comm/mpi_environment.h"
#include "core/config_load.h"
#include "data/prepare_data.h"
#include "kernels/gemm_backend.h"

#if SADARI_HAVE_CUDA
#include "kernels/cuda/backend_info.h"
#endif
#if SADARI_HAVE_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif

namespace sadari {

namespace {

const std::vector<OptionSpec> kConfigOptions = {
    {"set", true, true, "override a config key: --set train.steps=100 (repeatable)"},
    {"help", false, false, "show this help"},
};

const std::vector<OptionSpec> kTrainOptions = {
    {"set", true, true, "override a config key: --set train.steps=100 (repeatable)"},
    {"plan", true, false, "apply a plan file's layout (sadari plan --output FILE)"},
    {"resume", true, false, "continue from a checkpoint: DIR, a checkpoint root, or latest"},
    {"help", false, false, "show this help"},
};

bool wants_help(const ParsedArgs& a, const std::string& usage,
                const std::vector<OptionSpec>& specs) {
  if (!a.has("help")) return false;
  std::printf("%s\noptions:\n%s", usage.c_str(), describe_options(specs).c_str());
  return true;
}

std::string single_positional(const ParsedArgs& a, const std::string& command,
                              const std::string& what) {
  if (a.positional.size() != 1)
    throw UsageError(detail::cat("expected one ", what, ", got ", a.positional.size(),
                                 " arguments"),
                     {}, "see sadari " + command + " --help");
  return a.positional[0];
}

int cmd_train(const std::vector<std::string>& args) {
  const auto a = parse_args("train", args, kTrainOptions);
  if (wants_help(a,
                 "usage: sadari train CONFIG [--set key=value]... [--plan FILE] [--resume DIR|latest]\n\n"
                 "Trains the model of CONFIG (YAML) and ends with the final validation loss.\n"
                 "Progress: a bar on a terminal, plain lines otherwise (logging.progress);\n"
                 "metrics go to <logging.run_dir>/metrics.jsonl. The layout comes from the\n"
                 "config, from --plan FILE, or is planned for the job's size (`parallel: auto`).\n"
                 "Checkpoints: checkpoint.every/dir/keep; --resume latest continues from\n"
                 "<checkpoint.dir>/latest (any layout: the state is resharded on load).",
                 kTrainOptions))
    return 0;
  std::vector<std::string> overrides = a.all("set");
  if (a.has("resume")) overrides.push_back("checkpoint.resume=" + a.value("resume"));
  Config cfg = load_config(single_positional(a, "train", "CONFIG file"), overrides);
  // Started by a launcher (mpirun, srun): MPI over every process of the job, even
  // a job of one. Started directly: one process, no MPI (no singleton start-up,
  // and a laptop needs no MPI runtime configured).
  const LaunchEnvironment launch = detect_launch_environment();
  std::optional<MpiEnvironment> mpi;
  if (launch.launcher != Launcher::none) {
    mpi.emplace(nullptr, nullptr, static_cast<double>(cfg.parallel.comm_timeout_s));
    check_launch_matches_world(launch, mpi->world().rank(), mpi->world().size());
  }
  // A planned layout (no communication; every rank computes the same one).
  const int world_size = mpi ? mpi->world().size() : 1;
  std::string planned;
  if (a.has("plan")) planned = apply_plan_file(a.value("plan"), cfg, world_size);
  else if (cfg.parallel.auto_plan) planned = resolve_auto_plan(cfg, world_size);
  if (!planned.empty() && (!mpi || mpi->world().rank() == 0)) {
    std::printf("%s\n", planned.c_str());
    std::fflush(stdout);
  }
  TrainResult r;
  try {
    r = mpi ? train(cfg, mpi->world()) : train(cfg);
  } catch (const RankFailure& e) {
    // Peers may be blocked in a collective with this rank: returning would hang
    // them in MPI_Finalize. End the whole job with the message instead.
    abort_job(e.what(), 1);
  } catch (const Error& e) {
    if (!mpi) throw;
    // Found before any communication (check_trainable, the data): every rank
    // has this same error. Rank 0 prints it now and the ranks leave together,
    // so that mpirun, seeing another rank exit non-zero, cannot end the job
    // before the message is out.
    if (mpi->world().rank() == 0) {
      std::fprintf(stderr, "sadari: error: %s\n", e.what());
      std::fflush(stderr);
    }
    mpi->world().barrier();
    throw ReportedError(e.what_failed(), e.where(), e.hint());
  }
  if (mpi && mpi->world().rank() != 0) return 0;
  if (r.entropy_floor)
    std::printf("final validation loss %.4f (entropy floor of the synthetic corpus %.4f)\n",
                r.final_val_loss, *r.entropy_floor);
  else
    std::printf("final validation loss %.4f\n", r.final_val_loss);
  return 0;
}

int cmd_config(const std::vector<std::string>& args) {
  const auto a = parse_args("config", args, kConfigOptions);
  if (wants_help(a,
                 "usage: sadari config CONFIG [--set key=value]...\n\n"
                 "Validates CONFIG and prints every key with its resolved value.",
                 kConfigOptions))
    return 0;
  const Config cfg = load_config(single_positional(a, "config", "CONFIG file"), a.all("set"));
  std::fputs(config_to_yaml(cfg).c_str(), stdout);
  return 0;
}

int cmd_prepare_data(const std::vector<std::string>& args) {
  const std::vector<OptionSpec> specs = {
      {"output", true, false, "the token shard to write (required)"},
      {"help", false, false, "show this help"},
  };
  const auto a = parse_args("prepare-data", args, specs);
  if (wants_help(a,
                 "usage: sadari prepare-data --output FILE INPUT...\n\n"
                 "Tokenizes text files (each file one document; directories are read\n"
                 "recursively in sorted order) with the byte-level tokenizer and writes one\n"
                 "token shard (format: docs/data-format.md). Use it as data.train_path.",
                 specs))
    return 0;
  if (!a.has("output")) throw UsageError("--output FILE is required", {}, "see --help");
  if (a.positional.empty()) throw UsageError("no INPUT files given", {}, "see --help");
  const PrepareDataStats s = prepare_data(a.positional, a.value("output"));
  std::printf("wrote %s: %lld documents, %lld bytes, %lld tokens\n", a.value("output").c_str(),
              static_cast<long long>(s.documents), static_cast<long long>(s.bytes),
              static_cast<long long>(s.tokens));
  return 0;
}

int cmd_version(const std::vector<std::string>& args) {
  const std::vector<OptionSpec> specs = {{"help", false, false, "show this help"}};
  const auto a = parse_args("version", args, specs);
  if (wants_help(a, "usage: sadari version", specs)) return 0;
  std::printf("sadari %s%s%s\n", sadari_version(), *sadari_git_commit() ? " commit " : "",
              sadari_git_commit());
  std::printf("cpu backend: OpenMP; GEMM %s\n", describe_gemm_backend().c_str());
#if SADARI_HAVE_CUDA
  std::printf("cuda backend: %s\n", cuda::backend_info().c_str());
#if SADARI_HAVE_NCCL
  std::printf("nccl: NCCL %s\n", nccl_library_version().c_str());
#endif
#else
  std::printf("cuda backend: not built (configure with -DSADARI_CUDA=ON)\n");
#endif
  return 0;
}

}  // namespace

int run_command(const std::string& command, const std::vector<std::string>& args) {
  if (command == "train") return cmd_train(args);
  if (command == "config") return cmd_config(args);
  if (command == "prepare-data") return cmd_prepare_data(args);
  if (command == "schedule") return cmd_schedule(args);
  if (command == "plan") return cmd_plan(args);
  if (command == "place-experts") return cmd_place_experts(args);
  if (command == "ckpt") return cmd_ckpt(args);
  if (command == "version" || command == "--version") return cmd_version(args);
  throw UsageError("unknown command '" + command + "'", {},
                   "commands: train, config, prepare-data, schedule, plan, place-experts, ckpt, version; see sadari --help");
}

}  // namespace sadari
