// The table of configuration fields: one row per YAML key.
//
// Every per-key behaviour of the loader is driven by this table and nothing else:
// parsing a YAML value, applying a `--set` override, printing the resolved config
// and checking a value's own range or allowed values. Adding a key to Config means
// adding one row here (core/config_schema.cpp). Checks that relate two or more keys
// (top_k <= experts, ep divides dp, ...) are not per-key and live in validate_config.
//
// Thread-safety: the table is built once on first use and is read-only afterwards.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config.h"

namespace sadari {

// A typed pointer to the member a row describes, inside one Config object.
// The alternative held is the field's type.
using FieldRef = std::variant<int64_t*, uint64_t*, double*, bool*, std::string*>;

// Allowed numeric interval; each end open or closed, infinite when unbounded.
struct FieldRange {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  bool contains(double v) const;
  // ">= 1", "> 0", "in [0, 1)", ... for messages and for printed docs.
  std::string describe() const;
};

struct FieldSpec {
  std::string path;                 // full key path: "model.hidden", "data.synthetic.order"
  FieldRef (*ref)(Config&);         // where the value lives in a Config
  FieldRange range;                 // numbers only
  std::vector<std::string> choices; // strings only: allowed values; empty = any
  bool nonempty = false;            // strings only: "" is rejected
  std::string doc;                  // one line, printed as a comment by config_to_yaml

  // The key within its section ("hidden") and the section ("model", "data.synthetic").
  std::string_view key() const;
  std::string_view section() const;
  // "an integer", "a non-negative integer", "a number", "true or false", "a string".
  const char* type_name() const;
};

// All fields, in the order config_to_yaml prints them (section by section).
const std::vector<FieldSpec>& config_fields();

// The row for a full key path, or nullptr.
const FieldSpec* find_field(std::string_view path);

// Section paths in print order: "model", ..., "data", "data.synthetic", ...
const std::vector<std::string>& config_sections();
bool is_config_section(std::string_view path);

// Names directly inside a section ("" = top level): its keys, then its subsections.
std::vector<std::string> section_children(std::string_view section);

// A const view of a row's member; the pointer must only be read.
inline FieldRef field_ref(const FieldSpec& f, const Config& c) {
  // The accessors are written for mutable Configs so that one table serves both
  // parsing and printing; callers of this overload only read through the result.
  return f.ref(const_cast<Config&>(c));
}

}  // namespace sadari
