#include "parallel/planner/plan_artifact.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "parallel/planner/layout_search.h"

namespace sadari {

namespace {

using detail::cat;

int32_t to_int32(int64_t v, const char* what) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    fail(cat(what, " = ", v, " does not fit in a plan's 32-bit field"), "plan artifact",
         "this layout or batch is larger than any plan can describe");
  return static_cast<int32_t>(v);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

enum class Format { text, json, binary };

Format format_of(const std::string& path) {
  if (ends_with(path, ".json")) return Format::json;
  if (ends_with(path, ".pb") || ends_with(path, ".binpb")) return Format::binary;
  return Format::text;
}

// Collects the text parser's first error with its (1-based) line and column.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!message_.empty()) return;
    line_ = line + 1;
    column_ = column + 1;
    message_ = message;
  }
  bool any() const { return !message_.empty(); }
  std::string where(const std::string& name) const { return cat(name, ":", line_, ":", column_); }
  const std::string& message() const { return message_; }

 private:
  int line_ = 0, column_ = 0;
  std::string message_;
};

}  // namespace

plan::Plan make_plan(const Estimate& e, const ModelConfig& model, const ClusterSpec& cluster,
                     const Workload& work, const std::string& sadari_version) {
  plan::Plan p;
  p.set_sadari_version(sadari_version);
  p.set_model_name(model.name);
  p.set_cluster_name(cluster.name);
  p.set_accelerator(cluster.gpu.model);
  p.set_world_size(to_int32(e.layout.world(), "world size"));

  plan::Workload* w = p.mutable_workload();
  w->set_global_batch(to_int32(work.global_batch, "global_batch"));
  w->set_seq_len(to_int32(work.seq_len, "seq_len"));
  w->set_precision(work.precision);
  w->set_data_bytes(work.data_bytes);

  const Layout& l = e.layout;
  plan::Layout* pl = p.mutable_layout();
  pl->set_pp(to_int32(l.pp, "pp"));
  pl->set_dp(to_int32(l.dp, "dp"));
  pl->set_ep(to_int32(l.ep, "ep"));
  pl->set_micro_batch(to_int32(l.micro_batch, "micro_batch"));
  pl->set_microbatches(to_int32(l.microbatches, "microbatches"));
  pl->set_schedule(l.schedule);
  pl->set_chunks(to_int32(l.chunks, "chunks"));
  pl->set_zero_stage(to_int32(l.zero_stage, "zero_stage"));
  pl->set_recompute(l.recompute);

  const MemoryBreakdown& m = e.memory;
  plan::Memory* pm = p.mutable_memory();
  pm->set_weights(m.weights);
  pm->set_gradients(m.gradients);
  pm->set_master_weights(m.master_weights);
  pm->set_optimizer_states(m.optimizer_states);
  pm->set_activations(m.activations);
  pm->set_comm_buffers(m.comm_buffers);
  pm->set_runtime_overhead(m.runtime_overhead);
  pm->set_data(m.data);
  pm->set_total(m.total());
  pm->set_limit(cluster.gpu.memory_gb * 1e9);

  const TimeBreakdown& t = e.time;
  plan::Time* pt = p.mutable_time();
  pt->set_compute(t.compute);
  pt->set_ep_dispatch(t.ep_dispatch);
  pt->set_ep_combine(t.ep_combine);
  pt->set_dp_sync(t.dp_sync);
  pt->set_pp_transfer(t.pp_transfer);
  pt->set_bubble(t.bubble);
  pt->set_exposed_comm(t.exposed_comm);
  pt->set_step(t.step);
  pt->set_ep_bytes_per_token(t.ep_bytes_per_token);
  pt->set_ep_inter_node_fraction(t.ep_inter_node_fraction);

  p.set_fits(e.fits);
  p.set_memory_overshoot(e.memory_overshoot);
  p.set_tokens_per_s(e.tokens_per_s);
  p.set_mfu(e.mfu);
  p.set_gpu_hours_per_trillion_tokens(e.gpu_hours_per_trillion_tokens);
  return p;
}

Layout layout_from_plan(const plan::Plan& p) {
  const plan::Layout& pl = p.layout();
  Layout l;
  l.pp = pl.pp();
  l.dp = pl.dp();
  l.ep = pl.ep();
  l.micro_batch = pl.micro_batch();
  l.microbatches = pl.microbatches();
  l.schedule = pl.schedule();
  l.chunks = pl.chunks();
  l.zero_stage = pl.zero_stage();
  l.recompute = pl.recompute();
  return l;
}

Workload workload_from_plan(const plan::Plan& p) {
  Workload w;
  w.global_batch = p.workload().global_batch();
  w.seq_len = p.workload().seq_len();
  w.precision = p.workload().precision();
  w.data_bytes = p.workload().data_bytes();
  return w;
}

Estimate estimate_from_plan(const plan::Plan& p) {
  Estimate e;
  e.layout = layout_from_plan(p);
  const plan::Memory& pm = p.memory();
  e.memory.weights = pm.weights();
  e.memory.gradients = pm.gradients();
  e.memory.master_weights = pm.master_weights();
  e.memory.optimizer_states = pm.optimizer_states();
  e.memory.activations = pm.activations();
  e.memory.comm_buffers = pm.comm_buffers();
  e.memory.runtime_overhead = pm.runtime_overhead();
  e.memory.data = pm.data();
  const plan::Time& pt = p.time();
  e.time.compute = pt.compute();
  e.time.ep_dispatch = pt.ep_dispatch();
  e.time.ep_combine = pt.ep_combine();
  e.time.dp_sync = pt.dp_sync();
  e.time.pp_transfer = pt.pp_transfer();
  e.time.bubble = pt.bubble();
  e.time.exposed_comm = pt.exposed_comm();
  e.time.step = pt.step();
  e.time.ep_bytes_per_token = pt.ep_bytes_per_token();
  e.time.ep_inter_node_fraction = pt.ep_inter_node_fraction();
  e.fits = p.fits();
  e.memory_overshoot = p.memory_overshoot();
  e.tokens_per_s = p.tokens_per_s();
  e.mfu = p.mfu();
  e.gpu_hours_per_trillion_tokens = p.gpu_hours_per_trillion_tokens();
  return e;
}

void check_plan(const plan::Plan& p, const std::string& where) {
  const char* hint = "write a new plan with `sadari plan MODEL CLUSTER --output FILE`";
  if (p.model_name().empty()) fail("the plan names no model (model_name)", where, hint);
  if (!p.has_layout()) fail("the plan has no layout", where, hint);
  if (!p.has_workload()) fail("the plan has no workload", where, hint);
  const plan::Layout& l = p.layout();
  const std::pair<const char*, int64_t> counts[] = {
      {"layout.pp", l.pp()},         {"layout.dp", l.dp()},
      {"layout.ep", l.ep()},         {"layout.micro_batch", l.micro_batch()},
      {"layout.microbatches", l.microbatches()}, {"layout.chunks", l.chunks()},
      {"workload.global_batch", p.workload().global_batch()},
      {"workload.seq_len", p.workload().seq_len()}};
  for (const auto& [name, v] : counts)
    if (v < 1) fail(cat(name, " must be >= 1, got ", v), where, hint);
  if (l.zero_stage() != 0 && l.zero_stage() != 1)
    fail(cat("layout.zero_stage must be 0 or 1, got ", l.zero_stage()), where, hint);
  bool known = false;
  for (const auto& s : pipeline_schedule_names()) known = known || s == l.schedule();
  if (!known)
    fail(cat("layout.schedule '", l.schedule(), "' is not a pipeline schedule"), where,
         "use gpipe, 1f1b, interleaved, zb-h1, dualpipe or dualpipev");
  if (static_cast<int64_t>(l.pp()) * l.dp() != p.world_size())
    fail(cat("world_size ", p.world_size(), " is not layout.pp x layout.dp = ", l.pp(), " x ", l.dp()),
         where, hint);
  if (static_cast<int64_t>(l.dp()) * l.micro_batch() * l.microbatches() != p.workload().global_batch())
    fail(cat("dp x micro_batch x microbatches = ", l.dp(), " x ", l.micro_batch(), " x ",
             l.microbatches(), " is not workload.global_batch ", p.workload().global_batch()),
         where, hint);
}

std::string plan_to_text(const plan::Plan& p) {
  std::string body;
  google::protobuf::TextFormat::Printer printer;
  if (!printer.PrintToString(p, &body)) fail("cannot print the plan as text", "plan artifact");
  return cat("# sadari plan (text format of sadari.plan.Plan, parallel/planner/plan.proto).\n",
             "# ", layout_from_plan(p).describe(), " for ", p.model_name(), " on ", p.cluster_name(),
             ", ", p.world_size(), " GPUs.\n",
             "# Memory in bytes per GPU, time in seconds per step. Use it with\n",
             "#   sadari train CONFIG --plan FILE\n", body);
}

std::string message_to_json(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(m, &out, options);
  if (!status.ok()) fail(cat("cannot print JSON: ", status.ToString()), "plan artifact");
  return out;
}

plan::Plan plan_from_text(const std::string& text, const std::string& name) {
  plan::Plan p;
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &p))
    fail(cat("not a sadari plan in text format: ",
             errors.any() ? errors.message() : std::string("parse failed")),
         errors.any() ? errors.where(name) : name,
         "the file should hold sadari.plan.Plan fields (see parallel/planner/plan.proto)");
  check_plan(p, name);
  return p;
}

plan::Plan plan_from_json(const std::string& json, const std::string& name) {
  plan::Plan p;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &p);
  if (!status.ok())
    fail(cat("not a sadari plan in JSON: ", status.ToString()), name,
         "the file should hold one sadari.plan.Plan object (see parallel/planner/plan.proto)");
  check_plan(p, name);
  return p;
}

plan::Plan plan_from_binary(const std::string& bytes, const std::string& name) {
  plan::Plan p;
  if (!p.ParseFromString(bytes))
    fail("not a binary sadari plan (Protobuf parse failed)", name,
         "binary plans end in .pb or .binpb; name a text plan *.plan.txtpb");
  check_plan(p, name);
  return p;
}

void write_plan_file(const std::string& path, const plan::Plan& p) {
  std::string bytes;
  switch (format_of(path)) {
    case Format::text: bytes = plan_to_text(p); break;
    case Format::json: bytes = message_to_json(p, true) + "\n"; break;
    case Format::binary:
      if (!p.SerializeToString(&bytes)) fail("cannot serialise the plan", path);
      break;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail("cannot write the plan file", path, "check that the folder exists and is writable");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail(cat("cannot write the plan file: ", ec.message()), path);
  }
}

plan::Plan read_plan_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail("plan file not found", path, "write one with `sadari plan MODEL CLUSTER --output FILE`");
  if (std::filesystem::is_directory(path, ec)) fail("is a directory, not a plan file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open the plan file", path, "check its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  switch (format_of(path)) {
    case Format::json: return plan_from_json(text.str(), path);
    case Format::binary: return plan_from_binary(text.str(), path);
    case Format::text: break;
  }
  return plan_from_text(text.str(), path);
}

}  // namespace sadari
