#include "optim/param_buckets.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace sadari {

namespace {
constexpr int64_t kAlign = 16;  // elements: 64 bytes of f32
int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
}  // namespace

ParamBuckets::ParamBuckets(std::vector<Parameter*> params, int group_size, int64_t bucket_elements)
    : group_size_(group_size), params_(std::move(params)) {
  SADARI_CHECK(group_size >= 1 && bucket_elements >= 1, "ParamBuckets: group size ", group_size,
               " and bucket size ", bucket_elements, " must be >= 1");
  // Layout first, then storage.
  offsets_.resize(params_.size());
  int64_t cursor = 0;
  Bucket open;
  auto close_bucket = [&](size_t end_param) {
    open.end_param = end_param;
    open.size = round_up(cursor - open.begin, kAlign * group_size_);
    open.shard_size = open.size / group_size_;
    cursor = open.begin + open.size;
    buckets_.push_back(open);
    open = Bucket{};
    open.begin = cursor;
    open.first_param = end_param;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    SADARI_CHECK(p->value.dtype() == DType::f32, "ParamBuckets: parameter ", p->name, " is ",
                 dtype_name(p->value.dtype()), ", expected f32");
    cursor = round_up(cursor, kAlign);
    offsets_[i] = cursor;
    cursor += p->numel();
    if (cursor - open.begin >= bucket_elements) close_bucket(i + 1);
  }
  if (open.first_param < params_.size()) close_bucket(params_.size());
  size_ = cursor;

  values_ = Tensor::zeros({size_}, DType::f32);
  grads_ = Tensor::zeros({size_}, DType::f32);
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    const int64_t n = p->numel(), off = offsets_[i];
    std::memcpy(values() + off, p->w<float>(), static_cast<size_t>(n) * sizeof(float));
    p->value = values_.rows(off, off + n).reshape(p->value.shape());
    p->grad = grads_.rows(off, off + n).reshape(p->grad.shape());
  }
}

std::vector<ParamBuckets::Segment> ParamBuckets::segments(int64_t begin, int64_t end) const {
  SADARI_ASSERT(0 <= begin && begin <= end && end <= size_);
  std::vector<Segment> out;
  // First parameter ending after `begin`.
  size_t i = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), begin) -
                                 offsets_.begin());
  if (i > 0) --i;
  for (; i < params_.size() && offsets_[i] < end; ++i) {
    const int64_t lo = std::max(begin, offsets_[i]);
    const int64_t hi = std::min(end, offsets_[i] + params_[i]->numel());
    if (lo >= hi) continue;
    out.push_back(Segment{params_[i], lo - offsets_[i], lo, hi - lo});
  }
  return out;
}

}  // namespace sadari
