// Tensor: a shaped, typed view of a buffer, owning or not.
//
// Ownership: an owning Tensor holds a shared reference to its Storage (64-byte
// aligned host memory, or device memory allocated by a registered allocator);
// copies of a Tensor share the storage (shallow, like a shared_ptr). A view
// (Tensor::wrap, reshape, rows) never allocates and is valid only while the memory
// it points into is alive; views of an owning tensor keep its storage alive.
// Layout: always dense row-major (C order). Views that would need strides are not
// expressible, by design: kernels take raw pointers plus dimensions.
// Thread-safety: a Tensor is a value; concurrent reads are fine, concurrent writes
// to the same elements are the caller's business.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace sadari {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);

class Storage {
 public:
  using Deleter = std::function<void(void*)>;
  Storage(void* ptr, size_t bytes, Device device, Deleter deleter)
      : ptr_(ptr), bytes_(bytes), device_(device), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_) deleter_(ptr_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

  // Allocates `bytes` on `device`. Host memory is 64-byte aligned and zeroed.
  // Device memory needs an allocator registered by a device backend.
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);

  // Device backends (kernels/cuda) register how they allocate and free.
  using Allocator = std::function<void*(size_t)>;
  static void register_device_allocator(Device device, Allocator alloc, Deleter free);

 private:
  void* ptr_;
  size_t bytes_;
  Device device_;
  Deleter deleter_;
};

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(Shape shape, DType dtype, Device device = Device::cpu);
  // Zero-filled (host memory is always zeroed at allocation; same call for clarity).
  static Tensor zeros(Shape shape, DType dtype, Device device = Device::cpu);
  // Non-owning view of caller memory. REQUIRES: ptr valid for the tensor's bytes
  // for as long as the view (and its copies) are used.
  static Tensor wrap(void* ptr, Shape shape, DType dtype, Device device = Device::cpu);

  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the back
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool owns_storage() const { return storage_ != nullptr; }

  void* raw() const { return data_; }
  // Typed access; throws Error if T does not match dtype().
  template <typename T>
  T* data() const {
    if (dtype_of<T>::value != dtype_)
      fail(detail::cat("typed access as ", dtype_name(dtype_of<T>::value), " to a ",
                       dtype_name(dtype_), " tensor ", shape_str(shape_)));
    return static_cast<T*>(data_);
  }

  // Same elements, another shape with the same element count (a view).
  Tensor reshape(Shape shape) const;
  // Elements the underlying storage can hold from this tensor's first element on
  // (owning tensors and their views); numel() for non-owning wraps.
  int64_t capacity() const;
  // Same storage, another shape of at most capacity() elements (for reusing
  // scratch buffers); contents beyond the old numel() are unspecified.
  Tensor with_shape(Shape shape) const;
  // Rows [begin, end) along dimension 0 (a view).
  Tensor rows(int64_t begin, int64_t end) const;
  // Deep copy into fresh host storage.
  Tensor clone() const;
  void fill_zero();

 private:
  std::shared_ptr<Storage> storage_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
};

}  // namespace sadari
