// Helpers every YAML (and JSON) reader of sadari shares - the config loader
// (core/config_load.cpp), cluster files (parallel/planner/cluster.cpp), expert
// load files (parallel/planner/expert_loads.cpp) - so that their errors name
// places and kinds of node the same way: "FILE:LINE key.path: what (hint: ...)".
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "core/parse_number.h"  // parse_integer, parse_double: scalars -> numbers

namespace sadari {

// What a node is, for "expected X, got <kind>": "a map", "a list", "nothing",
// "a scalar".
const char* yaml_kind(const YAML::Node& n);

// "FILE:LINE" of a mark (lines from 1), or just FILE when the mark is null.
std::string yaml_where(const std::string& file, const YAML::Mark& m);

// A message on one line: newlines and carriage returns become spaces
// (yaml-cpp's messages may hold them).
std::string one_line(std::string s);

// "a, b, c".
std::string join_names(const std::vector<std::string>& items, const char* sep = ", ");

// Every document of `text`. Malformed YAML throws Error "malformed YAML: ..."
// at "NAME:LINE:COL" with a hint about indentation.
std::vector<YAML::Node> load_yaml_documents(const std::string& text, const std::string& name);

}  // namespace sadari
