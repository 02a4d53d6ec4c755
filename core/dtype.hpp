// Element types. float32 (default) and float64 carry autograd; int64 holds labels, indices and
// counters. Kernels are templates on the scalar type; dispatch picks the instantiation at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "tapegrad/core/error.hpp"

namespace tapegrad {

enum class Dtype : std::uint8_t { Float32, Float64, Int64 };

constexpr Dtype kFloat32 = Dtype::Float32;
constexpr Dtype kFloat64 = Dtype::Float64;
constexpr Dtype kInt64 = Dtype::Int64;

constexpr std::size_t element_size(Dtype dtype) {
  return dtype == Dtype::Float32 ? 4 : 8;
}
constexpr bool is_floating(Dtype dtype) {
  return dtype != Dtype::Int64;
}

constexpr std::string_view dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return "float32";
    case Dtype::Float64:
      return "float64";
    case Dtype::Int64:
      return "int64";
  }
  return "?";
}

/// The Dtype of a C++ scalar type: dtype_of<float> == kFloat32.
template <class T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return Dtype::Float32;
  else if constexpr (std::is_same_v<T, double>)
    return Dtype::Float64;
  else {
    static_assert(std::is_same_v<T, std::int64_t>, "tapegrad tensors hold float, double or int64");
    return Dtype::Int64;
  }
}

/// Calls fn(T{}) with T = float or double for a floating dtype; int64 is an error naming `op`.
///   dispatch_floating(x.dtype(), "relu", [&](auto tag) { using T = decltype(tag); ... });
template <class Fn>
decltype(auto) dispatch_floating(Dtype dtype, std::string_view op, Fn&& fn) {
  if (dtype == Dtype::Float64) return fn(double{});
  check(dtype == Dtype::Float32, "{}: expected a float32 or float64 tensor, got {}", op,
        dtype_name(dtype));
  return fn(float{});
}

/// Like dispatch_floating, also accepting int64.
template <class Fn>
decltype(auto) dispatch_all(Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case Dtype::Float64:
      return fn(double{});
    case Dtype::Int64:
      return fn(std::int64_t{});
    default:
      return fn(float{});
  }
}

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::Dtype> : fmt::formatter<std::string_view> {
  auto format(tapegrad::Dtype d, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::dtype_name(d), ctx);
  }
};
