#include "tapegrad/core/parallel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "tapegrad/core/error.hpp"

// ThreadSanitizer builds (TAPEGRAD_SANITIZE=thread): Debian's oneTBB is not instrumented, so the
// happens-before edges its scheduler creates when it hands a chunk to a worker (fork) and when
// parallel_for returns after every chunk finished (join) are invisible to TSan. This file is then
// compiled without instrumentation, like libtbb (CMakeLists.txt), so TBB's own task objects stay
// out of TSan's sight, and it declares exactly those two edges with TSan's annotation calls. The
// chunk bodies (every tapegrad kernel) remain instrumented. Other builds compile this to nothing.
#ifdef TAPEGRAD_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace tapegrad {
namespace {

#ifdef TAPEGRAD_TSAN
void tsan_release(void* address) {
  __tsan_release(address);
}
void tsan_acquire(void* address) {
  __tsan_acquire(address);
}
#else
void tsan_release(void*) {}
void tsan_acquire(void*) {}
#endif

// Declares the edges of one chunk: the fork happens before its start, its end before the join.
struct ChunkEdges {
  ChunkEdges(void* fork, void* join) : join_(join) { tsan_acquire(fork); }
  ~ChunkEdges() { tsan_release(join_); }
  void* join_;
};

// The join edge, taken also when a chunk's exception unwinds through parallel_for.
struct JoinEdge {
  explicit JoinEdge(void* join) : join_(join) {}
  ~JoinEdge() { tsan_acquire(join_); }
  void* join_;
};

std::mutex control_mutex;
std::unique_ptr<tbb::global_control> control;
int num_threads = 0;  // 0: not set, use the default
thread_local int parallel_depth = 0;

struct DepthGuard {
  DepthGuard() { ++parallel_depth; }
  ~DepthGuard() { --parallel_depth; }
};

}  // namespace

void set_num_threads(int n) {
  std::lock_guard lock(control_mutex);
  control.reset();
  num_threads = n > 0 ? n : 0;
  if (num_threads > 0)
    control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<std::size_t>(num_threads));
}

int get_num_threads() {
  std::lock_guard lock(control_mutex);
  const int available = static_cast<int>(
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  return num_threads > 0 ? std::min(num_threads, available) : available;
}

bool in_parallel_region() {
  return parallel_depth > 0;
}

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeFn fn) {
  check(grain > 0, "parallel_for: expected a positive grain, got {}", grain);
  if (end <= begin) return;
  if (end - begin <= grain) {
    fn(begin, end);
    return;
  }
  // Chunks are fixed by (begin, end, grain) alone: chunk i covers [begin + i*grain, ...).
  const std::int64_t chunks = (end - begin + grain - 1) / grain;
  if (get_num_threads() == 1) {
    for (std::int64_t i = 0; i < chunks; ++i)
      fn(begin + i * grain, std::min(end, begin + (i + 1) * grain));
    return;
  }
  char fork = 0, join = 0;  // addresses that name this call's fork and join edges for TSan
  tsan_release(&fork);
  JoinEdge join_edge(&join);
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, chunks, 1),
      [&](const tbb::blocked_range<std::int64_t>& r) {
        ChunkEdges edges(&fork, &join);
        DepthGuard depth;
        for (std::int64_t i = r.begin(); i < r.end(); ++i)
          fn(begin + i * grain, std::min(end, begin + (i + 1) * grain));
      },
      tbb::simple_partitioner());
}

}  // namespace tapegrad
