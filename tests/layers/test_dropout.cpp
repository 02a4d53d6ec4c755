#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::bitwise_equal;
using tg::testing::expect_error_containing;

TEST(Dropout, IdentityWhenNotTrainingOrPZero) {
  tg::Generator gen(1);
  tg::Tensor x = tg::randn({4, 5}, gen).requires_grad_();
  EXPECT_TRUE(tg::dropout(x, 0.5, /*training=*/false, gen).is_same(x));
  EXPECT_TRUE(tg::dropout(x, 0.0, /*training=*/true, gen).is_same(x));
}

TEST(Dropout, KeepsAboutOneMinusPAndScalesThem) {
  tg::Generator gen(2);
  const std::int64_t n = 200000;
  tg::Tensor x = tg::ones({n}).requires_grad_();
  tg::Tensor y = tg::dropout(x, 0.25, true, gen);
  std::int64_t kept = 0;
  for (float v : y.to_vector<float>()) {
    ASSERT_TRUE(v == 0.0f || v == 1.0f / 0.75f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.005);
  // The backward uses the same mask and scale: with x = 1 and dy = 1, dx = y.
  y.backward(tg::ones({n}));
  EXPECT_TRUE(bitwise_equal(x.grad(), y.detach()));
}

TEST(Dropout, POneGivesZerosAndZeroGradient) {
  tg::Generator gen(3);
  tg::Tensor x = tg::randn({3, 4}, gen).requires_grad_();
  tg::Tensor y = tg::dropout(x, 1.0, true, gen);
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(12, 0.0f));
  y.backward(tg::ones({3, 4}));
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(12, 0.0f));
}

TEST(Dropout, SameSeedSameMaskAndEachCallANewMask) {
  tg::Tensor x = tg::ones({1000});
  tg::Generator a(42), b(42), c(43);
  const tg::Tensor ya = tg::dropout(x, 0.5, true, a);
  EXPECT_TRUE(bitwise_equal(ya, tg::dropout(x, 0.5, true, b)));
  EXPECT_FALSE(bitwise_equal(ya, tg::dropout(x, 0.5, true, c)));
  EXPECT_FALSE(bitwise_equal(ya, tg::dropout(x, 0.5, true, a)));  // the generator moved on
}

TEST(Dropout, GradCheck) {
  tg::Generator gen(4);
  tg::Tensor x = tg::randn({3, 5}, gen, tg::kFloat64).requires_grad_();
  // A fresh generator per call: gradcheck evaluates the function many times with one mask.
  EXPECT_GRADCHECK(
      [](const std::vector<tg::Tensor>& in) {
        tg::Generator g(9);
        return tg::dropout(in[0], 0.4, true, g);
      },
      {x});
}

TEST(Dropout, BitwiseSameAt1And2Threads) {
  tg::Generator gen(5);
  const tg::Tensor x0 = tg::randn({3 * (1 << 15) + 3}, gen);
  tg::testing::expect_same_at_1_and_2_threads([&] {
    tg::Generator g(6);
    tg::Tensor x = tg::copy_data(x0, tg::kFloat32).requires_grad_();
    tg::Tensor y = tg::dropout(x, 0.3, true, g);
    y.backward(tg::ones(x0.shape()));
    return std::vector<tg::Tensor>{y, x.grad()};
  });
}

TEST(Dropout, RejectsBadInput) {
  tg::Generator gen;
  expect_error_containing([&] { tg::dropout(tg::ones({2}), 1.5, true, gen); },
                          "dropout: expected a probability p in [0, 1], got 1.5");
  expect_error_containing([&] { tg::dropout(tg::ones({2}), -0.1, true, gen); },
                          "dropout: expected a probability p in [0, 1], got -0.1");
  expect_error_containing([&] { tg::dropout(tg::ones({2}), std::nan(""), true, gen); },
                          "dropout: expected a probability p in [0, 1], got nan");
  expect_error_containing([&] { tg::dropout(tg::ones({2}, tg::kInt64), 0.5, true, gen); },
                          "dropout: expected a float32 or float64 input, got int64 [2]");
}

// ---- nn::Dropout ----

TEST(DropoutModule, IdentityInEvalAndSeededMasksInTraining) {
  tg::nn::Dropout a(0.5, 7), b(0.5, 7), c(0.5, 8);
  EXPECT_EQ(a.name(), "Dropout(p=0.5)");
  tg::Tensor x = tg::ones({500});
  const tg::Tensor ya = a(x);
  EXPECT_TRUE(bitwise_equal(ya, b(x)));   // same seed, same masks
  EXPECT_FALSE(bitwise_equal(ya, c(x)));  // another seed
  EXPECT_FALSE(bitwise_equal(ya, a(x)));  // the next call draws a new mask
  a.eval();
  EXPECT_TRUE(a(x).is_same(x));
  a.train();
  EXPECT_FALSE(a(x).is_same(x));
}

TEST(DropoutModule, UnseededLayersDrawFromTheDefaultGenerator) {
  tg::nn::init::default_generator().seed(123);
  tg::nn::Dropout a(0.3);
  tg::nn::init::default_generator().seed(123);
  tg::nn::Dropout b(0.3);
  tg::Tensor x = tg::ones({500});
  EXPECT_TRUE(bitwise_equal(a(x), b(x)));
}

TEST(DropoutModule, RejectsBadP) {
  expect_error_containing([] { tg::nn::Dropout(2.0); },
                          "Dropout: expected a probability p in [0, 1], got 2");
}
