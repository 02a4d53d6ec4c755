#include <gtest/gtest.h>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::expect_error_containing;

TEST(Flatten, DefaultKeepsTheBatchDimAndSharesStorage) {
  tg::nn::Flatten flatten;
  EXPECT_EQ(flatten.name(), "Flatten(start_dim=1, end_dim=-1)");
  tg::Tensor x = tg::arange(2 * 8 * 3 * 3).reshape({2, 8, 3, 3});
  tg::Tensor y = flatten(x);
  EXPECT_EQ(y.shape(), (tg::Shape{2, 72}));
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
}

TEST(Flatten, StartAndEndDims) {
  const tg::Tensor x = tg::zeros({2, 3, 4, 5});
  EXPECT_EQ(tg::nn::Flatten(0).forward(x).shape(), (tg::Shape{120}));
  EXPECT_EQ(tg::nn::Flatten(1, 2).forward(x).shape(), (tg::Shape{2, 12, 5}));
  EXPECT_EQ(tg::nn::Flatten(-2, -1).forward(x).shape(), (tg::Shape{2, 3, 20}));
  EXPECT_EQ(tg::nn::Flatten(1, 2).name(), "Flatten(start_dim=1, end_dim=2)");
}

TEST(Flatten, GradientFlowsBackWithTheInputShape) {
  tg::Generator gen(31);
  tg::Tensor x = tg::randn({2, 2, 3, 3}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor w = tg::randn({4, 18}, gen, tg::kFloat64).requires_grad_();
  tg::nn::Flatten flatten;
  EXPECT_GRADCHECK(
      [&](const std::vector<tg::Tensor>& in) { return tg::linear(flatten(in[0]), in[1]); }, {x, w});
}

TEST(Flatten, RejectsBadDims) {
  expect_error_containing([] { tg::nn::Flatten(1).forward(tg::zeros({4})); },
                          "flatten: expected a dimension in [-1, 0], got 1");
  expect_error_containing(
      [] {
        tg::nn::Flatten(2, 1).forward(tg::zeros({2, 3, 4}));
      },
      "flatten: expected start_dim <= end_dim");
}
