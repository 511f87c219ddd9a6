// The `sadari` command line. Only this file turns errors into exit codes:
//   0 success, 1 an Error (one line on stderr), 2 a usage error.
// Under a launcher (mpirun -np N sadari ...) every rank runs this; errors that
// reach main are the ones every rank hits the same way (usage, config, layout,
// data: found before any communication), so only world rank 0 prints them and
// every rank exits with the same status. Errors of one rank after communication
// started never get here: `sadari train` ends the job with abort_job.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "apps/commands.h"
#include "comm/launch_env.h"
#include "core/error.h"
#include "kernels/gemm_backend.h"

namespace {

const char* kUsage =
    "sadari: train Mixture-of-Experts language models (DeepSeek-V3 style)\n"
    "\n"
    "usage: sadari COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  train CONFIG          train a model (configs/tiny-moe.yaml trains on a laptop CPU)\n"
    "  config CONFIG         print the fully resolved configuration\n"
    "  prepare-data          turn text files into a token shard\n"
    "  schedule              generate, check and simulate a pipeline schedule\n"
    "  plan MODEL CLUSTER    choose the parallel layout: memory, time, MFU per layout\n"
    "  place-experts         place experts (with replicas) on GPUs from load counts\n"
    "  ckpt                  inspect, verify or export (safetensors) a checkpoint\n"
    "  version               print the version and the backends this build has\n"
    "\n"
    "Run `sadari COMMAND --help` for a command's options.\n";

// True unless this is a rank other than 0 of a launched job.
bool reports_errors() {
  try {
    return sadari::detect_launch_environment().rank == 0;
  } catch (const sadari::Error&) {
    return true;  // an inconsistent environment: better every rank than none
  }
}

void report(const char* line) {
  if (reports_errors()) {
    std::fprintf(stderr, "sadari: error: %s\n", line);
    std::fflush(stderr);
    return;
  }
  // Another rank of a launched job: its error is rank 0's too (config and
  // layout checks run identically everywhere), and rank 0 prints it. mpirun
  // ends the whole job as soon as one rank exits non-zero, so leaving at once
  // could kill rank 0 before its message is out: give it a moment.
  std::this_thread::sleep_for(std::chrono::seconds(2));
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: may restart the process with a faster OpenBLAS kernel.
  sadari::select_gemm_kernel(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    return sadari::run_command(command, args);
  } catch (const sadari::ReportedError&) {
    return 1;  // rank 0 printed it (apps/commands.h)
  } catch (const sadari::UsageError& e) {
    // Same one-line shape as any other error; the exit code tells them apart.
    report(e.what());
    return 2;
  } catch (const sadari::Error& e) {
    report(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    report("out of memory (hint: reduce the batch or model size)");
    return 1;
  } catch (const std::exception& e) {
    report((std::string(e.what()) + " (hint: this is unexpected; please report it)").c_str());
    return 1;
  }
}
