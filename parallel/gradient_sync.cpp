#include "parallel/gradient_sync.h"

#include "core/error.h"
#include "core/profile.h"

namespace sadari {

namespace {
double sum_squares(const float* g, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return s;
}
void scale_in_place(float* g, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) g[i] *= factor;
}
}  // namespace

GradientSync::GradientSync(ParamBuckets& buckets, Communicator& group, Mode mode)
    : buckets_(&buckets), group_(&group), mode_(mode) {
  SADARI_CHECK(buckets.group_size() == group.size(), "GradientSync: buckets laid out for ",
               buckets.group_size(), " ranks, group ", group.name(), " has ", group.size());
  if (mode_ == Mode::reduce_scatter) {
    int64_t total = 0;
    for (const auto& b : buckets.buckets()) total += b.shard_size;
    shard_.assign(static_cast<size_t>(total), 0.0f);
  }
}

void GradientSync::reduce() {
  float* grads = buckets_->grads();
  int64_t shard_cursor = 0;
  for (const auto& b : buckets_->buckets()) {
    if (mode_ == Mode::all_reduce) {
      group_->all_reduce(grads + b.begin, grads + b.begin, b.size, DType::f32, ReduceOp::sum);
    } else {
      group_->reduce_scatter(grads + b.begin, shard_.data() + shard_cursor, b.shard_size,
                             DType::f32, ReduceOp::sum);
      shard_cursor += b.shard_size;
    }
  }
}

double GradientSync::owned_sum_squares() const {
  if (mode_ == Mode::reduce_scatter) return sum_squares(shard_.data(), shard_elements());
  double s = 0;
  const int r = group_->rank();
  for (const auto& b : buckets_->buckets())
    s += sum_squares(buckets_->grads() + b.begin + r * b.shard_size, b.shard_size);
  return s;
}

void GradientSync::scale(float factor) {
  if (mode_ == Mode::reduce_scatter)
    scale_in_place(shard_.data(), shard_elements(), factor);
  else
    scale_in_place(buckets_->grads(), buckets_->size(), factor);
}

}  // namespace sadari
