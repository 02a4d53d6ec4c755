#include <gtest/gtest.h>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::all_close;
using tg::testing::expect_error;
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
  expect_error(
      [&] {
        tg::linear(tg::zeros({64, 1500}), w);
      },
      "linear: expected input [N, 1568], got [64, 1500]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({64, 8, 14, 14}), w);
      },
      "linear: expected input [N, 1568], got [64, 8, 14, 14]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({0, 1568}), w);
      },
      "linear: expected a non-empty batch, got input [0, 1568]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({2, 1568}), w, tg::zeros({9}));
      },
      "linear: expected bias [10], got [9]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({2, 1568}, tg::kFloat64), w);
      },
      "linear: expected input, weight and bias of one dtype, got input float64 [2, "
      "1568], weight float32 [10, 1568]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({2, 3}), tg::zeros({3}));
      },
      "linear: expected weight [out_features, in_features] with non-zero sizes, got [3]");
  expect_error(
      [&] {
        tg::linear(tg::zeros({2, 3}, tg::kInt64), tg::zeros({2, 3}, tg::kInt64));
      },
      "linear: expected a float32 or float64 tensor, got int64");
}
