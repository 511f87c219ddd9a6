#include "core/config_load.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/config_schema.h"
#include "core/error.h"
#include "core/name_suggest.h"
#include "core/text_file.h"
#include "core/yaml_read.h"

namespace sadari {

namespace {

using detail::cat;

// ---------------------------------------------------------------------------
// Small text helpers

// User text inside a message: control characters escaped and long text cut, so
// that every error stays on one line whatever the input held.
std::string printable(std::string_view text) {
  std::string out;
  size_t shown = 0;
  for (char ch : text) {
    if (++shown > 60) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(ch);
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f) out += cat("\\x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    else out += ch;
  }
  return out;
}

std::string in_quotes(std::string_view text) { return "'" + printable(text) + "'"; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The candidate a mistyped `name` most likely meant, or "" (core/name_suggest.h).
std::string closest(std::string_view name, const std::vector<std::string>& candidates) {
  return closest_name(name, candidates);
}

std::string section_label(std::string_view section) {
  return section.empty() ? "sections" : cat("keys of ", section);
}

// Hint for an unknown `name` inside `section` ("" = top level). `show(best)` turns
// the suggested name into what the user should write (the bare key in a file, the
// full path for --set).
template <typename Show>
std::string unknown_name_hint(std::string_view section, std::string_view name, Show show) {
  std::vector<std::string> children = section_children(section);
  if (std::string best = closest(name, children); !best.empty())
    return cat("did you mean ", in_quotes(show(best)), "?");
  // Right key, wrong section: common when copying between files.
  for (const auto& f : config_fields())
    if (f.key() == name) return cat(in_quotes(name), " is a key of section '", f.section(), "' (", f.path, ")");
  return cat(section_label(section), ": ", join_names(children));
}

std::string child_path(std::string_view section, std::string_view name) {
  return section.empty() ? std::string(name) : cat(section, ".", name);
}

// ---------------------------------------------------------------------------
// Scalars -> typed values (parse_integer, parse_double: core/yaml_read.h)

// Sets the field `f` of `c` from a YAML value node. `where` names the place.
void set_field(Config& c, const FieldSpec& f, const YAML::Node& value, const std::string& where) {
  FieldRef ref = f.ref(c);
  const bool is_string = std::holds_alternative<std::string*>(ref);
  if (value.IsNull() && is_string) {  // `val_path:` with nothing after it: empty
    *std::get<std::string*>(ref) = "";
    return;
  }
  if (!value.IsScalar()) {
    fail(cat("expected ", f.type_name(), ", got ", yaml_kind(value)), where,
         is_string ? "quote the value if it contains ':' or starts with '[' or '{'" : "");
  }
  const std::string& text = value.Scalar();
  auto bad = [&](std::string hint = {}) {
    fail(cat("expected ", f.type_name(), ", got ", in_quotes(text)), where, std::move(hint));
  };
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          IntParse r = parse_integer(text, *p);
          if (r == IntParse::too_large)
            fail(cat(in_quotes(text), " does not fit in a 64-bit integer"), where);
          double as_double;
          if (r != IntParse::ok)
            bad(parse_double(text, as_double) ? "write a whole number without '.' or exponent" : "");
        } else if constexpr (std::is_same_v<T, double>) {
          if (!parse_double(text, *p)) bad();
        } else if constexpr (std::is_same_v<T, bool>) {
          // Only the YAML 1.2 spellings: "yes"/"on" are more often a slip than intent.
          if (text == "true" || text == "True" || text == "TRUE") *p = true;
          else if (text == "false" || text == "False" || text == "FALSE") *p = false;
          else bad();
        } else {
          *p = text;
        }
      },
      ref);
}

// ---------------------------------------------------------------------------
// Walking a parsed file

class FileReader {
 public:
  FileReader(Config& c, std::string name) : c_(c), name_(std::move(name)) {}

  void read_document(const YAML::Node& root) {
    if (root.IsNull()) return;  // empty file: all defaults
    if (!root.IsMap())
      fail(cat("a config file must be a map of sections, got ", yaml_kind(root)), at(root.Mark()),
           cat("start with a section name such as 'model:' (sections: ", join_names(section_children("")), ")"));
    read_section(root, "");
  }

 private:
  std::string at(const YAML::Mark& m) const { return yaml_where(name_, m); }

  void read_section(const YAML::Node& map, const std::string& section) {
    std::map<std::string, int> first_line;  // duplicate keys are silently merged by yaml-cpp
    for (const auto& pair : map) {
      // Copies: yaml-cpp's iterator yields a temporary pair, and nodes are handles.
      const YAML::Node key_node = pair.first;
      const YAML::Node value = pair.second;
      std::string loc = at(key_node.Mark());
      if (!key_node.IsScalar())
        fail(cat("a key must be a plain name, got ", yaml_kind(key_node)),
             section.empty() ? loc : cat(loc, " ", section));
      const std::string& name = key_node.Scalar();
      std::string path = child_path(section, name);
      std::string where = cat(loc, " ", printable(path));

      auto [prev, fresh] = first_line.emplace(name, key_node.Mark().line + 1);
      if (!fresh) fail("duplicate key", where, cat("first set at line ", prev->second, "; keep one"));

      if (const FieldSpec* f = find_field(path)) {
        set_field(c_, *f, value, where);
        c_.origin[path] = loc;
      } else if (is_config_section(path)) {
        c_.origin[path] = loc;
        if (value.IsNull()) continue;  // `model:` with no keys: defaults
        if (path == "parallel" && value.IsScalar() && value.Scalar() == "auto") {
          c_.parallel.auto_plan = true;  // `parallel: auto`: the planner chooses the layout
          c_.origin["parallel.auto_plan"] = loc;
          continue;
        }
        if (!value.IsMap())
          fail(cat("expected a map of keys, got ", yaml_kind(value)), where,
               cat("indent 'key: value' lines under '", name, ":'",
                   path == "parallel" ? " (or write `parallel: auto` to plan the layout)" : ""));
        read_section(value, path);
      } else {
        fail(section.empty() ? "unknown section" : "unknown key", where,
             unknown_name_hint(section, name, [](const std::string& s) { return s; }));
      }
    }
  }

  Config& c_;
  std::string name_;
};

// ---------------------------------------------------------------------------
// Printing

// Shortest decimal text that reads back to exactly `v`; always marked as a float.
std::string double_text(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  // Written so that YAML 1.1 readers (PyYAML) also see a float: a '.' in the
  // mantissa and no leading zeros in the exponent ("1.0e-6", not "1e-06").
  size_t e = s.find('e');
  std::string mantissa = s.substr(0, e), exponent = e == std::string::npos ? "" : s.substr(e + 2);
  if (mantissa.find('.') == std::string::npos) mantissa += ".0";
  if (e == std::string::npos) return mantissa;
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return cat(mantissa, "e", s[e + 1], exponent);
}

// Plain YAML when the text cannot be mistaken for anything else, else double-quoted.
std::string string_text(const std::string& s) {
  bool plain = !s.empty() && s != "~" && s != "null" && s != "Null" && s != "NULL";
  for (size_t i = 0; plain && i < s.size(); ++i) {
    unsigned char ch = s[i];
    bool ok = std::isalnum(ch) || ch == '_' || ch == '/' || ch == '.' || (i > 0 && ch == '-');
    plain = ok;
  }
  if (plain) return s;
  std::string out = "\"";
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out += cat('\\', ch);
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f) out += cat("\\x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    else out += ch;
  }
  return out + "\"";
}

std::string value_text(const FieldSpec& f, const Config& c) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, double>) return double_text(*p);
        else if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return string_text(*p);
        else return std::to_string(*p);
      },
      field_ref(f, c));
}

void print_section(std::ostringstream& out, const Config& c, const std::string& section, int depth) {
  const std::string indent(2 * depth, ' ');
  size_t dot = section.rfind('.');
  out << indent << (dot == std::string::npos ? section : section.substr(dot + 1)) << ":\n";
  for (const auto& f : config_fields()) {
    if (f.section() != section) continue;
    std::string line = cat(indent, "  ", f.key(), ": ", value_text(f, c));
    // Comments start in one column where the value allows, for a readable table.
    constexpr size_t kCommentColumn = 36;
    line.resize(std::max(line.size() + 1, kCommentColumn), ' ');
    out << line << "# " << f.doc << "\n";
  }
  for (const auto& s : config_sections())
    if (s.size() > section.size() && s.starts_with(section + ".") &&
        s.find('.', section.size() + 1) == std::string::npos)
      print_section(out, c, s, depth + 1);
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

void apply_config_override(Config& c, const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos)
    fail("an override must be KEY=VALUE", cat("--set ", in_quotes(text)), "for example --set train.steps=100");
  const std::string key = trim(std::string_view(text).substr(0, eq));
  const std::string where = cat("--set ", printable(key));
  if (key.empty()) fail("an override needs a key before '='", cat("--set ", in_quotes(text)));

  const FieldSpec* f = find_field(key);
  if (!f) {
    if (key == "parallel" && trim(std::string_view(text).substr(eq + 1)) == "auto") {
      c.parallel.auto_plan = true;  // --set parallel=auto, as `parallel: auto` in a file
      c.origin["parallel.auto_plan"] = "--set";
      return;
    }
    if (is_config_section(key))
      fail("is a section, not a key", where, cat("set one of its keys: ", join_names(section_children(key))));
    // Walk the path down the known sections to the first unknown name.
    std::string section;
    std::string_view rest = key;
    while (true) {
      size_t dot = rest.find('.');
      std::string name(rest.substr(0, dot));
      std::string path = child_path(section, name);
      if (dot != std::string_view::npos && is_config_section(path)) {
        section = path;
        rest.remove_prefix(dot + 1);
        continue;
      }
      if (dot != std::string_view::npos && find_field(path))
        fail(cat("'", path, "' is a key, not a section"), where, cat("write --set ", path, "=VALUE"));
      std::string tail = dot == std::string_view::npos ? "" : std::string(rest.substr(dot));
      fail(section.empty() ? "unknown section" : "unknown key", where,
           unknown_name_hint(section, name,
                             [&](const std::string& s) { return child_path(section, s) + tail; }));
    }
  }

  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    fail(cat("cannot read the value as YAML: ", one_line(e.msg)), where,
         "quote it, e.g. --set model.name='\"a: b\"'");
  }
  set_field(c, *f, value, where);
  c.origin[key] = "--set";
}

Config load_config_from_string(const std::string& yaml, const std::string& name,
                               const std::vector<std::string>& overrides) {
  Config c;
  const std::vector<YAML::Node> docs = load_yaml_documents(yaml, name);
  if (docs.size() > 1)
    fail(cat("holds ", docs.size(), " YAML documents; a config is one"), name, "remove the '---' separators");
  try {
    if (!docs.empty()) FileReader(c, name).read_document(docs[0]);
  } catch (const YAML::Exception& e) {  // defensive: node access should not throw on a parsed tree
    fail(cat("cannot read YAML: ", one_line(e.msg)), name);
  }
  for (const auto& o : overrides) apply_config_override(c, o);
  validate_config(c);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text =
      read_text_file(path, "config file", "check the path; it is relative to the current directory",
                     "configs/tiny-moe.yaml");
  return load_config_from_string(text, path, overrides);
}

std::string config_to_yaml(const Config& c) {
  std::ostringstream out;
  out << "# sadari config, fully resolved: every key, defaults included.\n";
  for (const auto& s : config_sections())
    if (s.find('.') == std::string::npos) print_section(out, c, s, 0);
  return out.str();
}

// ---------------------------------------------------------------------------
// Validation

namespace {

// Each key on its own: range, allowed values, non-empty.
void validate_fields(const Config& c) {
  for (const auto& f : config_fields()) {
    std::visit(
        [&](auto* p) {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::string>) {
            if (f.nonempty && p->empty()) fail("must not be empty", c.where(f.path));
            if (!f.choices.empty() && std::find(f.choices.begin(), f.choices.end(), *p) == f.choices.end()) {
              std::string best = closest(*p, f.choices);
              fail(cat(in_quotes(*p), " is not one of: ", join_names(f.choices)), c.where(f.path),
                   best.empty() ? "" : cat("did you mean '", best, "'?"));
            }
          } else if constexpr (!std::is_same_v<T, bool>) {
            if (!f.range.contains(static_cast<double>(*p)))
              fail(cat("must be ", f.range.describe(), ", got ", value_text(f, c)), c.where(f.path));
          }
        },
        field_ref(f, c));
  }
}

// a^b, saturating at `cap` + 1 so that large inputs cannot overflow.
int64_t capped_power(int64_t a, int64_t b, int64_t cap) {
  int64_t r = 1;
  for (int64_t i = 0; i < b; ++i) {
    r *= a;
    if (r > cap) return cap + 1;
  }
  return r;
}

// Rules between keys. Each failure names the key most likely to be wrong and,
// in the hint, where the other key was set.
void validate_relations(const Config& c) {
  const ModelConfig& m = c.model;
  // The other key of a relation, for hints: where it was set, or that it is a default.
  auto also = [&](const char* key) {
    return c.origin.count(key) ? c.where(key) : cat(key, " (default)");
  };

  // Attention shape.
  if (m.head_dim == 0 && m.hidden % m.heads != 0)
    fail(cat("hidden (", m.hidden, ") is not divisible by heads (", m.heads, ")"), c.where("model.heads"),
         cat("choose heads dividing hidden, or set model.head_dim; see ", also("model.hidden")));
  if (m.attention == "mha") {
    if (c.head_dim() % 2 != 0)
      fail(cat("head_dim (", c.head_dim(), ") is odd; RoPE rotates pairs of dimensions"),
           c.where(m.head_dim ? "model.head_dim" : "model.heads"), "make the per-head width even");
    if (m.kv_heads > m.heads || m.heads % c.kv_heads() != 0)
      fail(cat("heads (", m.heads, ") is not a multiple of kv_heads (", m.kv_heads, ")"), c.where("model.kv_heads"),
           "each key/value head serves a whole group of query heads; use a divisor of heads, or 0");
  } else {  // mla
    if (m.kv_heads != 0 && m.kv_heads != m.heads)
      fail("mla has no separate key/value head count", c.where("model.kv_heads"), "leave kv_heads at 0 for mla");
    const std::pair<const char*, int64_t> required[] = {{"model.kv_lora_rank", m.kv_lora_rank},
                                                        {"model.qk_nope_head_dim", m.qk_nope_head_dim},
                                                        {"model.qk_rope_head_dim", m.qk_rope_head_dim},
                                                        {"model.v_head_dim", m.v_head_dim}};
    for (const auto& [key, v] : required)
      if (v <= 0)
        fail(cat("attention mla requires ", key, " > 0, got ", v), c.where(key),
             cat("DeepSeek-V3 uses kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, "
                 "v_head_dim 128; see ", also("model.attention")));
    if (m.qk_rope_head_dim % 2 != 0)
      fail(cat("qk_rope_head_dim (", m.qk_rope_head_dim, ") is odd; RoPE rotates pairs of dimensions"),
           c.where("model.qk_rope_head_dim"));
  }

  // Layers and routing.
  if (m.first_dense_layers > m.layers)
    fail(cat("first_dense_layers (", m.first_dense_layers, ") exceeds layers (", m.layers, ")"),
         c.where("model.first_dense_layers"), cat("see ", also("model.layers")));
  if (m.top_k > m.experts)
    fail(cat("top_k (", m.top_k, ") exceeds experts (", m.experts, ")"), c.where("model.top_k"),
         cat("a token cannot pick more experts than exist; see ", also("model.experts")));
  if (m.experts % m.n_groups != 0)
    fail(cat("experts (", m.experts, ") is not divisible by n_groups (", m.n_groups, ")"),
         c.where("model.n_groups"), "groups must be of equal size");
  if (m.topk_groups > m.n_groups)
    fail(cat("topk_groups (", m.topk_groups, ") exceeds n_groups (", m.n_groups, ")"), c.where("model.topk_groups"));
  if (m.top_k > m.topk_groups * (m.experts / m.n_groups))
    fail(cat("top_k (", m.top_k, ") exceeds the experts in topk_groups groups (", m.topk_groups, " x ",
             m.experts / m.n_groups, ")"),
         c.where("model.top_k"), "raise model.topk_groups or lower model.top_k");

  // Layout. Impossible layouts are rejected here, before any rank starts work.
  const ParallelConfig& p = c.parallel;
  if (p.dp % p.ep != 0)
    fail(cat("ep (", p.ep, ") does not divide dp (", p.dp, ")"), c.where("parallel.ep"),
         cat("expert-parallel groups are carved out of the data-parallel replicas; see ",
             also("parallel.dp")));
  if (p.expert_slots == 0 && m.experts % p.ep != 0)
    fail(cat("ep (", p.ep, ") does not divide experts (", m.experts, ")"), c.where("parallel.ep"),
         "every expert-parallel rank holds the same number of experts; or set "
         "parallel.expert_slots");
  if (p.expert_slots > 0 && m.experts > 0 && p.expert_slots * p.ep < m.experts)
    fail(cat("expert_slots (", p.expert_slots, ") x ep (", p.ep, ") = ", p.expert_slots * p.ep,
             " slots cannot hold the ", m.experts, " experts"),
         c.where("parallel.expert_slots"),
         cat("use at least ", (m.experts + p.ep - 1) / p.ep, " slots per rank, or 0"));
  if (p.expert_slots > m.experts && m.experts > 0)
    fail(cat("expert_slots (", p.expert_slots, ") exceeds experts (", m.experts, ")"),
         c.where("parallel.expert_slots"),
         "a rank holds at most one replica of each expert; replicas go on other ep ranks");
  if (p.rebalance_every > 0 && p.expert_policy == "identity" && p.expert_slots * p.ep > m.experts)
    fail(cat("expert_policy identity places no replicas, but expert_slots x ep = ",
             p.expert_slots * p.ep, " slots exceed the ", m.experts, " experts"),
         c.where("parallel.expert_policy"), "use greedy, global or hierarchical to fill replicas");
  if (p.zero_stage > 1)
    fail(cat("zero_stage ", p.zero_stage, " is not supported"), c.where("parallel.zero_stage"),
         "use 0 (replicated optimizer state) or 1 (sharded, ZeRO-1)");
  // Pipeline: the schedule decides how many stages a rank holds.
  const bool two_chunk_schedule = p.schedule == "dualpipe" || p.schedule == "dualpipev";
  if (two_chunk_schedule && p.chunks != 2)
    fail(cat("schedule ", p.schedule, " needs chunks = 2, got ", p.chunks), c.where("parallel.chunks"),
         "set parallel.chunks=2 (each rank holds two stages of the V or bidirectional pipeline)");
  if (p.schedule == "interleaved" && p.chunks < 2)
    fail(cat("schedule interleaved needs chunks >= 2, got ", p.chunks), c.where("parallel.chunks"),
         "set parallel.chunks=2, or use schedule 1f1b for one chunk per rank");
  if (!two_chunk_schedule && p.schedule != "interleaved" && p.chunks != 1)
    fail(cat("schedule ", p.schedule, " runs one chunk per rank, got chunks = ", p.chunks),
         c.where("parallel.chunks"), "set parallel.chunks=1, or use schedule interleaved");
  if (p.schedule == "dualpipe" && p.pp % 2 != 0)
    fail(cat("schedule dualpipe needs an even pp, got ", p.pp), c.where("parallel.pp"),
         "DualPipe pairs rank r with rank pp-1-r; use an even pp or schedule dualpipev");
  const int64_t stages = p.pipeline_stages();
  if (stages > m.layers)
    fail(cat(stages == p.pp ? cat("pp (", p.pp, ")")
                            : cat("pp x chunks (", p.pp, " x ", p.chunks, " = ", stages, " stages)"),
             " exceeds layers (", m.layers, ")"),
         c.where(stages == p.pp ? "parallel.pp" : "parallel.chunks"),
         "each pipeline stage needs at least one layer: lower parallel.pp or parallel.chunks, or "
         "raise model.layers");
  std::vector<int64_t> counts;
  try {
    counts = p.stage_layer_counts();
  } catch (const Error& e) {
    fail(e.what_failed(), c.where("parallel.stage_layers"), e.hint());
  }
  if (!counts.empty()) {
    if (static_cast<int64_t>(counts.size()) != stages)
      fail(cat("stage_layers lists ", counts.size(), " stages, but the pipeline has ", stages),
           c.where("parallel.stage_layers"),
           cat("give one layer count per pipeline stage (", stages, " = ",
               p.schedule == "dualpipe" ? "pp" : "pp x chunks", ")"));
    int64_t total = 0;
    for (size_t s = 0; s < counts.size(); ++s) {
      if (counts[s] < 1)
        fail(cat("stage ", s, " gets no layer"), c.where("parallel.stage_layers"),
             "every pipeline stage needs at least one layer");
      total += counts[s];
    }
    if (total != m.layers)
      fail(cat("stage_layers covers ", total, " layers, but the model has ", m.layers,
               total < m.layers ? " (layers dropped)" : " (layers duplicated)"),
           c.where("parallel.stage_layers"),
           cat("make the counts sum to model.layers; see ", also("model.layers")));
  }

  // Batch and sequence.
  const TrainConfig& t = c.train;
  if (t.global_batch % t.micro_batch != 0)
    fail(cat("micro_batch (", t.micro_batch, ") does not divide global_batch (", t.global_batch, ")"),
         c.where("train.micro_batch"), cat("see ", also("train.global_batch")));
  if ((t.global_batch / t.micro_batch) % p.dp != 0)
    fail(cat("the ", t.global_batch / t.micro_batch, " micro-batches of a step cannot be split evenly over dp (",
             p.dp, ") replicas"),
         c.where("train.global_batch"), "make global_batch a multiple of micro_batch * dp");
  if (t.seq_len > m.max_seq_len)
    fail(cat("seq_len (", t.seq_len, ") exceeds model.max_seq_len (", m.max_seq_len, ")"), c.where("train.seq_len"),
         cat("see ", also("model.max_seq_len")));

  // Optimizer.
  const OptimConfig& o = c.optim;
  if (o.min_lr > o.lr)
    fail(cat("min_lr (", o.min_lr, ") exceeds lr (", o.lr, ")"), c.where("optim.min_lr"));
  if (o.warmup_steps > t.steps)
    fail(cat("warmup_steps (", o.warmup_steps, ") exceeds train.steps (", t.steps, ")"),
         c.where("optim.warmup_steps"), cat("see ", also("train.steps")));

  // Data.
  const DataConfig& d = c.data;
  if (d.source == "shards" && d.train_path.empty())
    fail("data.source shards requires data.train_path", c.where("data.source"),
         "set data.train_path to a token shard (see `sadari prepare`)");
  if (d.val_path.empty() && d.val_fraction <= 0)
    fail("val_fraction must be > 0 when data.val_path is empty", c.where("data.val_fraction"),
         "validation data is split off the training data; set a fraction or a val_path");
  // The Markov source holds a table of symbols^order contexts x symbols next-symbol
  // probabilities; these bounds keep it in megabytes and built in well under a second.
  const SyntheticConfig& s = d.synthetic;
  constexpr int64_t kMaxContexts = int64_t{1} << 20, kMaxTable = int64_t{1} << 22;
  if (capped_power(s.symbols, s.order, kMaxContexts) > kMaxContexts ||
      capped_power(s.symbols, s.order + 1, kMaxTable) > kMaxTable)
    fail(cat("symbols^order (", s.symbols, "^", s.order, ") is too large for the synthetic source"),
         c.where("data.synthetic.order"),
         "keep symbols^order <= 2^20 and symbols^(order+1) <= 2^22; lower order or symbols");

}

}  // namespace

void validate_config(const Config& c) {
  validate_fields(c);
  validate_relations(c);
}

}  // namespace sadari
