// A small argument parser for the `sadari` subcommands: positional arguments,
// `--flag`, `--key value` / `--key=value`, and repeatable `--set a.b=c`.
// Unknown options are errors naming the option and the subcommand's --help.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sadari {

struct OptionSpec {
  std::string name;        // without dashes: "set", "help", "output"
  bool takes_value;
  bool repeatable = false;
  std::string help;        // one line for --help
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // option -> values ("" for flags)
  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string value(const std::string& name, const std::string& fallback = {}) const;
  std::vector<std::string> all(const std::string& name) const;
};

// Throws UsageError (apps/commands.h; where = "sadari <command>", exit code 2) on
// unknown options, missing values and repeated non-repeatable options.
ParsedArgs parse_args(const std::string& command, const std::vector<std::string>& args,
                      const std::vector<OptionSpec>& specs);

// "  --name VALUE   help" lines for a usage text.
std::string describe_options(const std::vector<OptionSpec>& specs);

}  // namespace sadari
