#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::all_close;
using tg::testing::expect_error_containing;
using tg::testing::layer_fixture;

namespace {

using PoolFn = std::function<tg::Tensor(const tg::Tensor&)>;

void expect_matches_fixture(const std::string& name, const PoolFn& op) {
  tg::Tensor x = layer_fixture(name, "x").requires_grad_();
  tg::Tensor y = op(x);
  EXPECT_TRUE(all_close(y, layer_fixture(name, "y"))) << name;
  y.backward(layer_fixture(name, "g"));
  EXPECT_TRUE(all_close(x.grad(), layer_fixture(name, "dx"))) << name;
}

void expect_gradcheck(const tg::Shape& shape, const PoolFn& op, std::uint64_t seed = 0) {
  tg::Generator gen(seed);
  tg::Tensor x = tg::randn(shape, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK([&](const std::vector<tg::Tensor>& in) { return op(in[0]); }, {x});
}

tg::Tensor plane(std::vector<double> values, std::int64_t H, std::int64_t W) {
  return tg::from_vector(values, {1, 1, H, W});
}

}  // namespace

// ---- max_pool2d ----

TEST(MaxPool2d, MatchesPyTorchOverlapAndPadding) {
  expect_matches_fixture("max_pool_k3s2p1",
                         [](const tg::Tensor& x) { return tg::max_pool2d(x, 3, 2, 1); });
}

TEST(MaxPool2d, MatchesPyTorchCeilMode) {
  expect_matches_fixture("max_pool_k3s2_ceil", [](const tg::Tensor& x) {
    return tg::max_pool2d(x, 3, 2, 0, /*ceil_mode=*/true);
  });
}

TEST(MaxPool2d, MatchesPyTorchRectangularKernel) {
  expect_matches_fixture("max_pool_k2x3_s1x2", [](const tg::Tensor& x) {
    return tg::max_pool2d(x, {2, 3}, {1, 2}, {1, 0});
  });
}

TEST(MaxPool2d, GradCheck) {
  expect_gradcheck({2, 2, 7, 7}, [](const tg::Tensor& x) { return tg::max_pool2d(x, 2); });
  expect_gradcheck({2, 2, 7, 7}, [](const tg::Tensor& x) { return tg::max_pool2d(x, 3, 2, 1); });
  expect_gradcheck({1, 2, 8, 8},
                   [](const tg::Tensor& x) { return tg::max_pool2d(x, 3, 2, 0, true); });
  expect_gradcheck({1, 2, 6, 7}, [](const tg::Tensor& x) {
    return tg::max_pool2d(x, {2, 3}, {1, 2}, {1, 1}, true);
  });
}

TEST(MaxPool2d, TiesGoToTheFirstMaximumInScanOrder) {
  tg::Tensor x = plane({5, 5, 2, 5,  //
                        5, 1, 5, 5},
                       2, 4)
                     .requires_grad_();
  tg::Tensor y = tg::max_pool2d(x, 2);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{5, 5}));
  y.backward(tg::ones({1, 1, 1, 2}, tg::kFloat64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(MaxPool2d, OverlappingWindowsAccumulateGradients) {
  // A constant plane: every 2x2 stride-1 window picks its top-left element.
  tg::Tensor x = tg::ones({1, 1, 3, 3}, tg::kFloat64).requires_grad_();
  tg::Tensor y = tg::max_pool2d(x, 2, 1);
  y.backward(tg::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 2, 0, 3, 4, 0, 0, 0, 0}));
}

TEST(MaxPool2d, PaddingCountsAsMinusInfinity) {
  tg::Tensor x = plane({-1, -2, -3, -4, -5, -6, -7, -8, -9}, 3, 3);
  EXPECT_EQ(tg::max_pool2d(x, 3, 1, 1).to_vector<double>(),
            (std::vector<double>{-1, -1, -2, -1, -1, -2, -4, -4, -5}));
}

TEST(MaxPool2d, NaNPropagatesAndTheLastNaNGetsTheGradient) {
  // PyTorch's rule: a NaN always takes over, so the output is NaN and the last NaN is the argmax.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& [values, expected] :
       std::vector<std::pair<std::vector<double>, std::vector<double>>>{
           {{1, nan, 3, 4}, {0, 1, 0, 0}}, {{nan, 5, nan, 1}, {0, 0, 1, 0}}}) {
    tg::Tensor x = plane(values, 1, 4).requires_grad_();
    tg::Tensor y = tg::max_pool2d(x, {1, 4});
    EXPECT_TRUE(std::isnan(y.item<double>()));
    y.backward(tg::ones({1, 1, 1, 1}, tg::kFloat64));
    EXPECT_EQ(x.grad().to_vector<double>(), expected);
  }
}

// float32 2x2/stride-2 pooling has a vectorized kernel (on AVX-512 CPUs); float64 always runs the
// generic one. On the same values, with many ties, NaNs and infinities, both must pick the same
// maximum and the same argmax (seen through the gradient), in training and in no-grad mode.
TEST(MaxPool2d, Plain2x2KernelMatchesTheGenericOne) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  tg::Generator gen(9);
  for (const tg::Shape& shape : {tg::Shape{2, 3, 28, 28}, tg::Shape{1, 2, 14, 14},
                                 tg::Shape{1, 2, 7, 9}, tg::Shape{1, 1, 5, 70}}) {
    std::vector<double> v = tg::randn(shape, gen, tg::kFloat64).to_vector<double>();
    for (double& e : v) e = std::floor(e);  // a few distinct values: many ties
    for (std::size_t i = 0; i < v.size(); i += 7) v[i] = nan;
    for (std::size_t i = 3; i < v.size(); i += 11) v[i] = -inf;
    for (std::size_t i = 5; i < v.size(); i += 13) v[i] = inf;
    tg::Tensor x64 = tg::from_vector(v, shape).requires_grad_();
    tg::Tensor x32 = tg::from_vector(v, shape).to(tg::kFloat32).detach().requires_grad_();
    tg::Tensor y64 = tg::max_pool2d(x64, {2, 2});
    tg::Tensor y32 = tg::max_pool2d(x32, {2, 2});
    const tg::Tensor dy =
        tg::arange(1.0, static_cast<double>(y64.numel()) + 1.0, 1.0).reshape(y64.shape());
    y64.backward(dy.to(tg::kFloat64));
    y32.backward(dy.to(tg::kFloat32));
    const std::vector<double> a = y64.to_vector<double>(),
                              b = y32.to(tg::kFloat64).to_vector<double>();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))
          << fmt::format("{} {}", shape, i);
    EXPECT_EQ(x64.grad().to_vector<double>(), x32.grad().to(tg::kFloat64).to_vector<double>())
        << fmt::format("{}", shape);
    tg::NoGradGuard no_grad;
    const std::vector<double> c = tg::max_pool2d(x32, {2, 2}).to(tg::kFloat64).to_vector<double>();
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(a[i] == c[i] || (std::isnan(a[i]) && std::isnan(c[i])))
          << fmt::format("{} {}", shape, i);
  }
}

TEST(MaxPool2d, OutputShapes) {
  EXPECT_EQ(tg::max_pool2d(tg::zeros({2, 8, 28, 28}), 2).shape(), (tg::Shape{2, 8, 14, 14}));
  EXPECT_EQ(tg::max_pool2d(tg::zeros({1, 1, 8, 8}), 3, 2).shape(), (tg::Shape{1, 1, 3, 3}));
  EXPECT_EQ(tg::max_pool2d(tg::zeros({1, 1, 8, 8}), 3, 2, 0, true).shape(),
            (tg::Shape{1, 1, 4, 4}));
  // ceil_mode may not start a window inside the right padding: 5 + 2*1 - 2 = 5 -> ceil gives 4
  // windows, the last would start at 6 >= H + pad = 6, so it is dropped.
  EXPECT_EQ(tg::max_pool2d(tg::zeros({1, 1, 5, 5}), 2, 2, 1, true).shape(),
            (tg::Shape{1, 1, 3, 3}));
  // A kernel larger than the input still fits when ceil_mode lets it hang over the end.
  EXPECT_EQ(tg::max_pool2d(tg::zeros({1, 1, 2, 2}), 3, 2, 0, true).shape(),
            (tg::Shape{1, 1, 1, 1}));
}

TEST(MaxPool2d, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({3, 8, 8}), 2);
      },
      "max_pool2d: expected input [N, C, H, W], got [3, 8, 8]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({2, 0, 8, 8}), 2);
      },
      "max_pool2d: expected input [N, C, H, W] with non-zero sizes, got [2, 0, 8, 8]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}), 5);
      },
      "max_pool2d: expected a kernel that fits the padded input, got kernel [5, 5] for "
      "input [1, 1, 4, 4] with padding [0, 0]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}), 3, 1, 2);
      },
      "max_pool2d: expected padding at most half the kernel size, got padding [2, 2] "
      "for kernel [3, 3]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}), 0);
      },
      "max_pool2d: expected a positive kernel size, got [0, 0]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}), 2, {1, 0});
      },
      "max_pool2d: expected a positive stride, got [1, 0]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}), 2, 2, -1);
      },
      "max_pool2d: expected non-negative padding, got [-1, -1]");
  expect_error_containing(
      [] {
        tg::max_pool2d(tg::zeros({1, 1, 4, 4}, tg::kInt64), 2);
      },
      "max_pool2d: expected a float32 or float64 input, got int64 [1, 1, 4, 4]");
}

// ---- avg_pool2d ----

TEST(AvgPool2d, MatchesPyTorch) {
  for (bool include : {true, false}) {
    const std::string tag = include ? "incl" : "excl";
    expect_matches_fixture("avg_pool_k3s2p1_" + tag, [include](const tg::Tensor& x) {
      return tg::avg_pool2d(x, 3, 2, 1, false, include);
    });
    expect_matches_fixture("avg_pool_k3s2p1_ceil_" + tag, [include](const tg::Tensor& x) {
      return tg::avg_pool2d(x, 3, 2, 1, true, include);
    });
  }
}

TEST(AvgPool2d, GradCheck) {
  expect_gradcheck({2, 2, 6, 6}, [](const tg::Tensor& x) { return tg::avg_pool2d(x, 2); });
  for (bool include : {true, false})
    for (bool ceil_mode : {false, true}) {
      expect_gradcheck({1, 2, 7, 8}, [&](const tg::Tensor& x) {
        return tg::avg_pool2d(x, 3, 2, 1, ceil_mode, include);
      });
      expect_gradcheck({1, 1, 5, 6}, [&](const tg::Tensor& x) {
        return tg::avg_pool2d(x, {2, 3}, {2, 1}, {1, 1}, ceil_mode, include);
      });
    }
}

TEST(AvgPool2d, HandComputedDivisors) {
  tg::Tensor x = plane({1, 2, 3, 4}, 2, 2);
  EXPECT_EQ(tg::avg_pool2d(x, 2).to_vector<double>(), (std::vector<double>{2.5}));
  // 3x3 windows with padding 1 over a 2x2 plane, stride 1: each window holds all 4 values.
  EXPECT_EQ(tg::avg_pool2d(x, 3, 1, 1, false, true).to_vector<double>(),
            (std::vector<double>(4, 10.0 / 9)));
  EXPECT_EQ(tg::avg_pool2d(x, 3, 1, 1, false, false).to_vector<double>(),
            (std::vector<double>(4, 2.5)));
}

TEST(AvgPool2d, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::avg_pool2d(tg::zeros({8, 8}), 2);
      },
      "avg_pool2d: expected input [N, C, H, W], got [8, 8]");
  expect_error_containing(
      [] {
        tg::avg_pool2d(tg::zeros({1, 1, 1, 1}), 4, 1, 1);
      },
      "avg_pool2d: expected a kernel that fits the padded input, got kernel [4, 4] for "
      "input [1, 1, 1, 1] with padding [1, 1]");
  expect_error_containing(
      [] {
        tg::avg_pool2d(tg::zeros({1, 1, 4, 4}), 2, 2, 2);
      },
      "avg_pool2d: expected padding at most half the kernel size");
  expect_error_containing(
      [] {
        tg::avg_pool2d(tg::zeros({0, 1, 4, 4}), 2);
      },
      "avg_pool2d: expected input [N, C, H, W] with non-zero sizes, got [0, 1, 4, 4]");
}

// ---- adaptive_avg_pool2d ----

TEST(AdaptiveAvgPool2d, MatchesPyTorchNonDivisibleSizes) {
  expect_matches_fixture("adaptive_7x9_to_3x4", [](const tg::Tensor& x) {
    return tg::adaptive_avg_pool2d(x, {3, 4});
  });
  expect_matches_fixture("adaptive_5x5_to_3x3",
                         [](const tg::Tensor& x) { return tg::adaptive_avg_pool2d(x, 3); });
}

TEST(AdaptiveAvgPool2d, GradCheck) {
  expect_gradcheck({2, 2, 7, 9}, [](const tg::Tensor& x) {
    return tg::adaptive_avg_pool2d(x, {3, 4});
  });
  expect_gradcheck({1, 2, 3, 5},  // output larger than the input: windows repeat
                   [](const tg::Tensor& x) {
                     return tg::adaptive_avg_pool2d(x, {4, 7});
                   });
}

TEST(AdaptiveAvgPool2d, WindowsAndGlobalAverage) {
  // 5 -> 3: windows [0, 2), [1, 4), [3, 5).
  tg::Tensor x = plane({1, 2, 3, 4, 5}, 1, 5);
  EXPECT_EQ(tg::adaptive_avg_pool2d(x, {1, 3}).to_vector<double>(),
            (std::vector<double>{1.5, 3, 4.5}));
  EXPECT_EQ(tg::adaptive_avg_pool2d(x, 1).to_vector<double>(), (std::vector<double>{3}));
}

TEST(AdaptiveAvgPool2d, RejectsBadInput) {
  expect_error_containing(
      [] {
        tg::adaptive_avg_pool2d(tg::zeros({1, 1, 4, 4}), {0, 2});
      },
      "adaptive_avg_pool2d: expected a positive output size, got [0, 2]");
  expect_error_containing(
      [] {
        tg::adaptive_avg_pool2d(tg::zeros({1, 4, 4}), 2);
      },
      "adaptive_avg_pool2d: expected input [N, C, H, W], got [1, 4, 4]");
  expect_error_containing(
      [] {
        tg::adaptive_avg_pool2d(tg::zeros({1, 1, 0, 4}), 2);
      },
      "adaptive_avg_pool2d: expected input [N, C, H, W] with non-zero sizes");
}

// ---- all three ----

TEST(Pooling, BitwiseSameAt1And2Threads) {
  tg::Generator gen(7);
  const tg::Tensor x0 = tg::randn({16, 128, 9, 9}, gen);  // 2048 planes: several chunks
  const std::vector<PoolFn> ops = {
      [](const tg::Tensor& x) { return tg::max_pool2d(x, 3, 2, 1); },
      [](const tg::Tensor& x) { return tg::avg_pool2d(x, 3, 2, 1, true, false); },
      [](const tg::Tensor& x) {
        return tg::adaptive_avg_pool2d(x, {4, 5});
      },
  };
  for (const PoolFn& op : ops) {
    tg::testing::expect_same_at_1_and_2_threads([&] {
      tg::Tensor x = tg::copy_data(x0, tg::kFloat32).requires_grad_();
      tg::Tensor y = op(x);
      tg::Generator g_gen(8);
      y.backward(tg::randn(y.shape(), g_gen));
      return std::vector<tg::Tensor>{y, x.grad()};
    });
  }
}

// ---- modules ----

TEST(PoolingModules, OptionsNamesAndForward) {
  tg::Generator gen(9);
  tg::Tensor x = tg::randn({2, 3, 9, 9}, gen);
  tg::nn::MaxPool2d max2(2);
  EXPECT_EQ(max2.name(),
            "MaxPool2d(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], ceil_mode=false)");
  EXPECT_TRUE(all_close(max2(x), tg::max_pool2d(x, 2), 0, 0));

  tg::nn::MaxPool2d max3(tg::nn::MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true));
  EXPECT_EQ(max3.name(),
            "MaxPool2d(kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=true)");
  EXPECT_TRUE(all_close(max3(x), tg::max_pool2d(x, 3, 2, 1, true), 0, 0));

  tg::nn::AvgPool2d avg(
      tg::nn::AvgPool2dOptions({3, 2}).stride({2, 1}).padding({1, 0}).count_include_pad(false));
  EXPECT_EQ(avg.name(),
            "AvgPool2d(kernel_size=[3, 2], stride=[2, 1], padding=[1, 0], ceil_mode=false, "
            "count_include_pad=false)");
  EXPECT_TRUE(all_close(avg(x), tg::avg_pool2d(x, {3, 2}, {2, 1}, {1, 0}, false, false), 0, 0));
  EXPECT_EQ(tg::nn::AvgPool2d(2).forward(x).shape(), (tg::Shape{2, 3, 4, 4}));

  tg::nn::AdaptiveAvgPool2d gap(1);
  EXPECT_EQ(gap.name(), "AdaptiveAvgPool2d(output_size=[1, 1])");
  EXPECT_EQ(gap(x).shape(), (tg::Shape{2, 3, 1, 1}));
  EXPECT_TRUE(
      all_close(tg::nn::AdaptiveAvgPool2d({4, 3})(x), tg::adaptive_avg_pool2d(x, {4, 3}), 0, 0));
}
