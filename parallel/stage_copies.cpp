#include "parallel/stage_copies.h"

#include <algorithm>

#include "core/error.h"

namespace sadari {

std::unique_ptr<Communicator> make_stage_copy_group(Communicator& pp) {
  SADARI_CHECK(pp.size() % 2 == 0, "stage copies need an even pp group, got ", pp.size());
  const int r = pp.rank(), mirror = pp.size() - 1 - r;
  return pp.split(std::min(r, mirror), r, "pp-copies");
}

void sum_gradients_over_copies(ParameterStore& params, Communicator& copies) {
  std::vector<Parameter*> trainable;
  for (const auto& p : params.all())
    if (p->trainable) trainable.push_back(p.get());
  std::sort(trainable.begin(), trainable.end(),
            [](const Parameter* a, const Parameter* b) { return a->name < b->name; });
  int64_t total = 0;
  for (const Parameter* p : trainable) total += p->numel();
  std::vector<float> flat(static_cast<size_t>(total));
  int64_t at = 0;
  for (const Parameter* p : trainable) {
    std::copy(p->g<float>(), p->g<float>() + p->numel(), flat.begin() + at);
    at += p->numel();
  }
  copies.all_reduce(flat.data(), total, ReduceOp::sum);
  at = 0;
  for (Parameter* p : trainable) {
    std::copy(flat.begin() + at, flat.begin() + at + p->numel(), p->g<float>());
    at += p->numel();
  }
}

void sum_counts_over_copies(std::vector<std::vector<std::vector<int64_t>>>& counts_by_stage,
                            Communicator& copies) {
  std::vector<int64_t> flat;
  for (const auto& stage : counts_by_stage)
    for (const auto& block : stage) flat.insert(flat.end(), block.begin(), block.end());
  copies.all_reduce(flat.data(), static_cast<int64_t>(flat.size()), ReduceOp::sum);
  size_t i = 0;
  for (auto& stage : counts_by_stage)
    for (auto& block : stage)
      for (auto& c : block) c = flat[i++];
}

}  // namespace sadari
