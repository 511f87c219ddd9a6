#include "apps/ckpt_command.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "apps/command_line.h"
#include "apps/commands.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/safetensors_export.h"
#include "core/dtype.h"

namespace sadari {

namespace {

const char* kUsage =
    "usage: sadari ckpt inspect DIR [--json]\n"
    "       sadari ckpt verify DIR\n"
    "       sadari ckpt export DIR --format safetensors OUT [--dtype f32|bf16]\n\n"
    "DIR is a checkpoint directory (step-NNNNNNNN) or a checkpoint root, whose\n"
    "'latest' names the newest complete checkpoint.\n"
    "inspect: step, sadari version, layout, every tensor with shape, dtype, pieces, bytes.\n"
    "verify:  reads every piece and checks its size and CRC-32; exit 1 on any problem.\n"
    "export:  the model weights as one Hugging Face safetensors file (DeepSeek-V3 names,\n"
    "         docs/checkpoints.md), written atomically.";

const std::vector<OptionSpec> kOptions = {
    {"json", false, false, "inspect: print the manifest (without the config) as JSON"},
    {"format", true, false, "export: the output format (safetensors)"},
    {"dtype", true, false, "export: f32 (default) or bf16"},
    {"help", false, false, "show this help"},
};

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

int inspect(const CheckpointReader& r, bool json) {
  const ckpt::Manifest& m = r.manifest();
  if (json) {
    ckpt::Manifest shown = m;
    shown.clear_config_yaml();  // YAML inside JSON helps nobody; `inspect` shows it
    std::string text;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    opts.preserve_proto_field_names = true;
    const auto status = google::protobuf::util::MessageToJsonString(shown, &text, opts);
    if (!status.ok()) fail(detail::cat("could not print the manifest as JSON: ", status.ToString()));
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  std::printf("checkpoint %s\n", r.dir().c_str());
  std::printf("  step %lld, written by sadari %s%s%s\n", static_cast<long long>(m.step()),
              m.sadari_version().c_str(), m.git_commit().empty() ? "" : " commit ",
              m.git_commit().c_str());
  const ckpt::Layout& l = m.layout();
  std::printf("  layout: world %lld = pp %lld x dp %lld, ep %lld, zero %lld%s%s\n",
              static_cast<long long>(l.world()), static_cast<long long>(l.pp()),
              static_cast<long long>(l.dp()), static_cast<long long>(l.ep()),
              static_cast<long long>(l.zero_stage()), l.schedule().empty() ? "" : ", schedule ",
              l.schedule().c_str());
  std::printf("  %d tensors, %d data files, %s\n", m.tensors_size(), m.files_size(),
              human_bytes(static_cast<double>(r.data_bytes())).c_str());
  for (const auto& [key, value] : m.counters())
    std::printf("  %s = %lld\n", key.c_str(), static_cast<long long>(value));
  for (const auto& [key, value] : m.notes()) std::printf("  %s: %s\n", key.c_str(), value.c_str());
  std::printf("\n  %-52s %-8s %-6s %-18s %s\n", "tensor", "dtype", "pieces", "shape", "bytes");
  for (const ckpt::Tensor& t : m.tensors()) {
    std::string shape;
    for (int i = 0; i < t.shape_size(); ++i)
      shape += detail::cat(i ? "x" : "", t.shape(i));
    uint64_t bytes = 0;
    for (const ckpt::Piece& p : t.pieces()) bytes += p.bytes();
    std::printf("  %-52s %-8s %-6d %-18s %s\n", t.name().c_str(), t.dtype().c_str(),
                t.pieces_size(), shape.c_str(), human_bytes(static_cast<double>(bytes)).c_str());
  }
  return 0;
}

int verify(const CheckpointReader& r) {
  const std::vector<std::string> problems = r.verify();
  int pieces = 0;
  for (const ckpt::Tensor& t : r.manifest().tensors()) pieces += t.pieces_size();
  if (problems.empty()) {
    std::printf("ok: %s: %d pieces in %d files, %s, every checksum matches\n", r.dir().c_str(),
                pieces, r.manifest().files_size(),
                human_bytes(static_cast<double>(r.data_bytes())).c_str());
    return 0;
  }
  for (const std::string& p : problems) std::fprintf(stderr, "damaged: %s\n", p.c_str());
  std::fprintf(stderr, "%s: %zu problem(s); resume from an older checkpoint\n", r.dir().c_str(),
               problems.size());
  return 1;
}

}  // namespace

int cmd_ckpt(const std::vector<std::string>& args) {
  const auto a = parse_args("ckpt", args, kOptions);
  if (a.has("help")) {
    std::printf("%s\n\noptions:\n%s", kUsage, describe_options(kOptions).c_str());
    return 0;
  }
  if (a.positional.empty())
    throw UsageError("missing the action (inspect, verify or export)", {}, "see sadari ckpt --help");
  const std::string action = a.positional[0];
  const size_t wanted = action == "export" ? 3 : 2;
  if (action != "inspect" && action != "verify" && action != "export")
    throw UsageError("unknown action '" + action + "'", {},
                     "actions: inspect, verify, export; see sadari ckpt --help");
  if (a.positional.size() != wanted)
    throw UsageError(detail::cat("ckpt ", action, " takes ", wanted - 1, " argument(s), got ",
                                 a.positional.size() - 1),
                     {}, "see sadari ckpt --help");
  if (a.value("format", "safetensors") != "safetensors")
    throw UsageError("unknown --format '" + a.value("format") + "'", {},
                     "the export format is safetensors");
  const DType dtype = parse_dtype(a.value("dtype", "f32"));
  const CheckpointReader reader(a.positional[1]);
  if (action == "inspect") return inspect(reader, a.has("json"));
  if (action == "verify") return verify(reader);
  const ExportSummary s = export_safetensors(reader, a.positional[2], dtype);
  std::printf("wrote %s: %lld tensors, %s (%s)\n", a.positional[2].c_str(),
              static_cast<long long>(s.tensors), human_bytes(static_cast<double>(s.bytes)).c_str(),
              std::string(dtype_name(dtype)).c_str());
  return 0;
}

}  // namespace sadari
