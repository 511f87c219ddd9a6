// The `sadari` command line. Only this file turns errors into exit codes:
//   0 success, 1 an Error (one line on stderr), 2 a usage error.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/error.h"

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
    "  version               print the version and the backends this build has\n"
    "\n"
    "Run `sadari COMMAND --help` for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    return sadari::run_command(command, args);
  } catch (const sadari::UsageError& e) {
    // Same one-line shape as any other error; the exit code tells them apart.
    std::fprintf(stderr, "sadari: error: %s\n", e.what());
    return 2;
  } catch (const sadari::Error& e) {
    std::fprintf(stderr, "sadari: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "sadari: error: out of memory (hint: reduce the batch or model size)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sadari: error: %s (hint: this is unexpected; please report it)\n",
                 e.what());
    return 1;
  }
}
