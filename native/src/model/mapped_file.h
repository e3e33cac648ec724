// A read-only memory map of a whole file. Weights are read through the map, page by page, so a
// multi-gigabyte checkpoint never has to fit in a read buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tunesmith {

class MappedFile {
 public:
  // Throws tunesmith::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
#ifdef _WIN32
  void* file_handle_ = nullptr;
  void* mapping_handle_ = nullptr;
#endif
};

}  // namespace tunesmith
