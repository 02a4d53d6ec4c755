// Threading: oneTBB is the only thread pool. This header is the whole interface; only
// parallel.cpp includes oneTBB.
//
// Determinism contract: parallel_for splits [begin, end) into chunks that depend only on the range
// and the grain, never on the number of threads; callers write each output from one chunk, and
// reductions combine per-chunk partials in chunk order. So results are bitwise identical at any
// thread count.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace tapegrad {

/// Bounds the threads tapegrad uses (oneTBB global_control). n <= 0 restores the default (all
/// cores).  tg::set_num_threads(1);
void set_num_threads(int n);
/// The number of threads parallel work may use.
int get_num_threads();

/// A non-owning reference to a callable void(int64_t begin, int64_t end).
class RangeFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RangeFn>>>
  RangeFn(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, std::int64_t b, std::int64_t e) {
          (*static_cast<std::remove_reference_t<F>*>(o))(b, e);
        }) {}
  void operator()(std::int64_t b, std::int64_t e) const { call_(obj_, b, e); }

 private:
  void* obj_;
  void (*call_)(void*, std::int64_t, std::int64_t);
};

/// Runs fn(chunk_begin, chunk_end) over [begin, end) in chunks of at most `grain` elements,
/// in parallel. Exceptions thrown by fn reach the caller.
///   tg::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) { for (c = c0; c < c1; ++c) ... });
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeFn fn);

/// True while the calling thread runs inside a parallel_for body.
bool in_parallel_region();

}  // namespace tapegrad
