// Size2: the (height, width) pair that 2-D ops take for kernel sizes, strides and padding.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string_view>

namespace tapegrad {

/// A (height, width) pair; one value means both:  Size2(3) == Size2{3, 3}.
struct Size2 {
  std::int64_t h = 0;
  std::int64_t w = 0;

  constexpr Size2() = default;
  constexpr Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit by design
  constexpr Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  friend constexpr bool operator==(const Size2&, const Size2&) = default;
};

}  // namespace tapegrad

/// Formats as "[3, 3]", like a Shape.
template <>
struct fmt::formatter<tapegrad::Size2> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::Size2& s, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "[{}, {}]", s.h, s.w);
  }
};
