#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/reduce.hpp"
#include "tapegrad/autograd/shape_ops.hpp"

namespace tg = tapegrad;
using tapegrad::testing::expect_error;
using tapegrad::testing::f32;
using tapegrad::testing::ThreadGuard;

TEST(InPlace, ValuesAndVersions) {
  tg::Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  const void* data = x.raw_data();
  EXPECT_EQ(x.version(), 0U);
  x.add_(f32({1, 1, 1, 1, 1, 1}, {2, 3}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{2, 3, 4, 5, 6, 7}));
  x.add_(f32({10, 20, 30}, {3}), -0.5);  // broadcast, with alpha
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{-3, -7, -11, 0, -4, -8}));
  x.add_(1.0);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{-2, -6, -10, 1, -3, -7}));
  x.mul_(f32({2, -1}, {2, 1}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{-4, -12, -20, -1, 3, 7}));
  x.mul_(0.5);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{-2, -6, -10, -0.5, 1.5, 3.5}));
  x.fill_(2.5);
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(6, 2.5f));
  x.zero_();
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(x.version(), 7U);
  EXPECT_EQ(x.raw_data(), data);  // all in the tensor's own storage
  tg::Tensor& same = x.add_(1.0).mul_(3.0);
  EXPECT_TRUE(same.is_same(x));
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(6, 3.0f));
  x.add_(x);  // an operand that is self
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(6, 6.0f));
}

TEST(InPlace, CopyConvertsAndBroadcasts) {
  tg::Tensor x = tg::zeros({2, 3});
  x.copy_(tg::from_vector(std::vector<double>{1.5, 2.5, 3.5}, {3}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1.5, 2.5, 3.5, 1.5, 2.5, 3.5}));
  x.copy_(tg::from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  tg::Tensor counts = tg::zeros({2}, tg::kInt64);
  counts.copy_(f32({7.9f, -2.2f}, {2}));
  EXPECT_EQ(counts.to_vector<std::int64_t>(), (std::vector<std::int64_t>{7, -2}));
  counts.add_(1.0);  // num_batches_tracked += 1
  counts.add_(tg::from_vector(std::vector<std::int64_t>{10, 20}, {2}), 2.0);
  EXPECT_EQ(counts.to_vector<std::int64_t>(), (std::vector<std::int64_t>{28, 39}));
  tg::Tensor d = tg::zeros({3}, tg::kFloat64);
  d.copy_(tg::scalar_tensor(4.0));
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{4, 4, 4}));
  d.copy_(d.view({3}));  // the same elements: nothing to do, but still a write
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{4, 4, 4}));
  EXPECT_EQ(d.version(), 2U);
}

TEST(InPlace, LeafThatRequiresGradIsRefusedOutsideNoGradGuard) {
  tg::Tensor w = tg::ones({3}).requires_grad_();
  const std::string tail =
      "a leaf tensor that requires grad cannot be modified in place outside "
      "NoGradGuard (shape [3])";
  expect_error([&] { w.add_(tg::ones({3})); }, "add_: " + tail);
  expect_error([&] { w.add_(1.0); }, "add_: " + tail);
  expect_error([&] { w.mul_(2.0); }, "mul_: " + tail);
  expect_error([&] { w.mul_(tg::ones({3})); }, "mul_: " + tail);
  expect_error([&] { w.zero_(); }, "zero_: " + tail);
  expect_error([&] { w.fill_(1.0); }, "fill_: " + tail);
  expect_error([&] { w.copy_(tg::ones({3})); }, "copy_: " + tail);
  EXPECT_EQ(w.version(), 0U);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(3, 1.0f));
  // An optimizer step: under NoGradGuard the same calls are fine.
  w.set_grad(tg::full({3}, 0.5));
  {
    tg::NoGradGuard guard;
    w.add_(w.grad(), -0.1);
  }
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(3, 1.0f - 0.1f * 0.5f));
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
}

TEST(InPlace, NonLeafThatRequiresGradIsRefused) {
  tg::Tensor w = tg::ones({2}).requires_grad_();
  tg::Tensor y = tg::mul(w, 2.0);
  expect_error([&] { y.add_(1.0); },
               "add_: in-place ops are not differentiable in tapegrad, and this tensor requires "
               "grad (the output of mul, shape [2]); use the out-of-place op, or NoGradGuard");
  // A gradient never requires grad, so zero_grad-style updates need no guard.
  tg::sum(y).backward();
  w.grad().zero_();
  EXPECT_EQ(w.grad().to_vector<float>(), std::vector<float>(2, 0.0f));
}

TEST(InPlace, BadOperands) {
  tg::Tensor x = tg::zeros({2, 3});
  expect_error([&] { x.add_(tg::zeros({3}, tg::kFloat64)); },
               "add_: expected tensors of the same dtype, got float32 [2, 3] and float64 [3]");
  expect_error(
      [&] {
        x.add_(tg::zeros({2, 2, 3}));
      },
      "add_: expected an operand that broadcasts to [2, 3], got [2, 2, 3]");
  expect_error([&] { x.mul_(tg::zeros({4})); }, "mul_: shapes [2, 3] and [4] do not broadcast");
  expect_error(
      [&] {
        x.copy_(tg::zeros({3, 1}));
      },
      "copy_: shapes [2, 3] and [3, 1] do not broadcast");
  expect_error(
      [&] {
        x.copy_(tg::zeros({1, 2, 3}));
      },
      "copy_: expected a source that broadcasts to [2, 3], got [1, 2, 3]");
  tg::Tensor counts = tg::zeros({2}, tg::kInt64);
  expect_error([&] { counts.add_(0.5); },
               "add_: expected an integral value for an int64 tensor, got 0.5 (shape [2])");
  EXPECT_EQ(x.version(), 0U);
  EXPECT_EQ(counts.version(), 0U);
}

TEST(InPlace, ModifyingASavedTensorMakesBackwardFail) {
  tg::Tensor a = f32({1, 2}, {2}).requires_grad_();
  tg::Tensor b = f32({3, 4}, {2});
  tg::Tensor y = tg::mul(a, b);  // saves a and b
  {
    tg::NoGradGuard guard;
    b.add_(1.0);
  }
  expect_error([&] { y.backward(tg::ones({2})); },
               "backward: a tensor saved by mul was modified in place (version 1, expected 0)");
}

TEST(InPlace, WritingThroughAViewOfASavedTensorIsDetected) {
  tg::Tensor a = f32({1, 2, 3, 4}, {2, 2}).requires_grad_();
  tg::Tensor y = tg::exp(a);  // saves its output
  {
    tg::NoGradGuard guard;
    y.view({4}).mul_(2.0);
  }
  expect_error([&] { tg::sum(y).backward(); },
               "backward: a tensor saved by exp was modified in place (version 1, expected 0)");
}

TEST(InPlace, SameAtOneAndTwoThreads) {
  ThreadGuard restore;
  tg::Generator gen(51);
  const tg::Tensor start = tg::randn({1 << 18}, gen);
  const tg::Tensor g = tg::randn({1 << 18}, gen);
  const tg::Tensor row = tg::randn({512}, gen);
  auto run = [&] {
    tg::Tensor p = start.clone();
    p.add_(g, -0.01).mul_(0.9).add_(0.25);
    p.reshape({512, 512}).add_(row).mul_(row);
    return p;
  };
  tg::set_num_threads(1);
  const tg::Tensor one = run();
  tg::set_num_threads(2);
  const tg::Tensor two = run();
  EXPECT_EQ(std::memcmp(one.raw_data(), two.raw_data(), one.nbytes()), 0);
}
