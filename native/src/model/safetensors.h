// safetensors reading (from a memory map, header fully validated up front) and writing (f32,
// atomic: temp file then rename).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data block;
// offsets are relative to the start of the data block.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "model/mapped_file.h"

namespace tunesmith {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;  // as written in the file ("F32", "BF16", "I64", ...)
  bool dtype_supported = false;  // F32, F16, BF16: the ones the engine can upcast to f32
  DType dtype = DType::F32;
  Shape shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  // Maps the file and validates the header: JSON syntax, dtypes, shapes, that offsets lie inside
  // the file and match shape x dtype size, and that no two tensors' byte ranges overlap. Throws tunesmith::Error naming the file (and tensor).
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;

  // Borrowed tensor viewing the mapped bytes (keeps the map alive). Throws for unsupported dtypes.
  Tensor tensor(const std::string& name) const;
  // Throws unless the tensor exists with this shape and a dtype read_f32 can upcast; reads no data.
  void check_f32_readable(const std::string& name, const Shape& expected_shape) const;
  // Copies (upcasting) into dst, checking the expected shape and that every value is finite;
  // errors name file and tensor (and the first NaN/Inf's index).
  void read_f32(const std::string& name, const Shape& expected_shape, float* dst) const;

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

struct SafetensorsWriteItem {
  std::string name;
  Shape shape;
  const float* data = nullptr;
};

// A tensor to write in any dtype the engine stores (F32, BF16, F16): `bytes` holds exactly
// numel x element size little-endian bytes.
struct SafetensorsRawItem {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const void* bytes = nullptr;
};

// Writes tensors to `path` atomically (path + ".tmp" then rename over `path`), data in item order.
void write_safetensors(const std::string& path, const std::vector<SafetensorsRawItem>& items,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {});

// Writes F32 tensors to `path` atomically (path + ".tmp" then rename over `path`).
void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsWriteItem>& items,
                           const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace tunesmith
