#include "optim/zero1_adamw.h"

#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace sadari {

ShardedAdamW::ShardedAdamW(const OptimConfig& cfg, ParamBuckets& buckets, Communicator& group,
                           const ExecContext& ctx)
    : cfg_(cfg), ctx_(ctx), buckets_(&buckets), group_(&group) {
  SADARI_CHECK(buckets.group_size() == group.size(), "ShardedAdamW: buckets laid out for ",
               buckets.group_size(), " ranks, group ", group.name(), " has ", group.size());
  const int r = group.rank();
  for (const auto& b : buckets.buckets()) {
    shard_offsets_.push_back(shard_total_);
    const int64_t shard_begin = b.begin + r * b.shard_size;
    for (auto s : buckets.segments(shard_begin, shard_begin + b.shard_size)) {
      s.flat_offset = shard_total_ + (s.flat_offset - shard_begin);
      segments_.push_back(s);
    }
    shard_total_ += b.shard_size;
  }
  master_ = Tensor::zeros({shard_total_}, DType::f32, ctx_.device);
  m_ = Tensor::zeros({shard_total_}, DType::f32, ctx_.device);
  v_ = Tensor::zeros({shard_total_}, DType::f32, ctx_.device);
  for (size_t i = 0; i < buckets.buckets().size(); ++i) {
    const auto& b = buckets.buckets()[i];
    std::memcpy(master_.data<float>() + shard_offsets_[i],
                buckets.values() + b.begin + r * b.shard_size,
                static_cast<size_t>(b.shard_size) * sizeof(float));
  }
}

void ShardedAdamW::step(double lr, const float* grad_shard) {
  ++t_;
  const AdamWCoefficients c = adamw_coefficients(cfg_, lr, t_);
  const Tensor grads =
      Tensor::wrap(const_cast<float*>(grad_shard), {shard_total_}, DType::f32, ctx_.device);
  for (const auto& s : segments_) {
    // This parameter's piece of the shard: views of the four buffers.
    const auto piece = [&](const Tensor& t) { return t.rows(s.flat_offset, s.flat_offset + s.count); };
    ops::adamw_update(ctx_, c, s.param->weight_decay, piece(master_), piece(grads), piece(m_),
                      piece(v_));
  }
  // Every rank's updated shard to every rank: the full new parameters everywhere.
  for (size_t i = 0; i < buckets_->buckets().size(); ++i) {
    const auto& b = buckets_->buckets()[i];
    group_->all_gather(master_.data<float>() + shard_offsets_[i], buckets_->values() + b.begin,
                       b.shard_size, DType::f32);
  }
}

void ShardedAdamW::gather_moments(std::vector<float>& m, std::vector<float>& v) {
  m.assign(static_cast<size_t>(buckets_->size()), 0.0f);
  v.assign(m.size(), 0.0f);
  for (size_t i = 0; i < buckets_->buckets().size(); ++i) {
    const auto& b = buckets_->buckets()[i];
    group_->all_gather(m_.data<float>() + shard_offsets_[i], m.data() + b.begin, b.shard_size,
                       DType::f32);
    group_->all_gather(v_.data<float>() + shard_offsets_[i], v.data() + b.begin, b.shard_size,
                       DType::f32);
  }
}

void ShardedAdamW::restore(int64_t steps, const float* m, const float* v) {
  t_ = steps;
  const int r = group_->rank();
  for (size_t i = 0; i < buckets_->buckets().size(); ++i) {
    const auto& b = buckets_->buckets()[i];
    const size_t n = static_cast<size_t>(b.shard_size) * sizeof(float);
    const int64_t from = b.begin + r * b.shard_size;
    std::memcpy(master_.data<float>() + shard_offsets_[i], buckets_->values() + from, n);
    std::memcpy(m_.data<float>() + shard_offsets_[i], m + from, n);
    std::memcpy(v_.data<float>() + shard_offsets_[i], v + from, n);
  }
}

}  // namespace sadari
