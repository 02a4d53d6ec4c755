#include <gtest/gtest.h>

#include <functional>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/reduce.hpp"
#include "tapegrad/autograd/shape_ops.hpp"

namespace tg = tapegrad;
using tapegrad::testing::expect_error;
using tapegrad::testing::values;
using Tensors = std::vector<tg::Tensor>;

TEST(ShapeOps, ReshapeAndViewShareStorage) {
  const tg::Tensor x = tg::arange(12.0, tg::kFloat64);
  const tg::Tensor r = x.reshape({3, -1});
  EXPECT_EQ(r.shape(), (tg::Shape{3, 4}));
  EXPECT_TRUE(r.shares_storage(x));
  EXPECT_EQ(values(r), values(x));
  EXPECT_EQ(tg::view(x, {2, 2, -1}).shape(), (tg::Shape{2, 2, 3}));
  EXPECT_EQ(x.view({-1}).shape(), (tg::Shape{12}));
  EXPECT_EQ(tg::reshape(tg::scalar_tensor(1.0), {1, 1}).shape(), (tg::Shape{1, 1}));
  EXPECT_EQ(tg::reshape(tg::ones({1, 1}), {}).shape(), tg::Shape{});
  EXPECT_EQ(tg::reshape(tg::zeros({0, 4}), {2, 0, 2}).shape(), (tg::Shape{2, 0, 2}));
  // A write through the alias is a write to x, and bumps their shared version.
  tg::Tensor alias = x.view({12});
  const std::uint64_t before = x.version();
  alias.fill_(0.5);
  EXPECT_EQ(x.at<double>({3}), 0.5);
  EXPECT_EQ(x.version(), before + 1);
}

TEST(ShapeOps, ReshapeErrors) {
  const tg::Tensor x = tg::zeros({2, 3});
  expect_error(
      [&] {
        x.reshape({4, 2});
      },
      "reshape: shape [4, 2] is invalid for input of size 6 (shape [2, 3])");
  expect_error(
      [&] {
        x.view({-1, 4});
      },
      "view: shape [-1, 4] is invalid for input of size 6 (shape [2, 3])");
  expect_error(
      [&] {
        x.reshape({-1, -1});
      },
      "reshape: expected at most one -1 in the shape, got [-1, -1]");
  expect_error(
      [&] {
        x.reshape({-2, -3});
      },
      "reshape: expected sizes >= 0 (or one -1), got shape [-2, -3]");
  expect_error(
      [&] {
        tg::zeros({0, 3}).reshape({0, -1});
      },
      "reshape: shape [0, -1] is invalid for input of size 0 (shape [0, 3])");
}

TEST(ShapeOps, Flatten) {
  const tg::Tensor x = tg::zeros({2, 3, 4, 5});
  EXPECT_EQ(x.flatten().shape(), (tg::Shape{120}));
  EXPECT_EQ(x.flatten(1).shape(), (tg::Shape{2, 60}));
  EXPECT_EQ(tg::flatten(x, 1, 2).shape(), (tg::Shape{2, 12, 5}));
  EXPECT_EQ(tg::flatten(x, -2).shape(), (tg::Shape{2, 3, 20}));
  EXPECT_EQ(tg::flatten(x, 2, 2).shape(), (tg::Shape{2, 3, 4, 5}));
  EXPECT_EQ(tg::flatten(tg::scalar_tensor(3.0)).shape(), (tg::Shape{1}));
  EXPECT_TRUE(x.flatten(1).shares_storage(x));
  expect_error([&] { x.flatten(2, 1); },
               "flatten: expected start_dim <= end_dim, got 2 and 1 for shape [2, 3, 4, 5]");
  expect_error([&] { x.flatten(4); }, "flatten: expected a dimension in [-4, 3], got 4");
}

TEST(ShapeOps, TransposeAndPermuteValues) {
  const tg::Tensor x = tg::arange(6.0, tg::kFloat64).reshape({2, 3});
  const tg::Tensor t = x.transpose(0, 1);
  EXPECT_EQ(t.shape(), (tg::Shape{3, 2}));
  EXPECT_EQ(values(t), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_FALSE(t.shares_storage(x));
  EXPECT_EQ(values(tg::transpose(x, -1, -2)), values(t));
  EXPECT_EQ(values(x.transpose(1, 1)), values(x));
  // permute against a naive index map: result dim k is x's dim dims[k].
  const tg::Shape s = {2, 3, 4, 5};
  const tg::Tensor x4 = tg::arange(120.0, tg::kFloat64).reshape(s);
  const std::vector<std::int64_t> dims = {1, 3, 2, 0};
  const tg::Tensor y = x4.permute(dims);
  EXPECT_EQ(y.shape(), (tg::Shape{3, 5, 4, 2}));
  for (std::int64_t i0 = 0; i0 < 3; ++i0)
    for (std::int64_t i1 = 0; i1 < 5; ++i1)
      for (std::int64_t i2 = 0; i2 < 4; ++i2)
        for (std::int64_t i3 = 0; i3 < 2; ++i3)
          ASSERT_EQ(y.at<double>({i0, i1, i2, i3}), x4.at<double>({i3, i0, i2, i1}));
  // Output dims that stay adjacent in x are merged (here x's dims 0 and 1): same values.
  const tg::Tensor z = tg::permute(x4, {2, 0, 1, 3});
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t k = 0; k < 3; ++k)
        for (std::int64_t l = 0; l < 5; ++l)
          ASSERT_EQ(z.at<double>({i, j, k, l}), x4.at<double>({j, k, i, l}));
  const tg::Tensor ints = tg::from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ints.transpose(0, 1).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{1, 3, 2, 4}));
  // A large transpose runs over several parallel chunks.
  const tg::Tensor big = tg::arange(300.0 * 400.0, tg::kFloat32).reshape({300, 400});
  const tg::Tensor bt = big.transpose(0, 1);
  EXPECT_EQ(bt.at<float>({399, 299}), big.at<float>({299, 399}));
  EXPECT_EQ(bt.at<float>({123, 45}), big.at<float>({45, 123}));
  EXPECT_EQ(values(bt.transpose(0, 1)), values(big));
}

TEST(ShapeOps, PermuteErrors) {
  const tg::Tensor x = tg::zeros({2, 3, 4});
  expect_error(
      [&] {
        x.permute({0, 1});
      },
      "permute: expected 3 dims for shape [2, 3, 4], got [0, 1]");
  expect_error(
      [&] {
        x.permute({0, 1, 1});
      },
      "permute: expected a permutation of the dims of [2, 3, 4], got [0, 1, 1]");
  expect_error([&] { x.permute({0, 1, 3}); }, "permute: expected a dimension in [-3, 2], got 3");
  expect_error([&] { x.transpose(0, 3); }, "transpose: expected a dimension in [-3, 2], got 3");
}

TEST(ShapeOps, ContiguousCloneAndTo) {
  tg::Tensor x = tg::from_vector(std::vector<float>{1.5f, -2.5f}, {2});
  EXPECT_TRUE(x.contiguous().is_same(x));
  const tg::Tensor c = x.clone();
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_EQ(c.to_vector<float>(), x.to_vector<float>());
  EXPECT_TRUE(x.to(tg::kFloat32).is_same(x));
  const tg::Tensor d = x.to(tg::kFloat64);
  EXPECT_EQ(d.dtype(), tg::kFloat64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.5, -2.5}));
  EXPECT_EQ(x.to(tg::kInt64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2}));
  // Float conversions carry gradients; a conversion to int64 does not.
  x.requires_grad_();
  EXPECT_TRUE(x.to(tg::kFloat64).requires_grad());
  EXPECT_FALSE(x.to(tg::kInt64).requires_grad());
  tg::sum(tg::mul(x.to(tg::kFloat64), 3.0)).backward();
  EXPECT_EQ(x.grad().dtype(), tg::kFloat32);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 3}));
}

TEST(ShapeOps, BroadcastTo) {
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, 2}, {2, 1});
  EXPECT_EQ(values(tg::broadcast_to(x, {3, 2, 2})),
            (std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2}));
  expect_error(
      [&] {
        tg::broadcast_to(x, {3, 3});
      },
      "broadcast_to: shapes [2, 1] and [3, 3] do not broadcast");
  expect_error([&] { tg::broadcast_to(x, {2}); },
               "broadcast_to: expected a shape that [2, 1] broadcasts to, got [2]");
}

TEST(ShapeOps, GradCheckEveryOp) {
  tg::Generator gen(41);
  const tg::Tensor x = tg::randn({2, 3, 4}, gen, tg::kFloat64).requires_grad_();
  const tg::Tensor w = tg::randn({4, 3, 2}, gen, tg::kFloat64);
  // Each op is followed by a product with fixed weights so every element's gradient differs.
  auto weighted = [&](const tg::Tensor& y) { return tg::mul(y, w.reshape(y.shape())); };
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].reshape({4, -1})); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].view({24})); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].flatten(1)); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].transpose(0, 2)); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].transpose(-1, 1)); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].permute({2, 0, 1})); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].permute({1, 2, 0})); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].clone()); }, {x});
  EXPECT_GRADCHECK([&](const Tensors& in) { return weighted(in[0].contiguous()); }, {x});
  EXPECT_GRADCHECK(
      [&](const Tensors& in) { return weighted(in[0].to(tg::kFloat32).to(tg::kFloat64)); }, {x},
      tg::GradcheckOptions{.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2});
  const tg::Tensor b = tg::randn({3, 1}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK(
      [&](const Tensors& in) {
        return tg::broadcast_to(in[0], {2, 3, 4}) * x.detach();
      },
      {b});
}

TEST(ShapeOps, GradientFlowsThroughAViewChain) {
  tg::Tensor x = tg::arange(6.0, tg::kFloat64).requires_grad_();
  const tg::Tensor y = x.reshape({2, 3}).transpose(0, 1).flatten();  // [0, 3, 1, 4, 2, 5]
  EXPECT_EQ(y.grad_fn_name(), "flatten");
  tg::sum(tg::mul(y, tg::arange(6.0, tg::kFloat64))).backward();
  // dy_k = k; x_i sits at y position p(i) = [0, 2, 4, 1, 3, 5][i].
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 2, 4, 1, 3, 5}));
}
