// Storage: a 64-byte-aligned block of memory shared by a tensor and its views, with the version
// counter that in-place ops bump and that autograd checks before using a saved tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tapegrad {

/// Allocates `nbytes` aligned to 64 bytes (through the buffer cache, see allocator.cpp).
void* allocate_bytes(std::size_t nbytes);
/// Returns a block from allocate_bytes.
void free_bytes(void* ptr, std::size_t nbytes) noexcept;

/// Counters of the buffer cache since start-up.
struct AllocatorStats {
  std::uint64_t system_allocations = 0;  // blocks that had to come from the system
  std::uint64_t cache_hits = 0;          // blocks handed out again from the cache
  std::uint64_t cached_bytes = 0;        // bytes held in the cache now
};
AllocatorStats allocator_stats();

struct Storage {
  explicit Storage(std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  std::size_t nbytes = 0;
  std::uint64_t version = 0;  // bumped by every in-place write
};

}  // namespace tapegrad
