// "Did you mean ...?" for mistyped names (config keys, cluster keys, choices).
//
// closest_name picks the candidate a mistyped `name` most likely meant, by
// optimal-string-alignment distance (Levenshtein plus adjacent transposition,
// case-insensitive), or a prefix match ("warmup" for "warmup_steps"); "" when
// nothing is close. Pure functions, no state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sadari {

// Case-insensitive optimal-string-alignment distance: "hiden", "hdiden" and
// "Hidden" are all one edit from "hidden".
size_t edit_distance(std::string_view a, std::string_view b);

// Close means few edits relative to the length (names of <= 3 characters allow
// only one), or, failing that, one name a prefix of the other.
std::string closest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace sadari
