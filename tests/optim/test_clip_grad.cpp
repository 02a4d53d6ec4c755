// clip_grad_norm_ / clip_grad_value_ against PyTorch 1.13, determinism, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>

#include "optim_fixture.hpp"

namespace {

namespace tg = tapegrad;
namespace optim = tapegrad::optim;
using optim_test::json;

// The fixture's step-0 gradients on zero parameters.
std::vector<tg::Tensor> params_with_fixture_grads(tg::Dtype dtype) {
  std::vector<tg::Tensor> params = optim_test::initial_params(dtype);
  optim_test::set_fixture_grads(params, 0);
  return params;
}

TEST(ClipGradNorm, MatchesTorchForEachNormType) {
  int checked = 0;
  for (const json& c : optim_test::parity().at("clip")) {
    if (c.at("kind") != "norm") continue;
    const double p = c.at("norm_type").is_string() ? INFINITY : c.at("norm_type").get<double>();
    for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << "norm_type " << p << " " << tg::dtype_name(dtype));
      std::vector<tg::Tensor> params = params_with_fixture_grads(dtype);
      const double total = optim::clip_grad_norm_(params, c.at("max_norm"), p);
      // PyTorch reduces float32 gradients in float32; tapegrad accumulates in double.
      EXPECT_NEAR(total, c.at("total_norm").get<double>(), 1e-6 * total);
      for (std::size_t i = 0; i < params.size(); ++i)
        EXPECT_LE(optim_test::max_scaled_error(params[i].grad(), c.at("grads")[i]), 1e-6);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(ClipGradNorm, HandComputedValuesAndNoClipBelowMaxNorm) {
  tg::Tensor a = tg::zeros({2}, tg::kFloat64).requires_grad_();
  tg::Tensor b = tg::zeros({1}, tg::kFloat64).requires_grad_();
  tg::Tensor no_grad = tg::zeros({3}, tg::kFloat64).requires_grad_();
  a.set_grad(tg::from_vector(std::vector<double>{3, 0}, {2}));
  b.set_grad(tg::from_vector(std::vector<double>{-4}, {1}));
  // norm 5 <= max_norm 10: unchanged
  EXPECT_EQ(optim::clip_grad_norm_({a, b, no_grad}, 10.0), 5.0);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3, 0}));
  // clipped to norm 1: coef = 1 / (5 + 1e-6)
  const std::uint64_t version = a.grad().version();
  EXPECT_EQ(optim::clip_grad_norm_({a, b, no_grad}, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(a.grad().at<double>({0}), 3.0 / (5.0 + 1e-6));
  EXPECT_DOUBLE_EQ(b.grad().at<double>({0}), -4.0 / (5.0 + 1e-6));
  EXPECT_GT(a.grad().version(), version);
  EXPECT_FALSE(no_grad.grad().defined());
  // infinity norm and the nn::utils spelling
  a.set_grad(tg::from_vector(std::vector<double>{3, 0}, {2}));
  b.set_grad(tg::from_vector(std::vector<double>{-4}, {1}));
  EXPECT_EQ(tg::nn::utils::clip_grad_norm_({a, b}, 100.0, INFINITY), 4.0);
  // no gradients at all: norm 0
  EXPECT_EQ(optim::clip_grad_norm_({no_grad}, 1.0), 0.0);
}

TEST(ClipGradNorm, NonFiniteNormIsAnErrorOnlyWhenAsked) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  a.set_grad(tg::from_vector(std::vector<float>{1, NAN}, {2}));
  try {
    optim::clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true);
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip_grad_norm_: the total norm of order 2 of the "
                                         "gradients is nan"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(a.grad().at<float>({0}), 1.0f);  // unchanged by the failed call
  // PyTorch's default: scale by the NaN coefficient.
  EXPECT_TRUE(std::isnan(optim::clip_grad_norm_({a}, 1.0)));
  EXPECT_TRUE(std::isnan(a.grad().at<float>({0})));
}

TEST(ClipGradNorm, SameResultAtOneAndTwoThreads) {
  const std::int64_t n = 3 * (1 << 15) + 77;  // several parallel chunks
  auto run = [&](int threads) {
    tg::set_num_threads(threads);
    tg::Tensor p = tg::zeros({n}).requires_grad_();
    tg::Generator g(7);
    p.set_grad(tg::randn({n}, g));
    const double total = optim::clip_grad_norm_({p}, 1.0, 3.0);
    tg::set_num_threads(0);
    return std::make_pair(total, p.grad().to_vector<float>());
  };
  const auto one = run(1);
  const auto two = run(2);
  EXPECT_EQ(one.first, two.first);
  EXPECT_EQ(one.second, two.second);
}

TEST(ClipGradNorm, BadArgumentsThrow) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  a.set_grad(tg::ones({2}));
  EXPECT_THROW(optim::clip_grad_norm_({a}, 1.0, 0.0), tg::Error);
  EXPECT_THROW(optim::clip_grad_norm_({a}, 1.0, NAN), tg::Error);
  EXPECT_THROW(optim::clip_grad_norm_({a}, -1.0), tg::Error);
  EXPECT_THROW(optim::clip_grad_norm_({tg::Tensor()}, 1.0), tg::Error);
  EXPECT_THROW(optim::clip_grad_value_({a}, -0.5), tg::Error);
}

TEST(ClipGradValue, MatchesTorch) {
  const json* c = nullptr;
  for (const json& x : optim_test::parity().at("clip"))
    if (x.at("kind") == "value") c = &x;
  ASSERT_NE(c, nullptr);
  // The fixture clamps float32 gradients (to float32(0.7)): bitwise equal.
  std::vector<tg::Tensor> params = params_with_fixture_grads(tg::kFloat32);
  optim::clip_grad_value_(params, c->at("clip_value"));
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(optim_test::max_scaled_error(params[i].grad(), c->at("grads")[i]), 0.0);
}

TEST(ClipGradValue, ClampsAndKeepsNaN) {
  tg::Tensor a = tg::zeros({4}).requires_grad_();
  a.set_grad(tg::from_vector(std::vector<float>{-3, 0.25f, 2, NAN}, {4}));
  optim::clip_grad_value_({a}, 1.0);
  const std::vector<float> g = a.grad().to_vector<float>();
  EXPECT_EQ(g[0], -1.0f);
  EXPECT_EQ(g[1], 0.25f);
  EXPECT_EQ(g[2], 1.0f);
  EXPECT_TRUE(std::isnan(g[3]));
}

}  // namespace
