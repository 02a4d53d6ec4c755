#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/reduce.hpp"
#include "tapegrad/autograd/shape_ops.hpp"

namespace tg = tapegrad;
using tapegrad::testing::bitwise_equal;
using tapegrad::testing::expect_error;
using tapegrad::testing::f64;
using tapegrad::testing::ThreadGuard;
using tapegrad::testing::values;
using Tensors = std::vector<tg::Tensor>;

namespace {

// x = [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], [[12, ...], ...]]: shape (2, 3, 4)
tg::Tensor iota234() {
  return tg::arange(24.0, tg::kFloat64).reshape({2, 3, 4});
}

}  // namespace

TEST(Reduce, SumValuesOverDims) {
  const tg::Tensor x = iota234();
  EXPECT_EQ(tg::sum(x).shape(), tg::Shape{});
  EXPECT_EQ(tg::sum(x).item<double>(), 276.0);
  EXPECT_EQ(x.sum().item<double>(), 276.0);
  EXPECT_EQ(values(tg::sum(x, {0})),
            (std::vector<double>{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}));
  EXPECT_EQ(tg::sum(x, {0}).shape(), (tg::Shape{3, 4}));
  EXPECT_EQ(values(tg::sum(x, {1})), (std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57}));
  EXPECT_EQ(values(tg::sum(x, {-1})), (std::vector<double>{6, 22, 38, 54, 70, 86}));
  EXPECT_EQ(values(tg::sum(x, {0, 2})), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(tg::sum(x, {0, 2}, true).shape(), (tg::Shape{1, 3, 1}));
  EXPECT_EQ(tg::sum(x, {2, 0}, true).shape(), (tg::Shape{1, 3, 1}));
  EXPECT_EQ(x.sum({-1, -3}).shape(), (tg::Shape{3}));
  EXPECT_EQ(tg::sum(x, {}, true).shape(), (tg::Shape{1, 1, 1}));
  const tg::Tensor s = tg::scalar_tensor(2.5);
  EXPECT_EQ(tg::sum(s, {0}).item<float>(), 2.5f);
  EXPECT_EQ(tg::sum(tg::zeros({0, 2})).item<float>(), 0.0f);
}

TEST(Reduce, MeanAndMaxValues) {
  const tg::Tensor x = iota234();
  EXPECT_EQ(tg::mean(x).item<double>(), 11.5);
  EXPECT_EQ(values(tg::mean(x, {0, 2})), (std::vector<double>{7.5, 11.5, 15.5}));
  EXPECT_EQ(values(x.mean({1}, true)), (std::vector<double>{4, 5, 6, 7, 16, 17, 18, 19}));
  EXPECT_EQ(tg::max(x).item<double>(), 23.0);
  EXPECT_EQ(values(tg::max(x, {1})), (std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(values(x.max({0, -1}, true)), (std::vector<double>{15, 19, 23}));
  const tg::Tensor neg = f64({-3, -1, -2}, {3});
  EXPECT_EQ(tg::max(neg).item<double>(), -1.0);
  EXPECT_TRUE(std::isnan(tg::max(f64({1, NAN, 3}, {3})).item<double>()));
  EXPECT_TRUE(std::isnan(tg::mean(tg::zeros({0})).item<float>()));
  const tg::Tensor counts = tg::from_vector(std::vector<std::int64_t>{1, 5, 2, 7}, {2, 2});
  EXPECT_EQ(tg::sum(counts).item<std::int64_t>(), 15);
  EXPECT_EQ(tg::max(counts, {0}).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 7}));
}

TEST(Reduce, Float32SumIsAccurate) {
  // 10^6 copies of 0.1f: a float accumulator drifts by ~1%, a double one is exact to float.
  const tg::Tensor x = tg::full({1000, 1000}, 0.1);
  EXPECT_EQ(tg::sum(x).item<float>(), static_cast<float>(1e6 * static_cast<double>(0.1f)));
  EXPECT_EQ(tg::mean(x).item<float>(), 0.1f);
}

TEST(Reduce, BadDims) {
  const tg::Tensor x = tg::zeros({2, 3});
  expect_error(
      [&] {
        tg::sum(x, {1, -1});
      },
      "sum: expected distinct dims, got dim 1 more than once in [1, -1]");
  expect_error([&] { tg::mean(x, {2}); }, "mean: expected a dimension in [-2, 1], got 2");
  expect_error([&] { tg::max(x, {-3}); }, "max: expected a dimension in [-2, 1], got -3");
  expect_error(
      [&] {
        tg::max(tg::zeros({0, 3}));
      },
      "max: expected a non-empty reduction, got shape [0, 3] (max of no elements is "
      "undefined)");
  expect_error([&] { tg::mean(tg::zeros({3}, tg::kInt64)); },
               "mean: expected a float32 or float64 tensor, got int64 (shape [3])");
}

TEST(Reduce, GradCheckSumMeanMax) {
  tg::Generator gen(21);
  const tg::Tensor x = tg::randn({2, 3, 4}, gen, tg::kFloat64).requires_grad_();
  for (const std::vector<std::int64_t>& dims :
       std::vector<std::vector<std::int64_t>>{{}, {0}, {1}, {-1}, {0, 2}, {1, 2}}) {
    for (bool keepdim : {false, true}) {
      EXPECT_GRADCHECK([&](const Tensors& in) { return tg::sum(in[0], dims, keepdim); }, {x});
      EXPECT_GRADCHECK([&](const Tensors& in) { return tg::mean(in[0], dims, keepdim); }, {x});
      EXPECT_GRADCHECK([&](const Tensors& in) { return tg::max(in[0], dims, keepdim); }, {x});
    }
  }
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sum(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::mean(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::max(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return in[0].mean({0}).sum(); }, {x});
}

TEST(Reduce, MaxSplitsTheGradientAmongTies) {
  tg::Tensor x = f64({1, 3, 3, 2, 5, 5, 5, 0}, {2, 4}).requires_grad_();
  tg::max(x, {1}).backward(f64({1, 6}, {2}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0.5, 0.5, 0, 2, 2, 2, 0}));
  x.set_grad(tg::Tensor());
  tg::max(x).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0}));
}

TEST(Reduce, MeanGradientIsOneOverCount) {
  tg::Tensor x = tg::zeros({2, 4}, tg::kFloat64).requires_grad_();
  tg::mean(x, {1}).backward(f64({1, 2}, {2}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5}));
}

TEST(Reduce, BitwiseSameAtOneAndTwoThreads) {
  ThreadGuard restore;
  tg::Generator gen(8);
  const tg::Tensor x = tg::randn({16, 128, 128}, gen);  // 2^18 elements
  auto run = [&] {
    return Tensors{tg::sum(x),         tg::mean(x),         tg::max(x),
                   tg::sum(x, {0, 2}), tg::mean(x, {1}),    tg::max(x, {0}),
                   tg::sum(x, {-1}),   tg::mean(x, {0, 1}), tg::max(x, {1, 2})};
  };
  tg::set_num_threads(1);
  const Tensors one = run();
  tg::set_num_threads(2);
  const Tensors two = run();
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}
