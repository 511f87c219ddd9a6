#include "parallel/planner/layout_spec.h"

#include <cctype>
#include <charconv>
#include <map>

#include "core/error.h"
#include "parallel/planner/layout_search.h"

namespace sadari {

namespace {

using detail::cat;

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string known_names() {
  std::string out;
  for (const auto& b : builtin_layouts()) out += (out.empty() ? "" : ", ") + b.name;
  return out;
}

const char* kKeys = "pp, dp, ep, mb, microbatches, schedule, chunks, zero, recompute";

}  // namespace

const std::vector<BuiltinLayout>& builtin_layouts() {
  static const std::vector<BuiltinLayout> layouts = {
      {"deepseek-v3", "pp=16,ep=64,schedule=dualpipe,zero=1,mb=1",
       "DeepSeek's pre-training layout (DeepSeek-V3 report, section 3.2): PP16 DualPipe, EP64 "
       "over 8 nodes, ZeRO-1 DP, no TP"},
  };
  return layouts;
}

Layout parse_layout(const std::string& text, int64_t gpus, const Workload& work,
                    const std::string& where) {
  std::string spec = trim(text);
  for (const auto& b : builtin_layouts())
    if (spec == b.name) spec = b.spec;
  if (spec.find('=') == std::string::npos)
    fail(cat("'", text, "' is neither a built-in layout nor a key=value list"), where,
         cat("built-in layouts: ", known_names(), "; or write e.g. pp=16,ep=64,schedule=dualpipe"));

  std::map<std::string, std::string> values;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      fail(cat("'", item, "' is not key=value"), where, cat("keys: ", kKeys));
    std::string key = trim(item.substr(0, eq));
    if (key == "micro_batch") key = "mb";
    if (key == "zero_stage") key = "zero";
    const std::string value = trim(item.substr(eq + 1));
    static const char* known[] = {"pp", "dp", "ep", "mb", "microbatches", "schedule", "chunks",
                                  "zero", "recompute"};
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) fail(cat("unknown layout key '", key, "'"), where, cat("keys: ", kKeys));
    if (!values.emplace(key, value).second)
      fail(cat("layout key '", key, "' given twice"), where, "keep one");
  }

  auto number = [&](const char* key, int64_t fallback) -> int64_t {
    auto it = values.find(key);
    if (it == values.end()) return fallback;
    const std::string& v = it->second;
    int64_t out = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || out < 0)
      fail(cat("layout key ", key, " expects a whole number, got '", v, "'"), where);
    return out;
  };

  Layout l;
  l.pp = number("pp", 1);
  if (l.pp < 1) fail(cat("pp must be >= 1, got ", l.pp), where);
  if (values.count("dp")) {
    l.dp = number("dp", 1);
    if (l.dp < 1 || l.pp * l.dp != gpus)
      fail(cat("pp x dp = ", l.pp, " x ", l.dp, " = ", l.pp * l.dp, " is not the ", gpus,
               " GPUs planned for"),
           where, cat("omit dp to use ", gpus, " / pp, or plan with --gpus ", l.pp * l.dp));
  } else {
    if (gpus % l.pp != 0)
      fail(cat("pp ", l.pp, " does not divide the ", gpus, " GPUs planned for"), where,
           "choose a pp dividing the GPU count");
    l.dp = gpus / l.pp;
  }
  l.ep = number("ep", 1);
  l.micro_batch = number("mb", 1);
  if (l.ep < 1 || l.micro_batch < 1) fail("ep and mb must be >= 1", where);
  if (values.count("microbatches")) {
    l.microbatches = number("microbatches", 1);
  } else {
    if (work.global_batch % (l.dp * l.micro_batch) != 0)
      fail(cat("dp x mb = ", l.dp, " x ", l.micro_batch, " does not divide the global batch ",
               work.global_batch),
           where, "choose mb (or the global batch) so that it does, or give microbatches");
    l.microbatches = work.global_batch / (l.dp * l.micro_batch);
  }
  if (values.count("schedule")) l.schedule = values["schedule"];
  bool schedule_known = false;
  for (const auto& s : pipeline_schedule_names()) schedule_known = schedule_known || s == l.schedule;
  if (!schedule_known)
    fail(cat("unknown schedule '", l.schedule, "'"), where,
         "schedules: gpipe, 1f1b, interleaved, zb-h1, dualpipe, dualpipev");
  const bool two_chunk =
      l.schedule == "interleaved" || l.schedule == "dualpipe" || l.schedule == "dualpipev";
  l.chunks = number("chunks", two_chunk ? 2 : 1);
  l.zero_stage = number("zero", 1);
  if (values.count("recompute")) {
    const std::string& v = values["recompute"];
    if (v == "on" || v == "true" || v == "1") l.recompute = true;
    else if (v == "off" || v == "false" || v == "0") l.recompute = false;
    else fail(cat("recompute expects on or off, got '", v, "'"), where);
  }
  return l;
}

}  // namespace sadari
