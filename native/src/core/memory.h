// Memory accounting: every large engine buffer (weights, gradients, optimizer state, activations)
// is allocated through here, so the engine can report live and peak bytes to the UI and tests can
// check what an option (checkpointing, a smaller batch) saves.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tunesmith {

struct MemoryStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t allocations = 0;  // live allocation count
};

MemoryStats memory_stats();
// Restart peak tracking from the current live size (e.g. before measuring one training step).
void reset_peak_memory();

// 64-byte aligned, counted allocation. Throws tunesmith::Error when the system is out of memory.
void* tracked_alloc(size_t bytes);
void tracked_free(void* ptr, size_t bytes);

// An owned, counted, zero-initialised array of T. Move-only: copying a gradient buffer by accident
// would double the footprint silently.
template <typename T>
class TrackedBuffer {
 public:
  TrackedBuffer() = default;
  explicit TrackedBuffer(size_t count) { resize(count); }
  ~TrackedBuffer() { release(); }
  TrackedBuffer(const TrackedBuffer&) = delete;
  TrackedBuffer& operator=(const TrackedBuffer&) = delete;
  TrackedBuffer(TrackedBuffer&& other) noexcept { swap(other); }
  TrackedBuffer& operator=(TrackedBuffer&& other) noexcept {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }

  // Reallocates (contents are zeroed) unless the size is unchanged.
  void resize(size_t count) {
    if (count == count_ && data_) return;
    release();
    if (count == 0) return;
    data_ = static_cast<T*>(tracked_alloc(count * sizeof(T)));
    count_ = count;
    zero();
  }
  void zero() {
    for (size_t i = 0; i < count_; ++i) data_[i] = T(0);
  }
  void release() {
    if (data_) tracked_free(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  void swap(TrackedBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace tunesmith
