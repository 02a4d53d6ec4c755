#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::all_close;
using tg::testing::expect_error_containing;
using tg::testing::layer_fixture;

namespace {

// Forward and backward (with the fixture's upstream gradient g) against a PyTorch fixture.
void expect_matches_fixture(const std::string& name,
                            const std::function<tg::Tensor(const tg::Tensor&)>& op) {
  tg::Tensor x = layer_fixture(name, "x").requires_grad_();
  tg::Tensor y = op(x);
  EXPECT_TRUE(all_close(y, layer_fixture(name, "y"))) << name;
  y.backward(layer_fixture(name, "g"));
  EXPECT_TRUE(all_close(x.grad(), layer_fixture(name, "dx"))) << name;
}

}  // namespace

TEST(ReLU, MatchesPyTorch) {
  expect_matches_fixture("relu", [](const tg::Tensor& x) { return tg::relu(x); });
}

TEST(ReLU, HandComputedIncludingZeroAndNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  tg::Tensor x = tg::from_vector(std::vector<double>{-2, 0, 3, nan}, {4}).requires_grad_();
  tg::Tensor y = tg::relu(x);
  const std::vector<double> v = y.to_vector<double>();
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[1], 0.0);
  EXPECT_EQ(v[2], 3.0);
  EXPECT_TRUE(std::isnan(v[3]));
  y.backward(tg::from_vector(std::vector<double>{10, 20, 30, 40}, {4}));
  // The mask is y > 0: no gradient at 0 (PyTorch's choice) nor through NaN.
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 30, 0}));
}

TEST(ReLU, GradCheck) {
  tg::Generator gen(3);
  tg::Tensor x = tg::randn({2, 3, 4, 5}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<tg::Tensor>& in) { return tg::relu(in[0]); }, {x});
}

TEST(ReLU, BitwiseSameAt1And2Threads) {
  tg::Generator gen(4);
  const tg::Tensor x0 = tg::randn({3 * (1 << 15) + 7}, gen);  // several parallel chunks
  const tg::Tensor g = tg::randn(x0.shape(), gen);
  tg::testing::expect_same_at_1_and_2_threads([&] {
    tg::Tensor x = tg::copy_data(x0, tg::kFloat32).requires_grad_();
    tg::Tensor y = tg::relu(x);
    y.backward(g);
    return std::vector<tg::Tensor>{y, x.grad()};
  });
}

// The float32 kernels come in AVX-512, AVX2 and portable forms (whole 64-element mask words) with
// a portable tail; every width must give exactly max(x, 0) and dy * [x > 0].
TEST(ReLU, EveryVectorWidthMatchesTheDefinition) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  tg::Generator gen(5);
  const std::int64_t n = 5 * 64 + 37;  // full words and a partial one
  std::vector<float> xv = tg::randn({n}, gen).to_vector<float>();
  const std::vector<float> gv = tg::randn({n}, gen).to_vector<float>();
  for (std::int64_t i : std::initializer_list<std::int64_t>{0, 63, 64, 200, n - 1}) xv[i] = nan;
  for (std::int64_t i : std::initializer_list<std::int64_t>{1, 65, n - 2}) xv[i] = -0.0f;
  for (std::int64_t i : {2, 130}) xv[i] = 0.0f;
  xv[3] = inf;
  xv[4] = -inf;
  const int widest = tg::kernels::small_matmul_vector_bytes();
  for (int bytes : {16, 32, 64}) {
    if (bytes > widest) continue;
    tg::kernels::set_small_matmul_vector_bytes(bytes);
    tg::Tensor x = tg::from_vector(xv, {n}).requires_grad_();
    tg::Tensor y = tg::relu(x);
    y.backward(tg::from_vector(gv, {n}));
    const std::vector<float> yv = y.to_vector<float>(), dx = x.grad().to_vector<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      const float want = xv[i] < 0 ? 0.0f : xv[i];
      if (std::isnan(xv[i]))
        EXPECT_TRUE(std::isnan(yv[i])) << bytes << " " << i;
      else
        EXPECT_TRUE(yv[i] == want && std::signbit(yv[i]) == std::signbit(want))
            << bytes << " " << i;
      EXPECT_EQ(dx[i], xv[i] > 0 ? gv[i] : 0.0f) << bytes << " " << i;
    }
  }
  tg::kernels::set_small_matmul_vector_bytes(0);
}

TEST(ReLU, RejectsBadInput) {
  expect_error_containing([] { tg::relu(tg::Tensor()); }, "relu: expected a defined tensor");
  expect_error_containing([] { tg::relu(tg::zeros({2}, tg::kInt64)); },
                          "relu: expected a float32 or float64 tensor, got int64");
}

TEST(Softmax, MatchesPyTorchAlongAnInnerDim) {
  expect_matches_fixture("softmax_dim1", [](const tg::Tensor& x) { return tg::softmax(x, 1); });
}

TEST(LogSoftmax, MatchesPyTorchAlongAnInnerDim) {
  expect_matches_fixture("log_softmax_dim1",
                         [](const tg::Tensor& x) { return tg::log_softmax(x, 1); });
}

TEST(LogSoftmax, MatchesPyTorchAlongTheLastDim) {
  expect_matches_fixture("log_softmax_last",
                         [](const tg::Tensor& x) { return tg::log_softmax(x, -1); });
}

TEST(LogSoftmax, HandComputed) {
  // x = log([1, 2, 3]): log_softmax = log([1, 2, 3] / 6), softmax = [1, 2, 3] / 6.
  tg::Tensor x = tg::from_vector(std::vector<double>{0, std::log(2.0), std::log(3.0)}, {1, 3});
  const std::vector<double> ls = tg::log_softmax(x, 1).to_vector<double>();
  const std::vector<double> s = tg::softmax(x, 1).to_vector<double>();
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(ls[i], std::log((i + 1) / 6.0), 1e-15);
    EXPECT_NEAR(s[i], (i + 1) / 6.0, 1e-15);
  }
}

TEST(Softmax, StableForHugeLogits) {
  tg::Tensor x = tg::from_vector(std::vector<float>{1000, 1001, 1002, -1e30f}, {4});
  const std::vector<float> s = tg::softmax(x, 0).to_vector<float>();
  const std::vector<float> ls = tg::log_softmax(x, 0).to_vector<float>();
  const double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  EXPECT_NEAR(s[0], std::exp(-2.0) / z, 1e-7);
  EXPECT_NEAR(s[2], 1 / z, 1e-7);
  EXPECT_EQ(s[3], 0.0f);
  EXPECT_NEAR(ls[2], -std::log(z), 1e-6);
  EXPECT_TRUE(std::isfinite(ls[3]));
}

TEST(Softmax, GradCheckEveryDim) {
  tg::Generator gen(5);
  tg::Tensor x = tg::randn({2, 4, 3}, gen, tg::kFloat64).requires_grad_();
  for (std::int64_t dim : {0, 1, 2, -1}) {
    EXPECT_GRADCHECK([dim](const std::vector<tg::Tensor>& in) { return tg::softmax(in[0], dim); },
                     {x});
    EXPECT_GRADCHECK(
        [dim](const std::vector<tg::Tensor>& in) { return tg::log_softmax(in[0], dim); }, {x});
  }
}

TEST(Softmax, WideInnerDimMatchesNaiveReference) {
  // inner = 130 spans three column blocks (64, 64, 2) of the kernel.
  tg::Generator gen(6);
  const std::int64_t outer = 2, D = 5, inner = 130;
  tg::Tensor x = tg::randn({outer, D, inner}, gen, tg::kFloat64);
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<double> s = tg::softmax(x, 1).to_vector<double>();
  const std::vector<double> ls = tg::log_softmax(x, 1).to_vector<double>();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < inner; ++j) {
      double z = 0;
      for (std::int64_t k = 0; k < D; ++k) z += std::exp(xv[(o * D + k) * inner + j]);
      for (std::int64_t k = 0; k < D; ++k) {
        const std::int64_t i = (o * D + k) * inner + j;
        EXPECT_NEAR(s[i], std::exp(xv[i]) / z, 1e-14);
        EXPECT_NEAR(ls[i], xv[i] - std::log(z), 1e-13);
      }
    }
}

TEST(Softmax, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::softmax(tg::zeros({2, 3}), 2);
      },
      "softmax: expected a dimension in [-2, 1], got 2");
  expect_error_containing(
      [] {
        tg::log_softmax(tg::zeros({2, 3}), -3);
      },
      "log_softmax: expected a dimension in [-2, 1], got -3");
  expect_error_containing(
      [] {
        tg::log_softmax(tg::zeros({2, 3}, tg::kInt64), 1);
      },
      "log_softmax: expected a float32 or float64 tensor, got int64");
}

// ---- modules ----

TEST(ActivationModules, NamesAndForward) {
  tg::Generator gen(8);
  tg::Tensor x = tg::randn({3, 4}, gen);
  tg::nn::ReLU relu;
  tg::nn::Softmax softmax(1);
  tg::nn::LogSoftmax log_softmax(-1);
  EXPECT_EQ(relu.name(), "ReLU()");
  EXPECT_EQ(softmax.name(), "Softmax(dim=1)");
  EXPECT_EQ(log_softmax.name(), "LogSoftmax(dim=-1)");
  EXPECT_TRUE(all_close(relu(x), tg::relu(x), 0, 0));
  EXPECT_TRUE(all_close(softmax(x), tg::softmax(x, 1), 0, 0));
  EXPECT_TRUE(all_close(log_softmax(x), tg::log_softmax(x, -1), 0, 0));
  EXPECT_TRUE(relu.parameters().empty());
}
