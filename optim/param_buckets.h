// ParamBuckets: flat, bucketed storage for the parameters that one process group
// reduces together (dense parameters over dp, routed experts over edp).
//
// Why flat: gradient reduction over a group costs a latency per call, so
// parameters are packed into a few large buffers ("buckets") and each bucket is
// reduced with one call, never one call per parameter. The parameters' value and
// grad tensors are re-pointed INTO the flat buffers (views), so backward
// accumulates straight into the bucket and an all-gather of updated values lands
// straight in the model: nothing is packed or unpacked per step.
//
// Layout (the same on every rank of the group, given the same parameter list):
//   parameters in the given order; each starts at a multiple of 16 elements (64
//   bytes, so kernels see aligned rows); a bucket closes once it holds at least
//   bucket_elements; its size is padded to a multiple of 16 * group_size, so it
//   splits into group_size equal shards, each 64-byte aligned. Shard r of a
//   bucket is [begin + r * shard_size, begin + (r+1) * shard_size): under ZeRO-1
//   group rank r owns it (reduce-scatter result, optimizer state). A parameter is
//   never split across buckets, but it may span several shards. Padding is zero
//   and stays zero (its gradient is zero, and the optimizer skips it).
//
// Ownership: owns the flat buffers; the parameters' value/grad views keep them
// alive (shared storage), so the parameters stay valid if this object dies first.
// The parameters are borrowed (their store must outlive this object).
// Thread-safety: immutable after construction (the buffers' contents are not).
#pragma once

#include <cstdint>
#include <vector>

#include "core/parameter.h"

namespace sadari {

class ParamBuckets {
 public:
  struct Bucket {
    int64_t begin = 0;                      // offset of the bucket in the flat buffers
    int64_t size = 0;                       // elements including padding; a multiple of group_size
    int64_t shard_size = 0;                 // size / group_size
    size_t first_param = 0, end_param = 0;  // params() [first_param, end_param)
  };
  // A piece of one parameter lying inside a range of the flat buffers.
  struct Segment {
    Parameter* param = nullptr;
    int64_t param_offset = 0;  // first element within the parameter
    int64_t flat_offset = 0;   // where it lies in the flat buffers
    int64_t count = 0;
  };

  // REQUIRES: params distinct, f32; group_size >= 1; bucket_elements >= 1.
  // Copies each parameter's value into the flat values buffer and re-points
  // param->value and param->grad to views of the flat buffers (gradients zero).
  ParamBuckets(std::vector<Parameter*> params, int group_size, int64_t bucket_elements);

  int group_size() const { return group_size_; }
  int64_t size() const { return size_; }  // total elements of each flat buffer
  float* values() { return values_.data<float>(); }
  float* grads() { return grads_.data<float>(); }
  const float* grads() const { return grads_.data<float>(); }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  const std::vector<Parameter*>& params() const { return params_; }
  int64_t offset_of(size_t param_index) const { return offsets_[param_index]; }

  // The parameter pieces inside the flat range [begin, end), in order; padding
  // is skipped. REQUIRES 0 <= begin <= end <= size().
  std::vector<Segment> segments(int64_t begin, int64_t end) const;

 private:
  int group_size_;
  int64_t size_ = 0;
  std::vector<Parameter*> params_;
  std::vector<int64_t> offsets_;  // flat offset of each parameter
  std::vector<Bucket> buckets_;
  Tensor values_, grads_;  // owning, [size_]
};

}  // namespace sadari
