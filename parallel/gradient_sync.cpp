#include "parallel/gradient_sync.h"

#include "core/error.h"
#include "core/profile.h"
#include "kernels/ops.h"

namespace sadari {

GradientSync::GradientSync(ParamBuckets& buckets, Communicator& group, Mode mode,
                           const ExecContext& ctx)
    : buckets_(&buckets), group_(&group), mode_(mode), ctx_(ctx) {
  SADARI_CHECK(buckets.group_size() == group.size(), "GradientSync: buckets laid out for ",
               buckets.group_size(), " ranks, group ", group.name(), " has ", group.size());
  if (mode_ == Mode::reduce_scatter) {
    int64_t total = 0;
    for (const auto& b : buckets.buckets()) total += b.shard_size;
    shard_ = Tensor::zeros({total}, DType::f32, ctx_.device);
  }
}

void GradientSync::reduce() {
  float* grads = buckets_->grads();
  int64_t shard_cursor = 0;
  for (const auto& b : buckets_->buckets()) {
    if (mode_ == Mode::all_reduce) {
      group_->all_reduce(grads + b.begin, grads + b.begin, b.size, DType::f32, ReduceOp::sum);
    } else {
      group_->reduce_scatter(grads + b.begin, shard_.data<float>() + shard_cursor, b.shard_size,
                             DType::f32, ReduceOp::sum);
      shard_cursor += b.shard_size;
    }
  }
}

double GradientSync::owned_sum_squares() const {
  if (mode_ == Mode::reduce_scatter) return ops::sum_squares(ctx_, shard_);
  double s = 0;
  const int r = group_->rank();
  for (const auto& b : buckets_->buckets())
    s += ops::sum_squares(ctx_, grads_view(b.begin + r * b.shard_size, b.shard_size));
  return s;
}

void GradientSync::scale(float factor) {
  ops::scale(ctx_, mode_ == Mode::reduce_scatter ? shard_ : grads_view(0, buckets_->size()),
             factor);
}

Tensor GradientSync::grads_view(int64_t begin, int64_t count) const {
  return Tensor::wrap(buckets_->grads() + begin, {count}, DType::f32, ctx_.device);
}

}  // namespace sadari
