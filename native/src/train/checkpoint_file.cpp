#include "train/checkpoint_file.h"

#include <cstdio>
#include <cstring>

#include "core/error.h"

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

namespace tunesmith {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'M', 'C', 'K', 'P', 'T', '\n'};

// Durable write of `chunks` to `path`: temp file, fsync, rename over the target, fsync the folder.
void write_file_atomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& chunks) {
  const std::string tmp = path + ".tmp";
#ifdef _WIN32
  const int fd = _open(tmp.c_str(), _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY, 0644);
#else
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
#endif
  if (fd < 0) throw Error("cannot create checkpoint file " + tmp);
  auto fail = [&](const std::string& why) {
#ifdef _WIN32
    _close(fd);
#else
    ::close(fd);
#endif
    std::remove(tmp.c_str());
    throw Error(why);
  };
  for (const auto& chunk : chunks) {
    const char* p = static_cast<const char*>(chunk.first);
    size_t left = chunk.second;
    while (left > 0) {
      const size_t piece = left < (size_t(1) << 30) ? left : (size_t(1) << 30);
#ifdef _WIN32
      const long long written = _write(fd, p, unsigned(piece));
#else
      const long long written = ::write(fd, p, piece);
#endif
      if (written <= 0) fail("write failed for checkpoint " + tmp + " (disk full?)");
      p += written;
      left -= size_t(written);
    }
  }
#ifdef _WIN32
  if (_commit(fd) != 0) fail("cannot flush checkpoint " + tmp + " to disk");
  _close(fd);
  if (!MoveFileExA(tmp.c_str(), path.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path);
  }
#else
  if (::fsync(fd) != 0) fail("cannot flush checkpoint " + tmp + " to disk");
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path);
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
#endif
}

}  // namespace

std::string json_field(const std::string& key, const std::string& raw_value, bool last) {
  return json_quote(key) + ":" + raw_value + (last ? "" : ",");
}

std::string json_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void CheckpointWriter::add_f32(const std::string& name, const float* data, int64_t count) {
  items_.push_back({name, data, count});
}

void CheckpointWriter::write(const std::string& path) const {
  const bool needs_comma = !fields_.empty() && fields_.back() != ',';
  std::string header = "{" + fields_ + (needs_comma ? "," : "") + "\"tensors\":{";
  uint64_t offset = 0;
  for (size_t i = 0; i < items_.size(); ++i) {
    const Item& it = items_[i];
    header += (i ? "," : "") + json_quote(it.name) + ":{\"dtype\":\"F32\",\"count\":" + std::to_string(it.count) +
              ",\"offset\":" + std::to_string(offset) + "}";
    offset += uint64_t(it.count) * 4;
  }
  header += "}}";
  while ((16 + header.size()) % 64 != 0) header += ' ';
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  std::vector<std::pair<const void*, size_t>> chunks = {{kMagic, 8}, {length, 8}, {header.data(), header.size()}};
  for (const Item& it : items_) chunks.push_back({it.data, size_t(it.count) * 4});
  write_file_atomically(path, chunks);
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  file_ = MappedFile::open(path);
  const uint8_t* p = file_->data();
  if (file_->size() < 16 || std::memcmp(p, kMagic, 8) != 0) throw Error(path + " is not a Tunesmith checkpoint (bad magic)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(p[8 + i]) << (8 * i);
  if (n > file_->size() - 16) throw Error(path + ": checkpoint header length " + std::to_string(n) + " exceeds the file");
  header_ = parse_json(reinterpret_cast<const char*>(p + 16), size_t(n), "header of " + path);
  const int64_t version = field("format_version").as_int(path + ": format_version");
  if (version != kCheckpointFormatVersion)
    throw Error(path + ": checkpoint format_version " + std::to_string(version) + " is not supported (this engine reads " +
                std::to_string(kCheckpointFormatVersion) + ")");
  header_size_ = size_t(n);
  data_ = p + 16 + n;
  data_size_ = file_->size() - 16 - size_t(n);
  // Check every array before any is used, so a truncated file fails before it half-loads.
  const JsonValue* tensors = header_.find("tensors");
  if (!tensors || !tensors->is_object()) throw Error(path + ": checkpoint header has no \"tensors\" table");
  for (const auto& entry : tensors->as_object()) {
    const JsonValue* c = entry.second.find("count");
    f32(entry.first, c ? c->as_int(path + ": " + entry.first + ".count") : -1);
  }
}

const JsonValue& CheckpointReader::field(const std::string& dotted) const {
  const JsonValue* v = &header_;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    v = v->find(key);
    if (!v) throw Error(path_ + ": checkpoint header has no field \"" + dotted + "\"");
    if (dot == std::string::npos) return *v;
    start = dot + 1;
  }
}

bool CheckpointReader::has(const std::string& name) const {
  const JsonValue* tensors = header_.find("tensors");
  return tensors && tensors->find(name);
}

const float* CheckpointReader::f32(const std::string& name, int64_t count) const {
  const JsonValue* tensors = header_.find("tensors");
  const JsonValue* t = tensors ? tensors->find(name) : nullptr;
  if (!t) throw Error(path_ + ": checkpoint has no tensor \"" + name + "\"");
  const JsonValue* c = t->find("count");
  const JsonValue* o = t->find("offset");
  if (!c || !o) throw Error(path_ + ": tensor \"" + name + "\" lacks count/offset");
  const int64_t have = c->as_int(path_ + ": " + name + ".count"), offset = o->as_int(path_ + ": " + name + ".offset");
  if (have != count)
    throw Error(path_ + ": tensor \"" + name + "\" has " + std::to_string(have) + " values, expected " + std::to_string(count));
  if (offset < 0 || offset % 4 != 0 || uint64_t(offset) + uint64_t(count) * 4 > data_size_)
    throw Error(path_ + ": tensor \"" + name + "\" lies outside the file (truncated checkpoint?)");
  return reinterpret_cast<const float*>(data_ + offset);
}

}  // namespace tunesmith
