// Device memory for the GPU engine: every buffer goes through here, so the engine reports live and
// peak bytes of its own (what the memory estimator predicts) next to the driver's view (what
// nvidia-smi shows: the engine's bytes plus the CUDA context, cuBLAS workspace and fragmentation).
//
// Allocations are plain cudaMalloc calls (no caching pool): buffers are sized once per shape and
// reused, so the driver's number is the engine's number plus fixed overheads, and estimates stay
// honest. In the emulator "device" memory is host memory with the same accounting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tunesmith::gpu {

struct DeviceMemoryStats {
  int64_t live_bytes = 0;    // engine buffers now
  int64_t peak_bytes = 0;    // engine buffers, most at once since the last reset
  int64_t allocations = 0;   // live allocation count
  // The driver's view (cudaMemGetInfo): bytes in use on the card by everything, now and the most
  // seen at any sample since the last reset. -1 in the emulator.
  int64_t driver_used_bytes = -1;
  int64_t driver_peak_used_bytes = -1;
  int64_t driver_total_bytes = -1;
};

DeviceMemoryStats device_memory_stats();
// Restarts peak tracking (engine and driver view) from the current state.
void reset_device_peaks();
// Takes a driver-view sample now (also done after every allocation); call after each training
// step so memory that libraries allocate for themselves (cuBLAS workspace) is seen.
void sample_driver_memory();

// Throws tunesmith::Error naming `what` and the bytes asked, free and total when the card is full.
void* device_alloc(size_t bytes, const char* what);
void device_free(void* ptr, size_t bytes);

void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
void fill_zero(void* dst, size_t bytes);
// Waits for all queued device work; throws if any of it failed.
void synchronize();

// An owned, counted, zero-initialised device array. Move-only, like TrackedBuffer on the host.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t count, const char* what) { resize(count, what); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }

  // Reallocates (zeroed) unless the size is unchanged; `what` names the buffer in errors.
  void resize(size_t count, const char* what) {
    if (count == count_ && data_) return;
    release();
    if (count == 0) return;
    data_ = static_cast<T*>(device_alloc(count * sizeof(T), what));
    count_ = count;
    zero();
  }
  void zero() {
    if (data_) fill_zero(data_, count_ * sizeof(T));
  }
  void release() {
    if (data_) device_free(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }
  void upload(const T* host, size_t count) { copy_to_device(data_, host, count * sizeof(T)); }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_) copy_to_host(host.data(), data_, count_ * sizeof(T));
    return host;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  bool empty() const { return data_ == nullptr; }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace tunesmith::gpu
