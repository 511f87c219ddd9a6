// A MoE model small enough for exact stage-by-stage comparisons (tests of model
// stages here and of the pipeline executor under tests/mpi): 1 dense block, then
// MoE blocks of 4 experts, top-2, sigmoid scores, an aux loss in every MoE stage.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace sadari::test {

inline ModelConfig pipeline_test_model(int64_t layers, int64_t shared_experts) {
  ModelConfig m;
  m.vocab_size = 40;
  m.hidden = 16;
  m.layers = layers;
  m.heads = 2;
  m.max_seq_len = 16;
  m.dense_ffn_hidden = 24;
  m.first_dense_layers = 1;
  m.experts = 4;
  m.moe_ffn_hidden = 8;
  m.shared_experts = shared_experts;
  m.top_k = 2;
  m.score_func = "sigmoid";
  m.aux_loss_alpha = 0.01;  // every MoE stage contributes an aux loss
  return m;
}

}  // namespace sadari::test
