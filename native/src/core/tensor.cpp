#include "core/tensor.h"

#include <cstring>

#include "core/error.h"
#include "core/memory.h"

namespace tunesmith {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0) throw Error("negative dimension in shape " + shape_to_string(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.owned_ = true;
  const size_t bytes = t.nbytes();
  void* ptr = tracked_alloc(bytes);
  std::memset(ptr, 0, bytes);
  t.storage_ = std::shared_ptr<const void>(ptr, [bytes](const void* p) { tracked_free(const_cast<void*>(p), bytes); });
  t.data_ = ptr;
  return t;
}

Tensor Tensor::borrow(const Shape& shape, DType dtype, const void* data, std::shared_ptr<const void> keep_alive) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.owned_ = false;
  t.data_ = data;
  t.storage_ = std::move(keep_alive);
  return t;
}

void* Tensor::raw_mut() {
  if (!owned_) throw Error("tensor storage is borrowed (read-only)");
  return const_cast<void*>(data_);
}

Tensor Tensor::to_f32() const {
  Tensor out = Tensor::zeros(shape_, DType::F32);
  convert_to_f32(dtype_, data_, out.data_mut<float>(), static_cast<size_t>(numel()));
  return out;
}

}  // namespace tunesmith
