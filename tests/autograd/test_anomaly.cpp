// Anomaly mode: the first op whose forward output or backward gradient holds a NaN or an Inf
// throws, naming the op, its inputs and whether the value came in with an input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "layers/layer_test_util.hpp"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
using tg::testing::expect_error;
using tg::testing::f32;
using tg::testing::f64;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool has_nan(const tg::Tensor& t) {
  for (double v : t.to_vector<double>())
    if (std::isnan(v)) return true;
  return false;
}

}  // namespace

TEST(Anomaly, OffByDefaultAndGuardRestoresThePreviousSetting) {
  EXPECT_FALSE(tg::is_anomaly_enabled());
  {
    tg::DetectAnomalyGuard on;
    EXPECT_TRUE(tg::is_anomaly_enabled());
    {
      tg::DetectAnomalyGuard off(false);
      EXPECT_FALSE(tg::is_anomaly_enabled());
    }
    EXPECT_TRUE(tg::is_anomaly_enabled());
  }
  EXPECT_FALSE(tg::is_anomaly_enabled());

  tg::set_detect_anomaly(true);
  { tg::DetectAnomalyGuard off(false); }
  EXPECT_TRUE(tg::is_anomaly_enabled());
  tg::set_detect_anomaly(false);
}

TEST(Anomaly, SwitchIsProcessWideLikePyTorch) {
  tg::DetectAnomalyGuard on;
  bool seen = false;
  std::thread([&] { seen = tg::is_anomaly_enabled(); }).join();
  EXPECT_TRUE(seen);
}

TEST(Anomaly, LogOfNegativeIsCaughtAtLog) {
  tg::Tensor x = f32({1, -2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  tg::DetectAnomalyGuard g;
  expect_error([&] { tg::log(x); },
               "anomaly: log produced NaN in its forward output; inputs: [2, 3] float32");
}

TEST(Anomaly, SqrtOfNegativeIsCaughtAtSqrt) {
  tg::Tensor x = f64({4, -1, 9}, {3}).requires_grad_();
  tg::DetectAnomalyGuard g;
  expect_error([&] { tg::sqrt(tg::mul(x, 2.0)); },
               "anomaly: sqrt produced NaN in its forward output; inputs: [3] float64");
}

TEST(Anomaly, DivisionByZeroIsCaughtAtDiv) {
  tg::Tensor a = f32({1, 2}, {2}).requires_grad_();
  tg::Tensor b = f32({0, 1}, {2});
  tg::DetectAnomalyGuard g;
  expect_error([&] { tg::div(a, b); },
               "anomaly: div produced Inf in its forward output; inputs: [2] float32, [2] float32");
  expect_error([&] { tg::div(tg::sub(a, 1.0), tg::zeros({2})); },  // [0/0, 1/0]
               "anomaly: div produced NaN and Inf in its forward output; inputs: [2] float32, [2] "
               "float32");
}

TEST(Anomaly, ExpOverflowIsCaughtAtExp) {
  tg::Tensor x = f32({1, 100}, {1, 2}).requires_grad_();
  tg::DetectAnomalyGuard g;
  expect_error([&] { tg::exp(x); },
               "anomaly: exp produced Inf in its forward output; inputs: [1, 2] float32");
}

TEST(Anomaly, InputAlreadyNonFiniteIsNamed) {
  tg::Tensor x = f32({kNaN, 1}, {2});  // e.g. bad data: it records nothing itself
  tg::Tensor w = f32({2, 3}, {2}).requires_grad_();
  tg::DetectAnomalyGuard g;
  expect_error([&] { tg::mul(x, w); },
               "anomaly: mul produced NaN in its forward output; inputs: [2] float32 (contains "
               "NaN), [2] float32; input 0 was already non-finite (the anomaly started before "
               "mul)");
}

TEST(Anomaly, OnlyOpsThatRecordAreChecked) {
  tg::Tensor x = f32({-1, 1}, {2}).requires_grad_();
  tg::DetectAnomalyGuard g;
  {
    tg::NoGradGuard no_grad;
    EXPECT_TRUE(has_nan(tg::log(x)));
  }
  EXPECT_TRUE(has_nan(tg::log(x.detach())));
}

TEST(Anomaly, OffTheSameProgramProducesNaNSilently) {
  tg::Tensor x = f32({1, -2, 3}, {3}).requires_grad_();
  tg::Tensor y = tg::sum(tg::log(x));
  EXPECT_TRUE(std::isnan(y.item()));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1.0f, -0.5f, 1.0f / 3.0f}));

  tg::Tensor r = f32({0, 4}, {2}).requires_grad_();
  tg::sum(tg::sqrt(r)).backward();
  EXPECT_TRUE(std::isinf(r.grad().to_vector<float>()[0]));
}

TEST(Anomaly, BackwardInfWhereForwardIsFinite) {
  tg::Tensor x = f32({0, 1, 4}, {3}).requires_grad_();
  tg::DetectAnomalyGuard g;
  tg::Tensor y = tg::sum(tg::sqrt(x));  // sqrt(0) = 0, but d sqrt / dx = 1 / (2 sqrt(0)) = Inf
  EXPECT_DOUBLE_EQ(y.item(), 3.0);
  expect_error([&] { y.backward(); },
               "anomaly: backward of sqrt returned Inf in the gradient of input 0 ([3] float32); "
               "inputs: [3] float32");
  EXPECT_FALSE(x.grad().defined());  // checked before anything is accumulated
}

TEST(Anomaly, BackwardNaNNamesTheInputAndLeavesTheTapeUsable) {
  const std::size_t before = tg::autograd::tape().size();
  tg::Tensor a = f32({0, 1, 2, 3}, {4}).requires_grad_();
  tg::Tensor b = f32({1e-30f, 1, 2, 4}, {4}).requires_grad_();
  tg::DetectAnomalyGuard g;
  {
    // a / b is finite, but d/db = -a / b^2 = -0 / 0 (b^2 underflows) is NaN at element 0.
    tg::Tensor loss = tg::sum(tg::div(a, b));
    expect_error([&] { loss.backward(); },
                 "anomaly: backward of div returned NaN in the gradient of input 1 ([4] float32); "
                 "inputs: [4] float32, [4] float32");
    EXPECT_FALSE(a.grad().defined());
    EXPECT_FALSE(b.grad().defined());
    // The sum node was replayed and freed; a second backward says so.
    tg::testing::expect_error_containing([&] { loss.backward(); }, "second time");
  }
  EXPECT_EQ(tg::autograd::tape().size(), before);

  // A fresh graph on the same tape trains as usual.
  tg::Tensor c = f32({1, 2, 2, 4}, {4}).requires_grad_();
  tg::sum(tg::div(a, c)).backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{1, 0.5f, 0.5f, 0.25f}));
  EXPECT_EQ(c.grad().to_vector<float>(), (std::vector<float>{0, -0.25f, -0.5f, -0.1875f}));
  EXPECT_EQ(tg::autograd::tape().size(), before);
}

TEST(Anomaly, BackwardSaysWhenTheReceivedGradientWasAlreadyNonFinite) {
  tg::Tensor x = f32({1, 2}, {2}).requires_grad_();
  tg::DetectAnomalyGuard g;
  tg::Tensor y = tg::mul(x, 2.0);
  expect_error(
      [&] {
        y.backward(f32({kNaN, 1}, {2}));
      },
      "anomaly: backward of mul returned NaN in the gradient of input 0 ([2] float32); "
      "inputs: [2] float32; the gradient it received for output 0 already contained NaN");
}

TEST(Anomaly, NaNWeightInANetworkIsCaughtAtItsLayersOp) {
  tg::Generator gen(3);
  nn::Sequential net{nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding(1), gen),
                     nn::BatchNorm2d(nn::BatchNorm2dOptions(4)), nn::ReLU(), nn::Flatten(),
                     nn::Linear(nn::LinearOptions(4 * 5 * 5, 3), gen)};
  net.train();
  const tg::Tensor x = tg::randn({2, 1, 5, 5}, gen);
  const tg::Tensor labels = tg::from_vector(std::vector<std::int64_t>{0, 2}, {2});
  auto step = [&] { tg::nn::functional::cross_entropy(net.forward(x), labels).backward(); };
  auto param = [&](const std::string& name) {
    for (auto& [n, t] : net.named_parameters())
      if (n == name) return t;
    throw std::runtime_error("no parameter " + name);
  };

  tg::DetectAnomalyGuard g;
  step();  // finite: no error

  tg::Tensor gamma = param("1.weight");
  const tg::Tensor saved_gamma = gamma.clone();
  {
    tg::NoGradGuard no_grad;
    gamma.fill_(kNaN);
  }
  expect_error(step,
               "anomaly: batch_norm produced NaN in its forward output; inputs: [2, 4, 5, 5] "
               "float32, [4] float32 (contains NaN), [4] float32; input 1 was already non-finite "
               "(the anomaly started before batch_norm)");
  {
    tg::NoGradGuard no_grad;
    gamma.copy_(saved_gamma);
    param("0.weight").fill_(kNaN);
  }
  expect_error(step,
               "anomaly: conv2d produced NaN in its forward output; inputs: [2, 1, 5, 5] float32, "
               "[4, 1, 3, 3] float32 (contains NaN), [4] float32; input 1 was already non-finite "
               "(the anomaly started before conv2d)");
}
