#include "core/yaml_read.h"

#include <algorithm>

#include "core/error.h"

namespace sadari {

const char* yaml_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a scalar";
  }
}

std::string yaml_where(const std::string& file, const YAML::Mark& m) {
  return m.is_null() ? file : detail::cat(file, ":", m.line + 1);
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

std::string join_names(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::vector<YAML::Node> load_yaml_documents(const std::string& text, const std::string& name) {
  try {
    return YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.is_null() ? name : detail::cat(name, ":", e.mark.line + 1, ":", e.mark.column + 1);
    fail(detail::cat("malformed YAML: ", one_line(e.msg)), where,
         "check indentation (spaces, no tabs) and ':' after each key");
  }
}

}  // namespace sadari
