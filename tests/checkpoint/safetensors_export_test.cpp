// The safetensors export: the name map covers every parameter of the MoE model,
// and a file exported from a real model's checkpoint is read back by Hugging
// Face's own `safetensors` package (tests/checkpoint/read_safetensors.py) with
// identical values, shapes and names.
#include <gtest/gtest.h>
#include <stdio.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "checkpoint/safetensors_export.h"
#include "comm/self_communicator.h"
#include "core/bf16.h"
#include "core/config.h"
#include "model/transformer.h"
#include "tests/checkpoint/checkpoint_test_util.h"

namespace sadari {
namespace {

ModelConfig small_moe() {
  ModelConfig m;  // the defaults are tiny-moe's shape: dense block 0, MoE blocks after
  m.layers = 3;
  m.experts = 4;
  m.vocab_size = 264;
  return m;
}

// Saves every parameter of `model` as one piece.
std::string save_params(const Transformer<float>& model, const std::string& root) {
  std::vector<TensorPiece> pieces;
  for (const auto& p : model.params().all()) {
    const std::vector<int64_t> shape(p->value.shape().begin(), p->value.shape().end());
    pieces.push_back({"param/" + p->name, shape, DType::f32, 0, p->numel(), p->w<float>()});
  }
  ckpt::Manifest h;
  h.set_step(7);
  SelfCommunicator world;
  return save_checkpoint(world, root, h, pieces);
}

TEST(SafetensorsExport, EveryParameterHasAUniqueDeepSeekName) {
  const Transformer<float> model(small_moe(), 3);
  std::set<std::string> names;
  for (const auto& p : model.params().all()) {
    const std::vector<int64_t> shape(p->value.shape().begin(), p->value.shape().end());
    for (const ExportedTensor& t : hf_names_for(p->name, shape)) {
      EXPECT_TRUE(names.insert(t.hf_name).second) << "duplicate " << t.hf_name;
      EXPECT_LT(t.row_begin, t.row_end);
    }
  }
  EXPECT_TRUE(names.count("model.embed_tokens.weight"));
  EXPECT_TRUE(names.count("lm_head.weight"));
  EXPECT_TRUE(names.count("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_TRUE(names.count("model.layers.2.mlp.experts.3.up_proj.weight"));
  EXPECT_TRUE(names.count("model.layers.1.mlp.shared_experts.down_proj.weight"));
  EXPECT_TRUE(names.count("model.layers.1.mlp.gate.e_score_correction_bias"));
  EXPECT_THROW(hf_names_for("blocks.1.something.new", {4}), Error);
}

// Runs the Python reader; returns name -> (dtype, shape, values).
struct ReadTensor {
  std::string dtype, shape;
  std::vector<float> values;
};
std::map<std::string, ReadTensor> read_with_python(const std::string& file) {
  const std::string cmd = std::string(SADARI_PYTHON) + " " + SADARI_SOURCE_DIR +
                          "/tests/checkpoint/read_safetensors.py " + file + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string text;
  char buf[1 << 16];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << cmd << "\n" << text.substr(0, 2000);
  std::map<std::string, ReadTensor> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name;
    ReadTensor t;
    words >> name >> t.dtype >> t.shape;
    for (std::string v; words >> v;) t.values.push_back(std::strtof(v.c_str(), nullptr));
    out[name] = std::move(t);
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

void expect_export_matches(const Transformer<float>& model, const std::string& file, DType dtype) {
  const auto read = read_with_python(file);
  size_t expected_tensors = 0;
  for (const auto& p : model.params().all()) {
    std::vector<int64_t> shape(p->value.shape().begin(), p->value.shape().end());
    const int64_t row = p->numel() / shape[0];
    for (const ExportedTensor& t : hf_names_for(p->name, shape)) {
      ++expected_tensors;
      const auto it = read.find(t.hf_name);
      ASSERT_NE(it, read.end()) << t.hf_name << " missing from the export";
      shape[0] = t.row_end - t.row_begin;
      EXPECT_EQ(it->second.shape, shape_text(shape)) << t.hf_name;
      EXPECT_EQ(it->second.dtype, dtype == DType::f32 ? "F32" : "BF16");
      ASSERT_EQ(it->second.values.size(), static_cast<size_t>(shape[0] * row)) << t.hf_name;
      const float* w = p->w<float>() + t.row_begin * row;
      for (size_t i = 0; i < it->second.values.size(); ++i) {
        const float want = dtype == DType::f32 ? w[i] : round_to_bf16(w[i]);
        ASSERT_EQ(it->second.values[i], want) << t.hf_name << "[" << i << "]";
      }
    }
  }
  EXPECT_EQ(read.size(), expected_tensors);
}

TEST(SafetensorsExport, PythonSafetensorsReadsIdenticalValues) {
  const std::string root = testing::scratch_dir("root");
  const Transformer<float> model(small_moe(), 11);
  const CheckpointReader ckpt(save_params(model, root));
  const std::string f32 = root + "/model.safetensors";
  const ExportSummary s = export_safetensors(ckpt, f32);
  EXPECT_GT(s.tensors, static_cast<int64_t>(model.params().all().size()));  // gate_up splits
  EXPECT_EQ(s.bytes, posix_file_system().file_size(f32));
  expect_export_matches(model, f32, DType::f32);

  const std::string bf16 = root + "/model-bf16.safetensors";
  export_safetensors(ckpt, bf16, DType::bf16);
  expect_export_matches(model, bf16, DType::bf16);
}

TEST(SafetensorsExport, FailureLeavesNoFile) {
  const std::string root = testing::scratch_dir("root");
  const Transformer<float> model(small_moe(), 11);
  const CheckpointReader ckpt(save_params(model, root));
  testing::FullDiskFileSystem full(1000);
  EXPECT_THROW(export_safetensors(ckpt, root + "/out.safetensors", DType::f32, &full), Error);
  EXPECT_FALSE(posix_file_system().exists(root + "/out.safetensors"));
  EXPECT_FALSE(posix_file_system().exists(root + "/out.safetensors.tmp"));
}

}  // namespace
}  // namespace sadari
