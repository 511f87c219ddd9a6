// Which contiguous blocks of the model one pipeline stage runs: plain data, so
// that what only plans stages (the stage partitioner, the planner's cost model)
// needs neither the model nor the runtime. model/transformer_stage.h runs a
// stage from it; parallel/stage_partition.h computes them (as StageLayers).
#pragma once

#include <cstdint>

namespace sadari {

// A stage's place in the model: blocks [first, first + count).
struct StageSpan {
  int64_t first = 0;
  int64_t count = 0;
  bool has_embedding = false;  // stage 0
  bool has_head = false;       // the last stage: final norm, head, loss
  int64_t end() const { return first + count; }
};

}  // namespace sadari
