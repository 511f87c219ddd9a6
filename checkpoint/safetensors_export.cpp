#include "checkpoint/safetensors_export.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "core/bf16.h"
#include "core/error.h"

namespace sadari {

namespace {

constexpr const char* kParamPrefix = "param/";

// "blocks.L.<rest>" -> (L, rest); false for names outside the blocks.
bool split_block(const std::string& name, std::string* layer, std::string* rest) {
  static const std::regex block(R"(blocks\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(name, m, block)) return false;
  *layer = m[1];
  *rest = m[2];
  return true;
}

// A fused gate_up [2F, D] becomes gate_proj (rows [0, F)) and up_proj ([F, 2F)).
std::vector<ExportedTensor> gate_up(const std::string& prefix, int64_t rows) {
  return {{prefix + "gate_proj.weight", 0, rows / 2}, {prefix + "up_proj.weight", rows / 2, rows}};
}

std::string json_escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::vector<ExportedTensor> hf_names_for(const std::string& name,
                                         const std::vector<int64_t>& shape) {
  const int64_t rows = shape.empty() ? 1 : shape[0];
  auto whole = [&](const std::string& hf) { return std::vector<ExportedTensor>{{hf, 0, rows}}; };
  if (name == "embed.weight") return whole("model.embed_tokens.weight");
  if (name == "final_norm.weight") return whole("model.norm.weight");
  if (name == "head.weight") return whole("lm_head.weight");
  std::string layer, rest;
  if (split_block(name, &layer, &rest)) {
    const std::string p = "model.layers." + layer + ".";
    static const std::map<std::string, std::string> simple = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn.wq", "self_attn.q_proj.weight"},
        {"attn.wk", "self_attn.k_proj.weight"},
        {"attn.wv", "self_attn.v_proj.weight"},
        {"attn.wo", "self_attn.o_proj.weight"},
        {"ffn.down", "mlp.down_proj.weight"},
        {"moe.router.weight", "mlp.gate.weight"},
        {"moe.router.bias", "mlp.gate.e_score_correction_bias"},
        {"moe.shared.down", "mlp.shared_experts.down_proj.weight"},
    };
    if (const auto it = simple.find(rest); it != simple.end()) return whole(p + it->second);
    if (rest == "ffn.gate_up") return gate_up(p + "mlp.", rows);
    if (rest == "moe.shared.gate_up") return gate_up(p + "mlp.shared_experts.", rows);
    static const std::regex expert(R"(moe\.experts\.(\d+)\.(gate_up|down))");
    std::smatch m;
    if (std::regex_match(rest, m, expert)) {
      const std::string e = p + "mlp.experts." + std::string(m[1]) + ".";
      return m[2] == "down" ? whole(e + "down_proj.weight") : gate_up(e, rows);
    }
  }
  fail(detail::cat("no Hugging Face name is defined for parameter '", name, "'"), {},
       "extend checkpoint/safetensors_export.cpp's map");
}

ExportSummary export_safetensors(const CheckpointReader& checkpoint, const std::string& out,
                                 DType dtype, FileSystem* fs_or_null) {
  FileSystem& fs = fs_or_null ? *fs_or_null : posix_file_system();
  SADARI_CHECK(dtype == DType::f32 || dtype == DType::bf16,
               "safetensors export supports f32 and bf16, not ", dtype_name(dtype));
  const size_t out_elem = dtype_size(dtype);

  struct Entry {
    const ckpt::Tensor* source;
    ExportedTensor part;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets in the data section
  };
  std::vector<Entry> entries;
  uint64_t offset = 0;
  for (const ckpt::Tensor& t : checkpoint.manifest().tensors()) {
    if (t.name().rfind(kParamPrefix, 0) != 0) continue;
    if (t.dtype() != "f32")
      fail(detail::cat("tensor ", t.name(), " is ", t.dtype(), "; the export reads f32 weights"),
           checkpoint.dir());
    const std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    for (const ExportedTensor& part : hf_names_for(t.name().substr(6), shape)) {
      Entry e{&t, part, shape};
      e.shape[0] = part.row_end - part.row_begin;
      entries.push_back(std::move(e));
    }
  }
  SADARI_CHECK(!entries.empty(), "the checkpoint ", checkpoint.dir(), " holds no model weights");
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.part.hf_name < b.part.hf_name; });
  for (Entry& e : entries) {  // data in header order
    int64_t numel = 1;
    for (int64_t d : e.shape) numel *= d;
    e.begin = offset;
    e.end = offset += static_cast<uint64_t>(numel) * out_elem;
  }

  std::ostringstream json;
  json << "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"sadari\",\"step\":\""
       << checkpoint.manifest().step() << "\"}";
  for (const Entry& e : entries) {
    json << ",\"" << json_escaped(e.part.hf_name) << "\":{\"dtype\":\""
         << (dtype == DType::f32 ? "F32" : "BF16") << "\",\"shape\":[";
    for (size_t i = 0; i < e.shape.size(); ++i) json << (i ? "," : "") << e.shape[i];
    json << "],\"data_offsets\":[" << e.begin << "," << e.end << "]}";
  }
  json << "}";
  std::string header = json.str();
  header.append((8 - header.size() % 8) % 8, ' ');

  const std::string tmp = out + ".tmp";
  try {
    auto file = fs.create(tmp);
    const uint64_t length = header.size();
    file->append(&length, 8);
    file->append(header.data(), header.size());
    std::vector<float> rows;
    std::vector<uint16_t> halves;
    for (const Entry& e : entries) {
      const int64_t row = tensor_numel(*e.source) / (e.source->shape_size() ? e.source->shape(0) : 1);
      rows.resize(static_cast<size_t>((e.part.row_end - e.part.row_begin) * row));
      checkpoint.read(e.source->name(), e.part.row_begin * row, e.part.row_end * row, rows.data());
      if (dtype == DType::f32) {
        file->append(rows.data(), rows.size() * sizeof(float));
      } else {
        halves.resize(rows.size());
        for (size_t i = 0; i < rows.size(); ++i) halves[i] = f32_to_bf16(rows[i]);
        file->append(halves.data(), halves.size() * sizeof(uint16_t));
      }
    }
    file->sync();
    file->close();
    fs.rename(tmp, out);
    const auto parent = std::filesystem::path(out).parent_path();
    fs.sync_dir(parent.empty() ? "." : parent.string());
  } catch (const Error&) {
    try {
      fs.remove_all(tmp);
    } catch (const Error&) {
    }
    throw;
  }
  return {static_cast<int64_t>(entries.size()), 8 + header.size() + offset};
}

}  // namespace sadari
