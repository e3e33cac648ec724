// The checkpoint container: one file, written atomically (temp file, fsync, rename, fsync of the
// directory), so a crash mid-write leaves the previous checkpoint intact.
//
//   bytes 0..7    magic "TSMCKPT\n"
//   bytes 8..15   header length N, little-endian u64
//   N bytes       JSON header, space-padded so the data block starts 64-byte aligned:
//                 {"format_version":1, ..., "tensors":{"name":{"dtype":"F32","count":C,"offset":O}}}
//   data          raw little-endian arrays; offsets are relative to the start of the data block
//
// What a trainer puts in the header and which arrays it stores is train/checkpoint.cpp's concern.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/json.h"
#include "model/mapped_file.h"

namespace tunesmith {

constexpr int64_t kCheckpointFormatVersion = 1;

class CheckpointWriter {
 public:
  // `header_fields` is the inside of a JSON object ("\"a\":1,\"b\":{...}", a trailing comma is
  // fine), written before "tensors".
  explicit CheckpointWriter(std::string header_fields) : fields_(std::move(header_fields)) {}
  // The array is copied into the file by write(); it must stay valid until then.
  void add_f32(const std::string& name, const float* data, int64_t count);
  void write(const std::string& path) const;

 private:
  struct Item {
    std::string name;
    const float* data;
    int64_t count;
  };
  std::string fields_;
  std::vector<Item> items_;
};

class CheckpointReader {
 public:
  // Checks the magic, the header and the format version; errors name the file.
  explicit CheckpointReader(const std::string& path);
  const JsonValue& header() const { return header_; }
  const std::string& path() const { return path_; }
  std::string header_text() const { return std::string(reinterpret_cast<const char*>(file_->data() + 16), header_size_); }
  // The array `name`, which must hold exactly `count` F32 values.
  const float* f32(const std::string& name, int64_t count) const;
  bool has(const std::string& name) const;
  // A required header member (dotted path "model.hidden_size"); errors name the file and field.
  const JsonValue& field(const std::string& dotted) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  JsonValue header_;
  const uint8_t* data_ = nullptr;
  size_t data_size_ = 0;
  size_t header_size_ = 0;
};

// Small JSON writing helpers for header fields.
std::string json_field(const std::string& key, const std::string& raw_value, bool last = false);
std::string json_double(double v);  // round-trips exactly (%.17g)

}  // namespace tunesmith
