// Helpers for the test suites.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "tapegrad/autograd/gradcheck_gtest.hpp"
#include "tapegrad/tapegrad.hpp"

namespace tapegrad::testing {

/// Path of a committed fixture: tests/fixtures/<name>.
std::string fixture(const std::string& name);

/// Tensors from literal values, and values back, for short tests.
inline Tensor f64(const std::vector<double>& v, const Shape& shape) {
  return from_vector(v, shape);
}
inline Tensor f32(const std::vector<float>& v, const Shape& shape) {
  return from_vector(v, shape);
}
inline std::vector<double> values(const Tensor& t) {
  return t.to_vector<double>();
}

/// Restores the default thread count when it goes out of scope.
struct ThreadGuard {
  ~ThreadGuard() { set_num_threads(0); }
};

/// Expects fn to throw tapegrad::Error with exactly `message`.
inline void expect_error(const std::function<void()>& fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "expected tapegrad::Error: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

/// Same shape, dtype and bytes.
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << "shape or dtype differ";
  if (std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0)
    return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

}  // namespace tapegrad::testing
