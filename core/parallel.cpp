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

namespace tapegrad {
namespace {

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
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, chunks, 1),
      [&](const tbb::blocked_range<std::int64_t>& r) {
        DepthGuard depth;
        for (std::int64_t i = r.begin(); i < r.end(); ++i)
          fn(begin + i * grain, std::min(end, begin + (i + 1) * grain));
      },
      tbb::simple_partitioner());
}

}  // namespace tapegrad
