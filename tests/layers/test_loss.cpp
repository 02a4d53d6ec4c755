#include <gtest/gtest.h>

#include <cmath>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::Reduction;
using tg::testing::all_close;
using tg::testing::expect_error_containing;
using tg::testing::layer_fixture;

namespace {

const std::vector<std::pair<Reduction, std::string>> kReductions = {
    {Reduction::Mean, "mean"}, {Reduction::Sum, "sum"}, {Reduction::None, "none"}};

using LossFn = std::function<tg::Tensor(const tg::Tensor&, const tg::Tensor&, Reduction)>;

// Loss of x against the fixture's labels t, and dx, against PyTorch.
void expect_class_loss_matches(const std::string& op, const LossFn& loss) {
  for (const auto& [reduction, tag] : kReductions) {
    const std::string name = op + "_" + tag;
    tg::Tensor x = layer_fixture(name, "x").requires_grad_();
    tg::Tensor y = loss(x, layer_fixture(name, "t"), reduction);
    EXPECT_TRUE(all_close(y, layer_fixture(name, "y"))) << name;
    y.backward(layer_fixture(name, "g"));
    EXPECT_TRUE(all_close(x.grad(), layer_fixture(name, "dx"))) << name;
  }
}

tg::Tensor labels(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return tg::from_vector(v, {n});
}

}  // namespace

// ---- cross_entropy ----

TEST(CrossEntropy, MatchesPyTorchEveryReduction) {
  expect_class_loss_matches("cross_entropy", [](const auto& x, const auto& t, Reduction r) {
    return tg::cross_entropy(x, t, r);
  });
}

TEST(CrossEntropy, HandComputed) {
  // Uniform logits over 4 classes: loss log 4; gradient (1/4 - onehot) / N for the mean.
  tg::Tensor x = tg::zeros({2, 4}, tg::kFloat64).requires_grad_();
  tg::Tensor loss = tg::cross_entropy(x, labels({1, 3}));
  EXPECT_EQ(loss.shape(), tg::Shape{});
  EXPECT_NEAR(loss.item<double>(), std::log(4.0), 1e-15);
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(),
            (std::vector<double>{0.125, -0.375, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375}));
}

TEST(CrossEntropy, ReachableThroughNnFunctional) {
  namespace F = tg::nn::functional;
  tg::Tensor x = tg::zeros({2, 4}, tg::kFloat64);
  const tg::Tensor t = labels({1, 3});
  EXPECT_EQ(F::cross_entropy(x, t, F::Reduction::Sum).item<double>(), 2 * std::log(4.0));
  EXPECT_EQ(F::nll_loss(F::log_softmax(x, 1), t).item<double>(), std::log(4.0));
}

TEST(CrossEntropy, StableForHugeLogits) {
  tg::Tensor x = tg::from_vector(std::vector<float>{1000, 0, -1000, 500, 501, 502}, {2, 3});
  const std::vector<float> l =
      tg::cross_entropy(x, labels({0, 0}), Reduction::None).to_vector<float>();
  EXPECT_NEAR(l[0], 0.0, 1e-6);
  EXPECT_NEAR(l[1], 2 + std::log(1 + std::exp(-1.0) + std::exp(-2.0)), 1e-5);
}

TEST(CrossEntropy, GradCheckEveryReduction) {
  tg::Generator gen(21);
  tg::Tensor x = tg::randn({5, 4}, gen, tg::kFloat64).requires_grad_();
  const tg::Tensor t = labels({3, 0, 1, 3, 2});
  for (const auto& [reduction, tag] : kReductions)
    EXPECT_GRADCHECK(
        [&, r = reduction](const std::vector<tg::Tensor>& in) {
          return tg::cross_entropy(in[0], t, r);
        },
        {x});
}

TEST(CrossEntropy, EqualsNllOfLogSoftmax) {
  tg::Generator gen(22);
  tg::Tensor x = tg::randn({6, 7}, gen, tg::kFloat64);
  const tg::Tensor t = labels({0, 6, 3, 3, 1, 5});
  EXPECT_TRUE(all_close(tg::cross_entropy(x, t, Reduction::None),
                        tg::nll_loss(tg::log_softmax(x, 1), t, Reduction::None), 1e-14, 1e-14));
}

TEST(CrossEntropy, RejectsBadInput) {
  const tg::Tensor x = tg::zeros({5, 10});
  expect_error_containing(
      [&] {
        tg::cross_entropy(x, labels({1, 2, 3, 12, 0}));
      },
      "cross_entropy: expected target labels in [0, 10), got 12 at index 3");
  expect_error_containing(
      [&] {
        tg::cross_entropy(x, labels({1, -1, 3, 2, 0}));
      },
      "cross_entropy: expected target labels in [0, 10), got -1 at index 1");
  expect_error_containing([&] { tg::cross_entropy(x, tg::zeros({5})); },
                          "cross_entropy: expected int64 target labels, got float32 [5]");
  expect_error_containing(
      [&] {
        tg::cross_entropy(x, labels({1, 2, 3}));
      },
      "cross_entropy: expected target [5] for input [5, 10], got [3]");
  expect_error_containing(
      [&] {
        tg::cross_entropy(tg::zeros({5, 10, 2}), labels({1, 2, 3, 4, 5}));
      },
      "cross_entropy: expected input [N, C], got [5, 10, 2]");
  expect_error_containing(
      [&] {
        tg::cross_entropy(tg::zeros({0, 10}), labels({}));
      },
      "cross_entropy: expected input [N, C] with non-zero sizes, got [0, 10]");
  expect_error_containing(
      [&] {
        tg::cross_entropy(tg::zeros({2, 3}, tg::kInt64), labels({0, 1}));
      },
      "cross_entropy: expected a float32 or float64 input, got int64 [2, 3]");
}

// ---- nll_loss ----

TEST(NllLoss, MatchesPyTorchEveryReduction) {
  expect_class_loss_matches(
      "nll_loss", [](const auto& x, const auto& t, Reduction r) { return tg::nll_loss(x, t, r); });
}

TEST(NllLoss, GradCheckEveryReduction) {
  tg::Generator gen(23);
  tg::Tensor x = tg::randn({4, 3}, gen, tg::kFloat64).requires_grad_();
  const tg::Tensor t = labels({2, 0, 0, 1});
  for (const auto& [reduction, tag] : kReductions)
    EXPECT_GRADCHECK(
        [&, r = reduction](const std::vector<tg::Tensor>& in) { return tg::nll_loss(in[0], t, r); },
        {x});
}

TEST(NllLoss, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::nll_loss(tg::zeros({2, 3}), labels({0, 3}));
      },
      "nll_loss: expected target labels in [0, 3), got 3 at index 1");
  expect_error_containing(
      [] {
        tg::nll_loss(tg::zeros({2, 3}), tg::zeros({2}, tg::kFloat64));
      },
      "nll_loss: expected int64 target labels, got float64 [2]");
}

// ---- mse_loss ----

TEST(MseLoss, MatchesPyTorchEveryReduction) {
  for (const auto& [reduction, tag] : kReductions) {
    const std::string name = "mse_loss_" + tag;
    tg::Tensor x = layer_fixture(name, "x").requires_grad_();
    tg::Tensor t = layer_fixture(name, "t").requires_grad_();
    tg::Tensor y = tg::mse_loss(x, t, reduction);
    EXPECT_TRUE(all_close(y, layer_fixture(name, "y"))) << name;
    y.backward(layer_fixture(name, "g"));
    EXPECT_TRUE(all_close(x.grad(), layer_fixture(name, "dx"))) << name;
    EXPECT_TRUE(all_close(t.grad(), layer_fixture(name, "dt"))) << name;
  }
}

TEST(MseLoss, HandComputed) {
  tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3}, {3});
  tg::Tensor t = tg::from_vector(std::vector<double>{1, 4, 0}, {3});
  EXPECT_EQ(tg::mse_loss(x, t).item<double>(), 13.0 / 3);
  EXPECT_EQ(tg::mse_loss(x, t, Reduction::Sum).item<double>(), 13.0);
  EXPECT_EQ(tg::mse_loss(x, t, Reduction::None).to_vector<double>(),
            (std::vector<double>{0, 4, 9}));
}

TEST(MseLoss, GradCheckBothInputsEveryReduction) {
  tg::Generator gen(24);
  tg::Tensor x = tg::randn({2, 3}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor t = tg::randn({2, 3}, gen, tg::kFloat64).requires_grad_();
  for (const auto& [reduction, tag] : kReductions)
    EXPECT_GRADCHECK(
        [r = reduction](const std::vector<tg::Tensor>& in) {
          return tg::mse_loss(in[0], in[1], r);
        },
        {x, t});
}

TEST(MseLoss, SumIsTheSameAt1And2Threads) {
  tg::Generator gen(25);
  const tg::Tensor x = tg::randn({5 * (1 << 15) + 1}, gen);
  const tg::Tensor t = tg::randn(x.shape(), gen);
  tg::testing::expect_same_at_1_and_2_threads(
      [&] { return std::vector<tg::Tensor>{tg::mse_loss(x, t)}; });
}

TEST(MseLoss, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::mse_loss(tg::zeros({4, 3}), tg::zeros({4}));
      },
      "mse_loss: expected target of the input's shape [4, 3], got [4]");
  expect_error_containing(
      [] { tg::mse_loss(tg::zeros({4}), tg::zeros({4}, tg::kFloat64)); },
      "mse_loss: expected input and target of one dtype, got float32 [4] and float64 [4]");
  expect_error_containing(
      [] {
        tg::mse_loss(tg::zeros({0, 2}), tg::zeros({0, 2}));
      },
      "mse_loss: expected non-empty tensors, got [0, 2]");
}
