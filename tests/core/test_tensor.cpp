#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "support/test_support.hpp"
#include "tapegrad/core/broadcast.hpp"
#include "tapegrad/core/reduce.hpp"

namespace tg = tapegrad;
using tapegrad::testing::bitwise_equal;
using tapegrad::testing::ThreadGuard;
namespace kernels = tapegrad::kernels;

namespace {

// Restores the default thread count when a test ends.
// Multi-index of flat position i in shape.
std::vector<std::int64_t> unravel(std::int64_t i, const tg::Shape& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

// Flat position in `shape` of the broadcast image of out-index idx (right-aligned, size-1 -> 0).
std::int64_t broadcast_flat(const std::vector<std::int64_t>& idx, const tg::Shape& shape) {
  std::int64_t flat = 0;
  const std::size_t lead = idx.size() - shape.size();
  for (std::size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[d + lead]);
  return flat;
}

// Naive reference: sum (or max) of x over the dims flagged in `reduced`, keepdim layout.
std::vector<double> naive_reduce(const tg::Tensor& x, const std::vector<bool>& reduced, bool max) {
  tg::Shape out_shape = x.shape();
  for (std::size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) out_shape[d] = 1;
  std::int64_t n_out = 1;
  for (std::int64_t s : out_shape) n_out *= s;
  std::vector<double> out(n_out, max ? -INFINITY : 0.0);
  const std::vector<double> v = x.to_vector<double>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t j = broadcast_flat(unravel(i, x.shape()), out_shape);
    out[j] = max ? std::max(out[j], v[i]) : out[j] + v[i];
  }
  return out;
}

}  // namespace

TEST(Tensor, FactoriesAndElementAccess) {
  const tg::Tensor x = tg::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(x.shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(x.numel(), 6);
  EXPECT_EQ(x.size(-1), 3);
  EXPECT_EQ(x.at<float>({1, 2}), 6.0f);
  EXPECT_EQ(tg::full({2}, 2.5, tg::kFloat64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(tg::arange(0.0, 1.0, 0.25, tg::kFloat64).to_vector<double>(),
            (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(tg::scalar_tensor(7.0, tg::kInt64).item<std::int64_t>(), 7);
  EXPECT_THROW(x.at<float>({2, 0}), tg::Error);
  EXPECT_THROW(x.item<float>(), tg::Error);
  EXPECT_THROW(tg::from_vector(std::vector<float>{1, 2}, {3}), tg::Error);
}

TEST(Tensor, AliasSharesStorageAndCopyDataDoesNot) {
  tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  tg::Tensor a = tg::alias_with_shape(x, {4});
  EXPECT_TRUE(a.shares_storage(x));
  tg::Tensor c = tg::copy_data(x, tg::kFloat32);
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  a.data<double>()[0] = 10;
  EXPECT_EQ(x.at<double>({0, 0}), 10.0);
  try {
    tg::alias_with_shape(x, {3});
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_STREQ(e.what(), "view: shape [3] is invalid for input of size 4 (shape [2, 2])");
  }
}

TEST(Tensor, Allclose) {
  const tg::Tensor a = tg::from_vector(std::vector<double>{1.0, 2.0}, {2});
  EXPECT_TRUE(tg::allclose(a, tg::from_vector(std::vector<float>{1.0f, 2.0f}, {2})));
  EXPECT_FALSE(tg::allclose(a, tg::from_vector(std::vector<double>{1.0, 2.1}, {2})));
  EXPECT_FALSE(tg::allclose(a, tg::from_vector(std::vector<double>{1.0, NAN}, {2})));
}

TEST(Broadcast, MapMatchesNaiveReferenceOnManyShapePairs) {
  const std::vector<std::pair<tg::Shape, tg::Shape>> pairs = {{{2, 3}, {2, 3}},
                                                              {{2, 3}, {3}},
                                                              {{2, 3}, {2, 1}},
                                                              {{4, 1, 5}, {3, 1}},
                                                              {{1}, {2, 3, 4}},
                                                              {{}, {3}},
                                                              {{2, 1, 3, 1}, {1, 4, 1, 5}},
                                                              {{5, 1, 1}, {1, 1, 7}},
                                                              {{2, 3, 4}, {1, 3, 1}},
                                                              {{0, 3}, {3}}};
  tg::Generator gen(3);
  for (const auto& [sa, sb] : pairs) {
    const tg::Tensor a = tg::randn(sa, gen, tg::kFloat64);
    const tg::Tensor b = tg::randn(sb, gen, tg::kFloat64);
    const tg::Shape shape = tg::broadcast_shapes(sa, sb, "test");
    tg::Tensor z = tg::empty(shape, tg::kFloat64);
    kernels::binary_broadcast(z.data<double>(), shape, a.data<double>(), sa, b.data<double>(), sb,
                              [](double x, double y) { return x * 10 + y; });
    const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
    const std::vector<double> vz = z.to_vector<double>();
    for (std::int64_t i = 0; i < z.numel(); ++i) {
      const auto idx = unravel(i, shape);
      ASSERT_EQ(vz[i], va[broadcast_flat(idx, sa)] * 10 + vb[broadcast_flat(idx, sb)])
          << fmt::format("{} {} at {}", sa, sb, i);
    }
  }
}

TEST(Broadcast, ThreeInputsOfMixedTypes) {
  const tg::Tensor c = tg::from_vector(std::vector<std::int64_t>{1, 0, 1}, {3});
  const tg::Tensor a = tg::from_vector(std::vector<float>{1, 2}, {2, 1});
  const tg::Tensor b = tg::full({1}, -1.0);
  tg::Tensor z = tg::empty({2, 3});
  kernels::broadcast_map(
      z.data<float>(), z.shape(), [](std::int64_t m, float x, float y) { return m ? x : y; },
      kernels::Operand<std::int64_t>{c.data<std::int64_t>(), c.shape()},
      kernels::Operand<float>{a.data<float>(), a.shape()},
      kernels::Operand<float>{b.data<float>(), b.shape()});
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{1, -1, 1, 2, -1, 2}));
}

TEST(Broadcast, BroadcastToAndSumTo) {
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3}, {3, 1});
  const tg::Tensor y = kernels::broadcast_to(x, {2, 3, 2});
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(kernels::sum_to(y, {3, 1}).to_vector<double>(), (std::vector<double>{4, 8, 12}));
  EXPECT_EQ(kernels::sum_to(y, {2}).to_vector<double>(), (std::vector<double>{12, 12}));
  EXPECT_EQ(kernels::sum_to(y, {}).item<double>(), 24.0);
  EXPECT_TRUE(kernels::sum_to(y, y.shape()).is_same(y));
  EXPECT_THROW(kernels::sum_to(y, {4}), tg::Error);
  EXPECT_THROW(kernels::broadcast_to(x, {3, 2, 2}), tg::Error);
}

TEST(Reduce, SumAndMaxMatchNaiveReferenceForEveryLayout) {
  // Each case: shape and reduced dims. Covers the inner-reduced layout (short and long runs, cut
  // into pieces), the inner-kept layout (narrow and wide rows), mixed patterns and size-1 dims.
  const std::vector<std::pair<tg::Shape, std::vector<bool>>> cases = {
      {{40000}, {true}},
      {{3, 20000}, {false, true}},
      {{20000, 3}, {true, false}},
      {{5, 7, 9}, {true, false, true}},
      {{4, 3, 5, 6}, {true, false, true, true}},
      {{6, 5, 4}, {false, true, false}},
      {{2, 30000, 2}, {false, true, false}},
      {{3, 1, 700}, {true, true, false}},
      {{9000, 3, 2}, {true, false, true}},
      {{2, 3}, {false, false}},
      {{1, 5, 1}, {true, false, true}},
  };
  tg::Generator gen(11);
  for (const auto& [shape, reduced] : cases) {
    const tg::Tensor x = tg::randn(shape, gen, tg::kFloat64);
    const std::vector<double> sum =
        kernels::reduce(x, reduced, kernels::Reduction::Sum, "test").to_vector<double>();
    const std::vector<double> max =
        kernels::reduce(x, reduced, kernels::Reduction::Max, "test").to_vector<double>();
    const std::vector<double> ref_sum = naive_reduce(x, reduced, false);
    const std::vector<double> ref_max = naive_reduce(x, reduced, true);
    ASSERT_EQ(sum.size(), ref_sum.size());
    for (std::size_t j = 0; j < sum.size(); ++j) {
      EXPECT_NEAR(sum[j], ref_sum[j], 1e-10 * (1 + std::fabs(ref_sum[j])))
          << fmt::format("{}", shape);
      EXPECT_EQ(max[j], ref_max[j]) << fmt::format("{}", shape);
    }
  }
}

TEST(Reduce, Float32AccumulatesInDouble) {
  // 2^24 + 1 + 1 + ... is stuck at 2^24 in a float accumulator.
  std::vector<float> v(1001, 1.0f);
  v[0] = 16777216.0f;
  const tg::Tensor x = tg::from_vector(v, {1001});
  const tg::Tensor s = kernels::reduce(x, {true}, kernels::Reduction::Sum, "test");
  EXPECT_EQ(s.item<double>(), 16777216.0 + 1000.0);
  const tg::Tensor m = kernels::reduce(x, {true}, kernels::Reduction::Mean, "test");
  EXPECT_FLOAT_EQ(m.item<float>(), static_cast<float>((16777216.0 + 1000.0) / 1001.0));
}

TEST(Reduce, NanEmptyAndInt64) {
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, NAN, 3, 4}, {2, 2});
  const tg::Tensor m = kernels::reduce(x, {true, false}, kernels::Reduction::Max, "test");
  EXPECT_EQ(m.at<double>({0, 0}), 3.0);
  EXPECT_TRUE(std::isnan(m.at<double>({0, 1})));
  const tg::Tensor e = tg::zeros({0, 3});
  EXPECT_EQ(kernels::reduce(e, {true, false}, kernels::Reduction::Sum, "s").to_vector<float>(),
            (std::vector<float>{0, 0, 0}));
  EXPECT_TRUE(
      std::isnan(kernels::reduce(e, {true, true}, kernels::Reduction::Mean, "m").item<float>()));
  EXPECT_THROW(kernels::reduce(e, {true, false}, kernels::Reduction::Max, "max"), tg::Error);
  EXPECT_EQ(kernels::reduce(e, {false, true}, kernels::Reduction::Max, "max").shape(),
            (tg::Shape{0, 1}));
  const tg::Tensor i = tg::from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(
      kernels::reduce(i, {false, true}, kernels::Reduction::Sum, "s").to_vector<std::int64_t>(),
      (std::vector<std::int64_t>{6, 15}));
  EXPECT_EQ(
      kernels::reduce(i, {true, false}, kernels::Reduction::Max, "m").to_vector<std::int64_t>(),
      (std::vector<std::int64_t>{4, 5, 6}));
  EXPECT_THROW(kernels::reduce(i, {true, true}, kernels::Reduction::Mean, "mean"), tg::Error);
}

TEST(Kernels, BitwiseSameAtOneAndTwoThreads) {
  ThreadGuard restore;
  tg::Generator gen(5);
  const tg::Tensor x = tg::randn({64, 64, 64}, gen);  // 2^18 elements
  const tg::Tensor bias = tg::randn({64, 1, 64}, gen);
  const std::vector<std::vector<bool>> layouts = {
      {true, true, true}, {false, true, true}, {true, false, false}, {true, false, true}};
  auto run = [&] {
    std::vector<tg::Tensor> out;
    tg::Tensor z = tg::empty(x.shape());
    kernels::binary_broadcast(z.data<float>(), z.shape(), x.data<float>(), x.shape(),
                              bias.data<float>(), bias.shape(),
                              [](float a, float b) { return a * b + a; });
    out.push_back(z);
    out.push_back(kernels::sum_to(x, {64, 1, 64}));
    out.push_back(kernels::sum_to(x, {64}));
    for (const auto& r : layouts) {
      out.push_back(kernels::reduce(x, r, kernels::Reduction::Sum, "test"));
      out.push_back(kernels::reduce(x, r, kernels::Reduction::Mean, "test"));
      out.push_back(kernels::reduce(x, r, kernels::Reduction::Max, "test"));
    }
    return out;
  };
  tg::set_num_threads(1);
  const std::vector<tg::Tensor> one = run();
  tg::set_num_threads(2);
  const std::vector<tg::Tensor> two = run();
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}

// Sizes that cannot be a tensor: negative, an element count past int64, or past the 2^40
// elements any one tensor may hold. Each is refused with the op's name before any allocation.
TEST(Tensor, RejectsNegativeOverflowingAndHugeShapes) {
  using tapegrad::testing::expect_error;
  const std::int64_t big = std::int64_t{1} << 32;
  expect_error([] { tg::empty({2, -3}); }, "empty: expected non-negative sizes, got shape [2, -3]");
  expect_error(
      [&] {
        tg::zeros({big, big, 4});
      },
      "zeros: shape [4294967296, 4294967296, 4] has more elements than fit in int64");
  expect_error(
      [&] {
        tg::full({big, 1 << 9}, 1.0);
      },
      "full: expected at most 2^40 elements, got shape [4294967296, 512]");
  tg::Generator gen(0);
  EXPECT_THROW(tg::randn({big, big}, gen), tg::Error);
  const tg::Tensor x = tg::zeros({2, 3});
  expect_error(
      [&] {
        (void)x.reshape({big, big, 4});
      },
      "reshape: shape [4294967296, 4294967296, 4] has more elements than fit in int64");
  expect_error(
      [&] {
        (void)x.view({-2, -3});
      },
      "view: expected sizes >= 0 (or one -1), got shape [-2, -3]");
}
