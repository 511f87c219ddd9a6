// Loading, overriding, validating and printing a run configuration.
//
// A config file is a YAML map of sections (model, parallel, train, optim, data,
// checkpoint, logging; data has a subsection data.synthetic) whose keys are the
// fields of core/config.h. Every section and key is optional: an omitted key keeps
// its default, so a file holding only `model:` (configs/models/*.yaml) loads too,
// and an empty file gives all defaults.
//
// Errors: every function here throws sadari::Error and nothing else. Each message
// is one line and names the place: "FILE:LINE key.path" for a key from a file,
// "--set key.path" for an override, "FILE:LINE:COL" for malformed YAML. Unknown keys
// and sections get an edit-distance suggestion ("did you mean 'hidden'?").
//
// The per-key work (types, ranges, allowed values, printing) is driven by the
// field table in core/config_schema.h; cross-key rules live in validate_config.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace sadari {

// Reads the YAML file at `path`, applies `overrides` in order and validates.
// Overrides are "KEY=VALUE" with KEY a full key path ("train.steps=100",
// "data.synthetic.order=3") and VALUE read as a YAML scalar. Fills Config::origin
// (key path -> "FILE:LINE", or "--set" for an override).
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// As load_config, from text already in memory; `name_for_errors` stands for the
// file name in every message and in Config::origin.
Config load_config_from_string(const std::string& yaml, const std::string& name_for_errors,
                               const std::vector<std::string>& overrides = {});

// Applies one "KEY=VALUE" override to `c` without validating (call
// validate_config afterwards). Records origin "--set".
void apply_config_override(Config& c, const std::string& override_text);

// Checks every key's own range / allowed values, then the rules between keys.
// Throws on the first problem, naming the offending key via Config::where.
// load_config calls it; call it again after editing a Config in code.
void validate_config(const Config& c);

// The fully resolved config as YAML: every section and key in schema order, each
// with a one-line comment saying what it means. Doubles are printed in their
// shortest exact form, so loading the text gives back an equal Config.
std::string config_to_yaml(const Config& c);

}  // namespace sadari
