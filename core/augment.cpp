#include "tapegrad/core/augment.hpp"

#include <algorithm>
#include <vector>

#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad::data {
namespace {

// images (N, C, H, W): image n moved by (dy, dx); out-of-range source pixels become fill.
template <class T>
void shift_forward(T* images, std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                   std::int64_t max_shift, T fill, std::uint64_t key) {
  parallel_for(0, N, 8, [&](std::int64_t n0, std::int64_t n1) {
    std::vector<T> plane(static_cast<std::size_t>(H * W));
    for (std::int64_t n = n0; n < n1; ++n) {
      const std::uint64_t r = splitmix64(key ^ splitmix64(static_cast<std::uint64_t>(n)));
      const auto span = static_cast<std::uint64_t>(2 * max_shift + 1);
      const std::int64_t dy = static_cast<std::int64_t>(r % span) - max_shift;
      const std::int64_t dx = static_cast<std::int64_t>((r / span) % span) - max_shift;
      for (std::int64_t c = 0; c < C; ++c) {
        T* p = images + (n * C + c) * H * W;
        std::copy(p, p + H * W, plane.begin());
        for (std::int64_t y = 0; y < H; ++y) {
          const std::int64_t sy = y - dy;
          T* row = p + y * W;
          if (sy < 0 || sy >= H) {
            std::fill(row, row + W, fill);
            continue;
          }
          for (std::int64_t x = 0; x < W; ++x) {
            const std::int64_t sx = x - dx;
            row[x] = sx >= 0 && sx < W ? plane[static_cast<std::size_t>(sy * W + sx)] : fill;
          }
        }
      }
    }
  });
}

}  // namespace

void random_shift_(Tensor& images, std::int64_t max_shift, double fill, std::uint64_t key) {
  check(images.dim() == 4, "random_shift_: expected images (N, C, H, W), got {}", images.shape());
  check(max_shift >= 0, "random_shift_: expected max_shift >= 0, got {}", max_shift);
  if (max_shift == 0) return;
  const Shape& s = images.shape();
  dispatch_floating(images.dtype(), "random_shift_", [&](auto tag) {
    using T = decltype(tag);
    shift_forward<T>(images.data<T>(), s[0], s[1], s[2], s[3], max_shift, static_cast<T>(fill),
                     key);
  });
  images.bump_version();
}

}  // namespace tapegrad::data
