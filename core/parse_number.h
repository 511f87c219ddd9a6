// Text -> numbers, strictly: the whole text, decimal, no surrounding spaces.
// What config files, cluster files, load files (core/yaml_read.h) and the
// benchmarks' options (bench/bench_cli.h) accept as numbers.
#pragma once

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sadari {

enum class IntParse { ok, not_an_integer, too_large };

// Decimal integers only, with an optional '+': "0x10" or "1e3" in a file is more
// likely a slip than intent. Unsigned types reject '-'.
template <typename Int>
IntParse parse_integer(std::string_view s, Int& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (std::is_unsigned_v<Int> && !s.empty() && s[0] == '-') return IntParse::not_an_integer;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || r.ptr != s.data() + s.size()) return IntParse::not_an_integer;
  if (r.ec == std::errc::result_out_of_range) return IntParse::too_large;
  return r.ec == std::errc() ? IntParse::ok : IntParse::not_an_integer;
}

// A finite decimal number with an optional '+' ("nan", "inf" and hex are not).
inline bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, std::chars_format::general);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty() && std::isfinite(out);
}

}  // namespace sadari
