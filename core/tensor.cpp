#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace sadari {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

namespace {
struct DeviceAllocator {
  Storage::Allocator alloc;
  Storage::Deleter free;
};
std::mutex g_alloc_mutex;
std::map<Device, DeviceAllocator>& device_allocators() {
  static std::map<Device, DeviceAllocator> table;
  return table;
}
}  // namespace

void Storage::register_device_allocator(Device device, Allocator alloc, Deleter free) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  device_allocators()[device] = {std::move(alloc), std::move(free)};
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  if (device == Device::cpu) {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p)
      fail(detail::cat("out of host memory allocating ", bytes, " bytes"), {},
           "reduce the batch size or model size");
    std::memset(p, 0, rounded);
    return std::make_shared<Storage>(p, bytes, device, [](void* q) { std::free(q); });
  }
  DeviceAllocator a;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto it = device_allocators().find(device);
    if (it == device_allocators().end())
      fail(detail::cat("no allocator for device ", device_name(device)), {},
           "build with -DSADARI_CUDA=ON and initialise the CUDA backend");
    a = it->second;
  }
  return std::make_shared<Storage>(a.alloc(bytes), bytes, device, a.free);
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (int64_t d : shape)
    SADARI_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = Storage::allocate(t.nbytes(), device);
  t.data_ = t.storage_->data();
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  if (device != Device::cpu) t.fill_zero();
  return t;
}

Tensor Tensor::wrap(void* ptr, Shape shape, DType dtype, Device device) {
  Tensor t;
  t.data_ = ptr;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  SADARI_CHECK(j >= 0 && j < n, "dimension ", i, " out of range for shape ", shape_str(shape_));
  return shape_[j];
}

Tensor Tensor::reshape(Shape shape) const {
  SADARI_CHECK(shape_numel(shape) == numel(), "cannot reshape ", shape_str(shape_), " to ",
               shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

int64_t Tensor::capacity() const {
  if (!storage_) return numel();
  size_t offset = static_cast<char*>(data_) - static_cast<char*>(storage_->data());
  return static_cast<int64_t>((storage_->bytes() - offset) / dtype_size(dtype_));
}

Tensor Tensor::with_shape(Shape shape) const {
  SADARI_CHECK(shape_numel(shape) <= capacity(), "shape ", shape_str(shape),
               " does not fit the storage of a tensor holding ", capacity(), " elements");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  SADARI_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "rows [", begin,
               ", ", end, ") out of range for shape ", shape_str(shape_));
  Tensor t = *this;
  int64_t row_elems = numel() / (shape_[0] ? shape_[0] : 1);
  t.data_ = static_cast<char*>(data_) + begin * row_elems * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  SADARI_CHECK(device_ == Device::cpu, "clone of a ", device_name(device_),
               " tensor is not supported on the host");
  Tensor t = empty(shape_, dtype_, Device::cpu);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

void Tensor::fill_zero() {
  SADARI_CHECK(device_ == Device::cpu, "fill_zero on a ", device_name(device_),
               " tensor must go through the device backend");
  if (nbytes()) std::memset(data_, 0, nbytes());
}

}  // namespace sadari
