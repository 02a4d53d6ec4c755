#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::all_close;
using tg::testing::expect_error_containing;
using tg::testing::layer_fixture;

TEST(Linear, MatchesPyTorchWithBias) {
  tg::Tensor x = layer_fixture("linear_bias", "x").requires_grad_();
  tg::Tensor w = layer_fixture("linear_bias", "w").requires_grad_();
  tg::Tensor b = layer_fixture("linear_bias", "b").requires_grad_();
  tg::Tensor y = tg::linear(x, w, b);
  EXPECT_TRUE(all_close(y, layer_fixture("linear_bias", "y")));
  y.backward(layer_fixture("linear_bias", "g"));
  EXPECT_TRUE(all_close(x.grad(), layer_fixture("linear_bias", "dx")));
  EXPECT_TRUE(all_close(w.grad(), layer_fixture("linear_bias", "dw")));
  EXPECT_TRUE(all_close(b.grad(), layer_fixture("linear_bias", "db")));
}

TEST(Linear, MatchesPyTorchWithoutBias) {
  tg::Tensor x = layer_fixture("linear_nobias", "x").requires_grad_();
  tg::Tensor w = layer_fixture("linear_nobias", "w").requires_grad_();
  tg::Tensor y = tg::linear(x, w);
  EXPECT_TRUE(all_close(y, layer_fixture("linear_nobias", "y")));
  y.backward(layer_fixture("linear_nobias", "g"));
  EXPECT_TRUE(all_close(x.grad(), layer_fixture("linear_nobias", "dx")));
  EXPECT_TRUE(all_close(w.grad(), layer_fixture("linear_nobias", "dw")));
}

TEST(Linear, HandComputed) {
  tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  tg::Tensor w = tg::from_vector(std::vector<double>{1, 0, -1, 2, 1, 0}, {2, 3});
  tg::Tensor b = tg::from_vector(std::vector<double>{10, 20}, {2});
  // rows: [1-3+10, 2+2+20], [4-6+10, 8+5+20]
  EXPECT_EQ(tg::linear(x, w, b).to_vector<double>(), (std::vector<double>{8, 24, 8, 33}));
}

TEST(Linear, GradCheckWithAndWithoutBias) {
  tg::Generator gen(11);
  tg::Tensor x = tg::randn({4, 5}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor w = tg::randn({3, 5}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor b = tg::randn({3}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK(
      [](const std::vector<tg::Tensor>& in) { return tg::linear(in[0], in[1], in[2]); }, {x, w, b});
  EXPECT_GRADCHECK([](const std::vector<tg::Tensor>& in) { return tg::linear(in[0], in[1]); },
                   {x, w});
  // Only some inputs requiring grad.
  tg::Tensor x_const = tg::randn({4, 5}, gen, tg::kFloat64);
  EXPECT_GRADCHECK(
      [](const std::vector<tg::Tensor>& in) { return tg::linear(in[0], in[1], in[2]); },
      {x_const, w, b});
}

TEST(Linear, BlockedKernelsMatchNaiveReferenceAndThreadCount) {
  // N = 600 rows: three row blocks; OUT = 70, IN = 300: several dW tiles and db blocks.
  const std::int64_t N = 600, IN = 300, OUT = 70;
  tg::Generator gen(12);
  const tg::Tensor x0 = tg::randn({N, IN}, gen, tg::kFloat64);
  const tg::Tensor w0 = tg::randn({OUT, IN}, gen, tg::kFloat64);
  const tg::Tensor b0 = tg::randn({OUT}, gen, tg::kFloat64);
  const tg::Tensor g = tg::randn({N, OUT}, gen, tg::kFloat64);
  auto run = [&] {
    tg::Tensor x = tg::copy_data(x0, tg::kFloat64).requires_grad_();
    tg::Tensor w = tg::copy_data(w0, tg::kFloat64).requires_grad_();
    tg::Tensor b = tg::copy_data(b0, tg::kFloat64).requires_grad_();
    tg::Tensor y = tg::linear(x, w, b);
    y.backward(g);
    return std::vector<tg::Tensor>{y, x.grad(), w.grad(), b.grad()};
  };
  tg::testing::expect_same_at_1_and_2_threads(run);

  const std::vector<tg::Tensor> got = run();
  const std::vector<double> xv = x0.to_vector<double>(), wv = w0.to_vector<double>(),
                            bv = b0.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> y(N * OUT), dx(N * IN, 0.0), dw(OUT * IN, 0.0), db(OUT, 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < OUT; ++o) {
      double s = bv[o];
      for (std::int64_t i = 0; i < IN; ++i) s += xv[n * IN + i] * wv[o * IN + i];
      y[n * OUT + o] = s;
      const double gn = gv[n * OUT + o];
      db[o] += gn;
      for (std::int64_t i = 0; i < IN; ++i) {
        dx[n * IN + i] += gn * wv[o * IN + i];
        dw[o * IN + i] += gn * xv[n * IN + i];
      }
    }
  EXPECT_TRUE(all_close(got[0], tg::from_vector(y, {N, OUT}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(got[1], tg::from_vector(dx, {N, IN}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(got[2], tg::from_vector(dw, {OUT, IN}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(got[3], tg::from_vector(db, {OUT}), 1e-12, 1e-12));
}

TEST(Linear, RejectsBadInput) {
  const tg::Tensor w = tg::zeros({10, 1568});
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({64, 1500}), w);
      },
      "linear: expected input [N, 1568], got [64, 1500]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({64, 8, 14, 14}), w);
      },
      "linear: expected input [N, 1568], got [64, 8, 14, 14]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({0, 1568}), w);
      },
      "linear: expected a non-empty batch, got input [0, 1568]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({2, 1568}), w, tg::zeros({9}));
      },
      "linear: expected bias [10], got [9]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({2, 1568}, tg::kFloat64), w);
      },
      "linear: expected input, weight and bias of one dtype, got input float64 [2, "
      "1568], weight float32 [10, 1568]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({2, 3}), tg::zeros({3}));
      },
      "linear: expected weight [out_features, in_features] with non-zero sizes, got [3]");
  expect_error_containing(
      [&] {
        tg::linear(tg::zeros({2, 3}, tg::kInt64), tg::zeros({2, 3}, tg::kInt64));
      },
      "linear: expected a float32 or float64 tensor, got int64");
}

// ---- nn::Linear ----

TEST(LinearModule, NameParametersAndForward) {
  tg::Generator gen(13);
  tg::nn::Linear fc(tg::nn::LinearOptions(1568, 10), gen);
  EXPECT_EQ(fc.name(), "Linear(in_features=1568, out_features=10, bias=true)");
  EXPECT_EQ(fc.weight.shape(), (tg::Shape{10, 1568}));
  EXPECT_EQ(fc.bias.shape(), (tg::Shape{10}));
  EXPECT_TRUE(fc.weight.requires_grad());
  std::vector<std::string> names;
  for (const auto& [name, t] : fc.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias"}));
  tg::Tensor x = tg::randn({4, 1568}, gen);
  EXPECT_TRUE(all_close(fc(x), tg::linear(x, fc.weight, fc.bias), 0, 0));
  expect_error_containing(
      [&] {
        fc(tg::zeros({64, 1500}));
      },
      "linear: expected input [N, 1568], got [64, 1500]");
}

TEST(LinearModule, WithoutBias) {
  tg::nn::Linear fc(tg::nn::LinearOptions(3, 2).bias(false));
  EXPECT_EQ(fc.name(), "Linear(in_features=3, out_features=2, bias=false)");
  EXPECT_FALSE(fc.bias.defined());
  EXPECT_EQ(fc.parameters().size(), 1u);
  EXPECT_EQ(fc(tg::ones({1, 3})).shape(), (tg::Shape{1, 2}));
}

TEST(LinearModule, PyTorchDefaultInitFromTheGenerator) {
  // kaiming_uniform(a = sqrt(5)) and the bias both give U(-1/sqrt(in), 1/sqrt(in)).
  tg::Generator gen(14), same(14), other(15);
  const std::int64_t in = 400;
  tg::nn::Linear fc(in, 50, gen);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  for (const tg::Tensor& t : {fc.weight, fc.bias}) {
    const std::vector<float> v = t.to_vector<float>();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    EXPECT_GE(*lo, -bound);
    EXPECT_LE(*hi, bound);
    EXPECT_LT(*lo, -0.9 * bound);  // spread over the whole interval
    EXPECT_GT(*hi, 0.9 * bound);
  }
  EXPECT_TRUE(tg::testing::bitwise_equal(fc.weight, tg::nn::Linear(in, 50, same).weight));
  EXPECT_FALSE(tg::testing::bitwise_equal(fc.weight, tg::nn::Linear(in, 50, other).weight));
}

TEST(LinearModule, GradCheckInputAndParameters) {
  tg::Generator gen(16);
  for (bool bias : {true, false}) {
    tg::nn::Linear fc(tg::nn::LinearOptions(4, 3).bias(bias), gen);
    fc.to(tg::kFloat64);
    std::vector<tg::Tensor> inputs{tg::randn({2, 4}, gen, tg::kFloat64).requires_grad_()};
    for (const tg::Tensor& p : fc.parameters()) inputs.push_back(p);
    EXPECT_GRADCHECK([&](const std::vector<tg::Tensor>& in) { return fc(in[0]); }, inputs);
  }
}

TEST(LinearModule, RejectsBadOptions) {
  expect_error_containing([] { tg::nn::Linear(0, 10); },
                          "Linear: expected positive in_features and out_features, got 0 and 10");
}
