// Aligned allocation with a cache of freed blocks.
//
// A training step allocates the same set of buffer sizes every iteration. Fresh pages cost
// 2-3.5 GB/s in page faults, so freed blocks are kept in per-size free lists and handed out
// again: after the first steps, a step allocates nothing from the system. The cache is bounded
// (kMaxCachedBytes); past that, blocks go back to the system.
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/storage.hpp"

namespace tapegrad {
namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMaxCachedBytes = std::size_t{512} << 20;

std::size_t round_up(std::size_t n) {
  return (n + kAlignment - 1) / kAlignment * kAlignment;
}

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;
  std::size_t cached_bytes = 0;
  std::uint64_t system_allocations = 0;
  std::uint64_t cache_hits = 0;

  ~BlockCache() {
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) std::free(p);
  }
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: storages may outlive statics
  return *c;
}

}  // namespace

void* allocate_bytes(std::size_t nbytes) {
  const std::size_t size = round_up(nbytes == 0 ? 1 : nbytes);
  {
    BlockCache& c = cache();
    std::lock_guard lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= size;
      ++c.cache_hits;
      return p;
    }
    ++c.system_allocations;
  }
  void* p = std::aligned_alloc(kAlignment, size);
  check(p != nullptr, "allocate: expected to allocate {} bytes, the system refused", size);
  return p;
}

void free_bytes(void* ptr, std::size_t nbytes) noexcept {
  if (ptr == nullptr) return;
  const std::size_t size = round_up(nbytes == 0 ? 1 : nbytes);
  BlockCache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (c.cached_bytes + size <= kMaxCachedBytes) {
      try {
        c.free_blocks[size].push_back(ptr);
        c.cached_bytes += size;
        return;
      } catch (...) {
        // fall through: give the block back to the system
      }
    }
  }
  std::free(ptr);
}

AllocatorStats allocator_stats() {
  BlockCache& c = cache();
  std::lock_guard lock(c.mutex);
  return {c.system_allocations, c.cache_hits, c.cached_bytes};
}

Storage::Storage(std::size_t n) : data(allocate_bytes(n)), nbytes(n) {}
Storage::~Storage() {
  free_bytes(data, nbytes);
}

}  // namespace tapegrad
