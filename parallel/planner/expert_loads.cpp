#include "parallel/planner/expert_loads.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/yaml_read.h"

namespace sadari {

using detail::cat;

namespace {

const char* kFormatHint =
    "expected {\"layers\": [[load, ...], ...]} or {\"layers\": [{\"layer\": i, \"loads\": [...]}, ...]}";

const char* kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "an object";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return n.Tag() == "!" ? "a string" : "a scalar";
  }
}

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  ExpertLoads read(const YAML::Node& root) {
    if (root.IsNull()) fail("the expert load file is empty", name_, kFormatHint);
    if (!root.IsMap()) fail(cat("expected a JSON object, got ", kind_of(root)), at(root), kFormatHint);
    YAML::Node layers;  // a default Node is a defined null, so track presence apart
    bool have_layers = false;
    for (const auto& kv : root) {
      const YAML::Node key = kv.first;
      if (!key.IsScalar() || key.Scalar() != "layers")
        fail(cat("unknown key ", key.IsScalar() ? "'" + key.Scalar() + "'" : std::string(kind_of(key))),
             at(key), "the only key is \"layers\"");
      if (have_layers) fail("\"layers\" given twice", at(key), "keep one");
      layers = kv.second;
      have_layers = true;
    }
    if (!have_layers) fail("no \"layers\" key", at(root), kFormatHint);
    if (!layers.IsSequence()) fail(cat("\"layers\" must be a list, got ", kind_of(layers)), at(layers), kFormatHint);
    if (layers.size() == 0) fail("\"layers\" is an empty list", at(layers), "give at least one layer");

    ExpertLoads out;
    const bool with_ids = layers[0].IsMap();
    std::map<int64_t, int> first_line;  // layer index -> line, for repeats
    int first_row_line = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const YAML::Node entry = layers[i];
      YAML::Node row;
      int64_t id = static_cast<int64_t>(i);
      if (entry.IsMap() != with_ids)
        fail(cat("layer entry ", i, " is ", kind_of(entry), ", entry 0 is ", kind_of(layers[0])), at(entry),
             "use one form for every layer: all rows, or all {\"layer\", \"loads\"} objects");
      if (with_ids) {
        read_entry(entry, id, row);
        auto [prev, fresh] = first_line.emplace(id, line(entry));
        if (!fresh) fail(cat("layer ", id, " given twice"), at(entry), cat("first given at line ", prev->second));
      } else {
        row = entry;
      }
      std::vector<double> loads = read_row(row, id);
      if (i == 0) {
        first_row_line = line(row);
      } else if (loads.size() != out.loads[0].size()) {
        fail(cat("ragged rows: layer ", id, " has ", loads.size(), " loads, layer ", out.layer_ids[0], " (line ",
                 first_row_line, ") has ", out.loads[0].size()),
             at(row), "every layer needs one load per expert");
      }
      out.layer_ids.push_back(id);
      out.loads.push_back(std::move(loads));
    }
    // Ascending layer order.
    std::vector<size_t> order(out.layer_ids.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return out.layer_ids[a] < out.layer_ids[b]; });
    ExpertLoads sorted;
    for (size_t k : order) {
      sorted.layer_ids.push_back(out.layer_ids[k]);
      sorted.loads.push_back(std::move(out.loads[k]));
    }
    return sorted;
  }

 private:
  int line(const YAML::Node& n) const { return n.Mark().is_null() ? 0 : n.Mark().line + 1; }
  std::string at(const YAML::Node& n) const { return yaml_where(name_, n.Mark()); }

  void read_entry(const YAML::Node& entry, int64_t& id, YAML::Node& row) {
    bool have_id = false, have_row = false;
    for (const auto& kv : entry) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      const std::string k = key.IsScalar() ? key.Scalar() : "";
      if (k == "layer") {
        if (have_id) fail("\"layer\" given twice", at(key));
        double v = 0;
        if (!value.IsScalar() || value.Tag() == "!" || !parse_double(value.Scalar(), v) || v < 0 ||
            v != std::floor(v) || v > 1e9)
          fail(cat("\"layer\" must be an integer >= 0, got ", value.IsScalar() ? "'" + value.Scalar() + "'" : kind_of(value)),
               at(value));
        id = static_cast<int64_t>(v);
        have_id = true;
      } else if (k == "loads") {
        if (have_row) fail("\"loads\" given twice", at(key));
        row = value;
        have_row = true;
      } else {
        fail(cat("unknown key ", k.empty() ? std::string(kind_of(key)) : "'" + k + "'", " in a layer object"), at(key),
             "a layer object has \"layer\" and \"loads\"");
      }
    }
    if (!have_id) fail("layer object without \"layer\"", at(entry), "give its layer index, e.g. \"layer\": 3");
    if (!have_row) fail(cat("layer ", id, " has no \"loads\""), at(entry), "give \"loads\": [load, ...]");
  }

  std::vector<double> read_row(const YAML::Node& row, int64_t id) {
    if (!row.IsSequence())
      fail(cat("the loads of layer ", id, " must be a list of numbers, got ", kind_of(row)), at(row), kFormatHint);
    if (row.size() == 0) fail(cat("layer ", id, " has no loads"), at(row), "give one load per expert");
    std::vector<double> loads;
    loads.reserve(row.size());
    for (size_t e = 0; e < row.size(); ++e) {
      const YAML::Node v = row[e];
      double x = 0;
      if (!v.IsScalar() || v.Tag() == "!" || !parse_double(v.Scalar(), x))
        fail(cat("the load of layer ", id, " expert ", e, " is not a number: ",
                 v.IsScalar() ? "'" + v.Scalar() + "'" : std::string(kind_of(v))),
             at(v), "write plain numbers such as 120 or 3.5, unquoted");
      if (x < 0) fail(cat("the load of layer ", id, " expert ", e, " is negative: ", v.Scalar()), at(v),
                      "loads count tokens; they are >= 0");
      loads.push_back(x);
    }
    return loads;
  }

  std::string name_;
};

}  // namespace

ExpertLoads parse_expert_loads(const std::string& text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const std::string where = e.mark.is_null() ? name : cat(name, ":", e.mark.line + 1, ":", e.mark.column + 1);
    fail(cat("malformed JSON: ", one_line(e.msg)), where, "check brackets, commas and quotes");
  }
  try {
    return Reader(name).read(root);
  } catch (const YAML::Exception& e) {  // defensive: node access should not throw on a parsed tree
    fail(cat("cannot read the expert loads: ", one_line(e.msg)), name);
  }
}

ExpertLoads load_expert_loads(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail("expert load file not found", path, "check the path; it is relative to the current directory");
  if (std::filesystem::is_directory(path, ec))
    fail("is a directory, not an expert load file", path, "name a .json file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open the expert load file", path, "check its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("cannot read the expert load file", path);
  return parse_expert_loads(text.str(), path);
}

std::string expert_loads_to_json(const ExpertLoads& loads) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);  // round-trips every double
  out << YAML::Flow << YAML::BeginMap << YAML::Key << YAML::DoubleQuoted << "layers" << YAML::Value
      << YAML::BeginSeq;
  for (size_t i = 0; i < loads.loads.size(); ++i) {
    out << YAML::BeginMap << YAML::Key << YAML::DoubleQuoted << "layer" << YAML::Value << loads.layer_ids[i]
        << YAML::Key << YAML::DoubleQuoted << "loads" << YAML::Value << YAML::BeginSeq;
    for (double x : loads.loads[i]) out << x;
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace sadari
