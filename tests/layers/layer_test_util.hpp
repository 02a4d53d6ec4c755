// Helpers for the layer suites: PyTorch fixtures, tolerant and bitwise comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace tapegrad::testing {

/// tests/fixtures/layers/<case>_<name>.npy, written by tests/fixtures/layers/gen_layers.py.
inline Tensor layer_fixture(const std::string& case_name, const std::string& name) {
  return load_npy(fixture("layers/" + case_name + "_" + name + ".npy"));
}

/// Same shape and |a - b| <= atol + rtol * |b| everywhere; the failure names the worst element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double rtol = 1e-5,
                                            double atol = 1e-6) {
  if (!a.defined() || !b.defined()) return ::testing::AssertionFailure() << "undefined tensor";
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "shape " << fmt::format("{}", a.shape()) << " vs " << fmt::format("{}", b.shape());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  std::size_t worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double excess = std::fabs(va[i] - vb[i]) - (atol + rtol * std::fabs(vb[i]));
    if (std::isnan(va[i]) != std::isnan(vb[i]) || excess > worst_excess) {
      worst_excess = std::isnan(va[i]) != std::isnan(vb[i]) ? INFINITY : excess;
      worst = i;
    }
  }
  if (worst_excess > 0)
    return ::testing::AssertionFailure()
           << "element " << worst << ": " << va[worst] << " vs " << vb[worst] << " (rtol " << rtol
           << ", atol " << atol << ")";
  return ::testing::AssertionSuccess();
}

/// Runs `run` at 1 and at 2 threads and expects bitwise-identical tensors (restores the default).
inline void expect_same_at_1_and_2_threads(const std::function<std::vector<Tensor>()>& run) {
  set_num_threads(1);
  const std::vector<Tensor> one = run();
  set_num_threads(2);
  const std::vector<Tensor> two = run();
  set_num_threads(0);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}

/// Expects fn to throw tapegrad::Error whose message contains `part`.
inline void expect_error_containing(const std::function<void()>& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "expected tapegrad::Error containing \"" << part << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace tapegrad::testing
