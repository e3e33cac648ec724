#include "model/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "model/json.h"

namespace tunesmith {
namespace {

// Element sizes of every safetensors dtype, so sizes are validated even for tensors the engine
// does not use; only F32/F16/BF16 can be loaded.
int64_t element_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return -1;
}

// Index of the first NaN or infinity in values[0, count), or count. Tests the exponent bits (all
// ones) rather than std::isfinite so the check survives any floating-point compiler flags, and
// so the loop vectorizes.
size_t first_non_finite(const float* values, size_t count) {
  auto non_finite = [&](size_t i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    return uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  };
  // A branch-free pass first, OR-ing integers (a bool accumulator keeps GCC from vectorizing it);
  // the index is searched only when something is wrong.
  uint32_t any = 0;
  for (size_t i = 0; i < count; ++i) any |= non_finite(i);
  if (!any) return count;
  size_t i = 0;
  while (!non_finite(i)) ++i;
  return i;
}

// Two tensors whose byte ranges share bytes would alias each other: a writer bug or a forged file.
void refuse_overlaps(const std::vector<SafetensorsEntry>& entries, const uint8_t* data_block, const std::string& path) {
  std::vector<const SafetensorsEntry*> by_start;
  for (const SafetensorsEntry& e : entries)
    if (e.nbytes > 0) by_start.push_back(&e);
  std::sort(by_start.begin(), by_start.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_start.size(); ++i) {
    const SafetensorsEntry& prev = *by_start[i - 1];
    const SafetensorsEntry& next = *by_start[i];
    if (next.data < prev.data + prev.nbytes) {
      auto range = [&](const SafetensorsEntry& e) {
        const size_t begin = size_t(e.data - data_block);
        return "[" + std::to_string(begin) + ", " + std::to_string(begin + e.nbytes) + "]";
      };
      throw Error("bad safetensors header in " + path + ": the data of tensors '" + prev.name + "' " + range(prev) +
                  " and '" + next.name + "' " + range(next) + " overlap");
    }
  }
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> st(new SafetensorsFile());
  st->file_ = MappedFile::open(path);
  const uint8_t* bytes = st->file_->data();
  const size_t size = st->file_->size();
  if (size < 8) throw Error("truncated safetensors file " + path + ": " + std::to_string(size) + " bytes, no header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8)
    throw Error("truncated safetensors file " + path + ": header length " + std::to_string(header_len) +
                " exceeds file size " + std::to_string(size));
  const JsonValue header = parse_json(reinterpret_cast<const char*>(bytes + 8), size_t(header_len), "header of " + path);
  if (!header.is_object()) throw Error("bad safetensors header in " + path + ": not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;

  for (const auto& member : header.as_object()) {
    if (member.first == "__metadata__") continue;
    const std::string where = "tensor '" + member.first + "' in " + path;
    const JsonValue& info = member.second;
    if (!info.is_object()) throw Error("bad safetensors header: " + where + " is not an object");
    const JsonValue* dtype = info.find("dtype");
    const JsonValue* shape = info.find("shape");
    const JsonValue* offsets = info.find("data_offsets");
    if (!dtype || !shape || !offsets) throw Error("bad safetensors header: " + where + " lacks dtype, shape or data_offsets");

    SafetensorsEntry e;
    e.name = member.first;
    e.dtype_name = dtype->as_string("dtype of " + where);
    if (e.dtype_name == "F32") e.dtype = DType::F32, e.dtype_supported = true;
    else if (e.dtype_name == "F16") e.dtype = DType::F16, e.dtype_supported = true;
    else if (e.dtype_name == "BF16") e.dtype = DType::BF16, e.dtype_supported = true;
    const int64_t elem = element_bytes(e.dtype_name);
    if (elem < 0) throw Error("unsupported dtype '" + e.dtype_name + "' for " + where);

    int64_t numel = 1;
    for (const JsonValue& d : shape->as_array("shape of " + where)) {
      const int64_t dim = d.as_int("shape of " + where);
      if (dim < 0) throw Error("bad safetensors header: negative dimension in shape of " + where);
      if (dim != 0 && numel > std::numeric_limits<int64_t>::max() / dim)
        throw Error("bad safetensors header: shape of " + where + " overflows");
      numel *= dim;
      e.shape.push_back(dim);
    }
    const auto& off = offsets->as_array("data_offsets of " + where);
    if (off.size() != 2) throw Error("bad safetensors header: data_offsets of " + where + " must have 2 entries");
    const int64_t begin = off[0].as_int("data_offsets of " + where);
    const int64_t end = off[1].as_int("data_offsets of " + where);
    if (begin < 0 || end < begin)
      throw Error("bad safetensors header: data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] of " + where + " are invalid");
    if (uint64_t(end) > data_size)
      throw Error("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] of " + where +
                  " lie outside the file (data block is " + std::to_string(data_size) + " bytes; truncated file?)");
    if (numel > std::numeric_limits<int64_t>::max() / elem || end - begin != numel * elem)
      throw Error("bad safetensors header: " + where + " has " + std::to_string(end - begin) + " bytes, but shape " +
                  shape_to_string(e.shape) + " of " + e.dtype_name + " needs " + std::to_string(numel * elem));
    e.data = bytes + data_start + uint64_t(begin);
    e.nbytes = size_t(end - begin);
    st->index_[e.name] = st->entries_.size();
    st->entries_.push_back(std::move(e));
  }
  refuse_overlaps(st->entries_, bytes + data_start, path);
  return st;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) throw Error("missing tensor '" + name + "' in " + path());
  if (!e->dtype_supported)
    throw Error("unsupported dtype '" + e->dtype_name + "' for tensor '" + name + "' in " + path() +
                " (supported: F32, F16, BF16)");
  return Tensor::borrow(e->shape, e->dtype, e->data, file_);
}

void SafetensorsFile::check_f32_readable(const std::string& name, const Shape& expected_shape) const {
  const Tensor t = tensor(name);
  if (t.shape() != expected_shape)
    throw Error("shape mismatch for tensor '" + name + "' in " + path() + ": expected " +
                shape_to_string(expected_shape) + ", found " + shape_to_string(t.shape()));
}

void SafetensorsFile::read_f32(const std::string& name, const Shape& expected_shape, float* dst) const {
  check_f32_readable(name, expected_shape);
  const Tensor t = tensor(name);
  const size_t count = size_t(t.numel());
  const size_t elem = dtype_storage_bytes(t.dtype(), 1);
  // Converted a block at a time and each block checked while it is still in cache: one pass over
  // the weights, as loading without the check.
  constexpr size_t kBlock = 16384;
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    convert_to_f32(t.dtype(), static_cast<const uint8_t*>(t.raw()) + start * elem, dst + start, n);
    const size_t bad = first_non_finite(dst + start, n);
    if (bad < n) {
      const float v = dst[start + bad];
      throw Error("tensor '" + name + "' in " + path() + " holds " + (v != v ? "NaN" : v > 0 ? "+inf" : "-inf") +
                  " at index " + std::to_string(start + bad) + " (flat, of " + std::to_string(count) +
                  "): the weights are corrupt or overflowed when saved");
    }
  }
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsRawItem>& items,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) header += ",";
      header += json_quote(metadata[i].first) + ":" + json_quote(metadata[i].second);
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    const uint64_t bytes = dtype_storage_bytes(it.dtype, shape_numel(it.shape));
    if (i || !metadata.empty()) header += ",";
    header += json_quote(it.name) + ":{\"dtype\":\"" + dtype_name(it.dtype) + "\",\"shape\":[";
    for (size_t d = 0; d < it.shape.size(); ++d) header += (d ? "," : "") + std::to_string(it.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';  // data block 8-byte aligned, as the reference writer does

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    uint8_t len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), std::streamsize(header.size()));
    for (const auto& it : items)
      out.write(static_cast<const char*>(it.bytes), std::streamsize(dtype_storage_bytes(it.dtype, shape_numel(it.shape))));
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw Error("write failed for " + tmp + " (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path);
  }
}

void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsWriteItem>& items,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<SafetensorsRawItem> raw;
  for (const auto& it : items) raw.push_back({it.name, DType::F32, it.shape, it.data});
  write_safetensors(path, raw, metadata);
}

}  // namespace tunesmith
