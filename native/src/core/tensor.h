// A plain tensor: shape, dtype and a pointer into storage that is either owned (a counted
// allocation) or borrowed (e.g. a slice of a memory-mapped safetensors file, kept alive by a
// shared owner handle). No autograd, no strides: engine tensors are contiguous row-major.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tunesmith {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);  // "[64, 512]"

class Tensor {
 public:
  Tensor() = default;

  // Owned, zero-filled, counted storage.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  // Borrowed storage: `keep_alive` holds whatever owns `data` (a mapped file) for as long as any
  // tensor points into it.
  static Tensor borrow(const Shape& shape, DType dtype, const void* data, std::shared_ptr<const void> keep_alive);

  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return dtype_storage_bytes(dtype_, numel()); }
  bool owned() const { return owned_; }
  bool empty() const { return data_ == nullptr; }

  const void* raw() const { return data_; }
  // Mutable access only for owned storage (a borrowed mmap is read-only); throws otherwise.
  void* raw_mut();
  template <typename T>
  const T* data() const { return static_cast<const T*>(data_); }
  template <typename T>
  T* data_mut() { return static_cast<T*>(raw_mut()); }

  // A new owned f32 tensor with this tensor's values (upcast from bf16/f16 if needed).
  Tensor to_f32() const;

 private:
  Shape shape_;
  DType dtype_ = DType::F32;
  const void* data_ = nullptr;
  bool owned_ = false;
  std::shared_ptr<const void> storage_;
};

}  // namespace tunesmith
