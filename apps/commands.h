// The `sadari` subcommands, callable in-process (tests use this too).
#pragma once

#include <string>
#include <vector>

#include "core/error.h"

namespace sadari {

// A command-line mistake (unknown command, missing argument): exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// An error that rank 0 of a job has already printed ("sadari: error: ..."):
// main() exits 1 without printing it again.
class ReportedError : public Error {
 public:
  using Error::Error;
};

// Runs `sadari <command> <args...>`; returns the exit code. Throws Error or
// UsageError; main() prints them.
int run_command(const std::string& command, const std::vector<std::string>& args);

}  // namespace sadari
