#include "apps/command_line.h"

#include "apps/commands.h"  // UsageError
#include "core/error.h"

namespace sadari {

std::string ParsedArgs::value(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parse_args(const std::string& command, const std::vector<std::string>& args,
                      const std::vector<OptionSpec>& specs) {
  const std::string where = "sadari " + command;
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a.compare(0, 2, "--") != 0 || a == "--") {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) throw UsageError("unknown option --" + name, where, "see sadari " + command + " --help");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value", where);
      value = args[++i];
    } else if (!spec->takes_value && inline_value) {
      throw UsageError("option --" + name + " takes no value", where);
    }
    if (!spec->repeatable && out.values.count(name))
      throw UsageError("option --" + name + " given twice", where);
    out.values[name].push_back(value);
  }
  return out;
}

std::string describe_options(const std::vector<OptionSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = "  --" + s.name + (s.takes_value ? " VALUE" : "");
    if (left.size() < 24) left.resize(24, ' ');
    out += left + " " + s.help + "\n";
  }
  return out;
}

}  // namespace sadari
