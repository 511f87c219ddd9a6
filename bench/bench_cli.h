// Command lines of the benchmarks: the parser of the `sadari` subcommands
// (apps/command_line.h: `--key value`, `--key=value`, flags, repeatable
// options, positional arguments), with the benchmark's name in errors, --help,
// and strict typed values (core/parse_number.h: "12x" or "1e3" for a count is
// an error, not 12 or 1).
//
//   const bench::Args args("fp8_gemm_bench", argc, argv, {{"rounds", true, false, "..."}});
//   if (args.help("usage: fp8_gemm_bench [options]")) return 0;
//   const int64_t rounds = args.integer("rounds", 7, 1);
//
// Errors throw UsageError (apps/commands.h), a sadari::Error naming the option;
// run_main prints it after the program's name and returns 2.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "apps/command_line.h"
#include "apps/commands.h"
#include "core/error.h"
#include "core/parse_number.h"

namespace sadari::bench {

class Args {
 public:
  // Parses argv[1..] against `options`; "--help" is added.
  Args(std::string program, int argc, char** argv, std::vector<OptionSpec> options)
      : program_(std::move(program)), options_(std::move(options)) {
    options_.push_back({"help", false, false, "show this help"});
    try {
      parsed_ = parse_args(program_, std::vector<std::string>(argv + 1, argv + argc), options_);
    } catch (const UsageError& e) {
      throw UsageError(e.what_failed(), "", "see " + program_ + " --help");
    }
  }

  // True when --help was given; then prints `usage` and the options (when `print`:
  // pass false on all but one MPI rank).
  bool help(const std::string& usage, bool print = true) const {
    if (!parsed_.has("help")) return false;
    if (print) std::printf("%s\n%s", usage.c_str(), describe_options(options_).c_str());
    return true;
  }

  bool has(const std::string& name) const { return parsed_.has(name); }
  std::string text(const std::string& name, const std::string& fallback = {}) const {
    return parsed_.value(name, fallback);
  }
  std::vector<std::string> all(const std::string& name) const { return parsed_.all(name); }
  const std::vector<std::string>& positional() const { return parsed_.positional; }

  // The whole value as a decimal integer in [min, max]; `fallback` when absent.
  int64_t integer(const std::string& name, int64_t fallback,
                  int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const {
    if (!parsed_.has(name)) return fallback;
    const std::string v = parsed_.value(name);
    int64_t out = 0;
    if (parse_integer(v, out) != IntParse::ok)
      throw UsageError("wants a whole number, got '" + v + "'", "--" + name);
    if (out < min || out > max)
      throw UsageError(detail::cat("must be in [", min, ", ", max, "], got ", out), "--" + name);
    return out;
  }

  // The whole value as a finite decimal number; `fallback` when absent.
  double number(const std::string& name, double fallback) const {
    if (!parsed_.has(name)) return fallback;
    const std::string v = parsed_.value(name);
    double out = 0;
    if (!parse_double(v, out))
      throw UsageError("wants a number, got '" + v + "'", "--" + name);
    return out;
  }

 private:
  std::string program_;
  std::vector<OptionSpec> options_;
  ParsedArgs parsed_;
};

// Runs `body` (returning the exit status); a sadari::Error becomes one line
// "PROGRAM: error: ..." on stderr and exit status 2 (usage) or 1.
template <typename Body>
int run_main(const char* program, Body&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace sadari::bench
