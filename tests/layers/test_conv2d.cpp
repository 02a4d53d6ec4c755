#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "support/test_support.hpp"
#include "tapegrad/autograd/conv2d.hpp"
#include "tapegrad/core/small_matmul.hpp"
#include "tapegrad/layers/conv2d.hpp"
#include "tapegrad/layers/flatten.hpp"
#include "tapegrad/layers/linear.hpp"
#include "tapegrad/layers/max_pool2d.hpp"
#include "tapegrad/layers/relu.hpp"
#include "tapegrad/layers/sequential.hpp"

namespace tg = tapegrad;
using ::testing::HasSubstr;

namespace {

// One convolution: input shape, output channels, kernel, params, bias or not.
struct ConvCase {
  std::string name;
  tg::Shape input;
  std::int64_t out_channels;
  tg::Size2 kernel;
  tg::Conv2dParams params;
  bool bias = true;
};

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const ConvCase& c, std::ostream* os) {
  *os << c.name;
}

struct ConvTensors {
  tg::Tensor x, w, b;
};

ConvTensors make_tensors(const ConvCase& c, tg::Dtype dtype, std::uint64_t seed) {
  tg::Generator gen(seed);
  ConvTensors t;
  t.x = tg::randn(c.input, gen, dtype);
  t.w =
      tg::randn({c.out_channels, c.input[1] / c.params.groups, c.kernel.h, c.kernel.w}, gen, dtype);
  if (c.bias) t.b = tg::randn({c.out_channels}, gen, dtype);
  return t;
}

// max |a - b| / max(max |b|, 1e-30): the error relative to the reference's scale (an elementwise
// relative error would blow up on entries that happen to be near zero).
double relative_error(const tg::Tensor& a, const tg::Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double diff = 0.0, scale = 1e-30;
  for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return diff / scale;
}

// Every option that changes the math, on tiny float64 shapes for gradcheck.
const std::vector<ConvCase>& gradcheck_cases() {
  static const std::vector<ConvCase> cases = {
      {"Default", {2, 3, 5, 5}, 4, 3, {}},
      {"Stride2", {2, 3, 7, 7}, 4, 3, {.stride = 2}},
      {"Padding1", {2, 3, 5, 5}, 4, 3, {.padding = 1}},
      {"Padding2", {1, 2, 4, 5}, 3, 3, {.padding = 2}},
      {"Dilation2", {2, 2, 7, 7}, 3, 3, {.padding = 1, .dilation = 2}},
      {"Groups2", {2, 4, 5, 5}, 6, 3, {.padding = 1, .groups = 2}},
      {"Depthwise", {2, 3, 5, 5}, 3, 3, {.padding = 1, .groups = 3}},
      {"DepthwiseMultiplier2", {1, 2, 5, 5}, 4, 3, {.stride = 2, .padding = 1, .groups = 2}},
      {"NoBias", {2, 3, 5, 5}, 4, 3, {.padding = 1}, false},
      {"NonSquare", {2, 2, 5, 7}, 3, {2, 3}, {.stride = {2, 1}, .padding = {1, 0}}},
      {"Pointwise1x1", {2, 4, 3, 5}, 3, 1, {}},
      {"Pointwise1x1Stride2", {2, 4, 5, 5}, 3, 1, {.stride = 2}},
      {"SingleInputChannel", {3, 1, 6, 6}, 4, 3, {.padding = 1}},
      {"AllOptions",
       {2, 4, 8, 7},
       6,
       {3, 2},
       {.stride = {2, 1}, .padding = {2, 1}, .dilation = {1, 2}, .groups = 2}},
  };
  return cases;
}

// The gradcheck cases plus shapes large enough to split the batch into several parallel chunks
// (and several weight-gradient partials).
std::vector<ConvCase> reference_cases() {
  std::vector<ConvCase> cases = gradcheck_cases();
  cases.push_back({"BatchOfChunks", {24, 8, 12, 12}, 16, 3, {.padding = 1}});
  cases.push_back({"BatchOfChunksGroups",
                   {32, 16, 16, 15},
                   24,
                   {3, 2},
                   {.stride = {1, 2}, .padding = 1, .groups = 4}});
  cases.push_back({"BatchOfChunksPointwise", {40, 16, 8, 8}, 24, 1, {}});
  cases.push_back({"BatchOfChunksSingleChannel", {48, 1, 28, 28}, 8, 3, {.padding = 1}});
  cases.push_back(
      {"BatchOfChunksDepthwise", {64, 16, 14, 14}, 16, 3, {.padding = 1, .groups = 16}});
  // More than 16 channels per group in and out: the implicit GEMMs in float (with the AVX-512
  // GEMM), the weight gradient over batches of images within the chunks.
  cases.push_back({"ImplicitGemm", {20, 20, 7, 7}, 24, 3, {.padding = 1}});
  cases.push_back({"ImplicitGemmNoPaddingNoBias", {3, 17, 9, 11}, 18, 3, {}, false});
  cases.push_back({"ImplicitGemmStridedDilatedGroups",
                   {3, 36, 11, 9},
                   34,
                   {3, 2},
                   {.stride = {2, 1}, .padding = {2, 1}, .dilation = {1, 2}, .groups = 2}});
  cases.push_back(
      {"ImplicitGemmDilated", {2, 20, 8, 9}, 20, 3, {.padding = {1, 2}, .dilation = 2}});
  cases.push_back({"ImplicitGemmPaddingBeyondKernel", {2, 20, 6, 6}, 20, 3, {.padding = 3}});
  cases.push_back({"ImplicitGemmSeveralBatchesPerChunk", {32, 17, 12, 24}, 17, 3, {.padding = 1}});
  // At most 16 output (input) channels per group: the forward (input gradient) on the padded
  // image's grid, vectors along the pixels.
  cases.push_back({"ImplicitGridDilatedGroups",
                   {3, 16, 9, 20},
                   32,
                   3,
                   {.padding = 2, .dilation = 2, .groups = 2}});
  return cases;
}

// Restores the default thread count when a test ends, whatever it set.
struct ThreadCountGuard {
  ~ThreadCountGuard() { tg::set_num_threads(0); }
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no tapegrad::Error thrown)";
}

}  // namespace

// ---- values ----

TEST(Conv2d, ForwardMatchesHandComputedValues) {
  // x = 0..15 as one 4x4 image; w: a 2x2 box filter and a 2x2 "top-left minus bottom-right".
  std::vector<float> pixels(16);
  for (int i = 0; i < 16; ++i) pixels[i] = static_cast<float>(i);
  tg::Tensor x = tg::from_vector(pixels, {1, 1, 4, 4});
  tg::Tensor w = tg::from_vector(std::vector<float>{1, 1, 1, 1, 1, 0, 0, -1}, {2, 1, 2, 2});
  tg::Tensor b = tg::from_vector(std::vector<float>{0.5f, 0}, {2});
  tg::Tensor y = tg::conv2d(x, w, b, {.stride = 2});
  ASSERT_EQ(y.shape(), (tg::Shape{1, 2, 2, 2}));
  // Windows at (0,0): 0 1 4 5; (0,2): 2 3 6 7; (2,0): 8 9 12 13; (2,2): 10 11 14 15.
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{10.5f, 18.5f, 42.5f, 50.5f, -5, -5, -5, -5}));
  // Padding 1 at stride 1: the corner output sees only x[0][0] = 0 (box) and the one below-right.
  tg::Tensor yp = tg::conv2d(x, w, {}, {.padding = 1});
  ASSERT_EQ(yp.shape(), (tg::Shape{1, 2, 5, 5}));
  EXPECT_EQ(yp.at<float>({0, 0, 0, 0}), 0.0f);
  EXPECT_EQ(yp.at<float>({0, 0, 1, 1}), 0.0f + 1 + 4 + 5);
  EXPECT_EQ(yp.at<float>({0, 1, 0, 0}), -0.0f);
  EXPECT_EQ(yp.at<float>({0, 1, 4, 4}), 15.0f);
  EXPECT_EQ(tg::conv2d_output_shape(x, w, b, {.stride = 2}), (tg::Shape{1, 2, 2, 2}));
}

TEST(Conv2d, RecordsOnTheTapeOnlyWhenNeeded) {
  tg::Generator gen(3);
  tg::Tensor x = tg::randn({2, 3, 5, 5}, gen);
  tg::Tensor w = tg::randn({4, 3, 3, 3}, gen).requires_grad_();
  tg::Tensor y = tg::conv2d(x, w);
  EXPECT_EQ(y.grad_fn_name(), "conv2d");
  y.backward(tg::ones(y.shape()));
  EXPECT_FALSE(x.grad().defined());  // the images do not require grad: no input gradient
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().shape(), w.shape());
  {
    tg::NoGradGuard no_grad;
    EXPECT_FALSE(tg::conv2d(x, w).requires_grad());
  }
}

// ---- gradient checks (float64) ----

class Conv2dGradcheck : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dGradcheck, InputWeightAndBias) {
  const ConvCase& c = GetParam();
  ConvTensors t = make_tensors(c, tg::kFloat64, 7);
  t.x.requires_grad_();
  t.w.requires_grad_();
  std::vector<tg::Tensor> inputs{t.x, t.w};
  if (c.bias) inputs.push_back(t.b.requires_grad_());
  const tg::Conv2dParams params = c.params;
  EXPECT_GRADCHECK(
      [&](const std::vector<tg::Tensor>& in) {
        return tg::conv2d(in[0], in[1], in.size() > 2 ? in[2] : tg::Tensor(), params);
      },
      inputs);
}

INSTANTIATE_TEST_SUITE_P(Conv2d, Conv2dGradcheck, ::testing::ValuesIn(gradcheck_cases()),
                         [](const auto& info) { return info.param.name; });

// ---- the fast path against the naive reference ----

TEST(Conv2d, FastPathMatchesReference) {
  for (const ConvCase& c : reference_cases()) {
    for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
      SCOPED_TRACE(c.name + " " + std::string(tg::dtype_name(dtype)));
      const double tol = dtype == tg::kFloat32 ? 1e-5 : 1e-12;
      ConvTensors t = make_tensors(c, dtype, 11);
      const tg::Tensor y = tg::conv2d_forward(t.x, t.w, t.b, c.params);
      const tg::Tensor y_ref = tg::conv2d_reference(t.x, t.w, t.b, c.params);
      EXPECT_LT(relative_error(y, y_ref), tol);
      tg::Generator gen(12);
      const tg::Tensor dy = tg::randn(y.shape(), gen, dtype);
      const tg::Conv2dGrads g = tg::conv2d_backward(dy, t.x, t.w, c.params);
      const tg::Conv2dGrads r = tg::conv2d_reference_backward(dy, t.x, t.w, c.params);
      EXPECT_LT(relative_error(g.dinput, r.dinput), tol);
      EXPECT_LT(relative_error(g.dweight, r.dweight), tol);
      EXPECT_LT(relative_error(g.dbias, r.dbias), tol);
    }
  }
}

TEST(Conv2d, FastPathMatchesReferenceOnRandomShapes) {
  tg::Generator gen(31);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {  // uniform in [lo, hi]
    return lo + static_cast<std::int64_t>(gen.randint(static_cast<std::uint64_t>(hi - lo + 1)));
  };
  for (int trial = 0; trial < 40; ++trial) {
    const std::int64_t groups = pick(1, 3);
    const tg::Size2 kernel{pick(1, 4), pick(1, 4)};
    const tg::Conv2dParams params{.stride = {pick(1, 3), pick(1, 3)},
                                  .padding = {pick(0, 2), pick(0, 2)},
                                  .dilation = {pick(1, 2), pick(1, 2)},
                                  .groups = groups};
    // An input at least as large as the dilated kernel (minus the padding).
    const std::int64_t H = std::max<std::int64_t>(
        1, params.dilation.h * (kernel.h - 1) + 1 - 2 * params.padding.h + pick(0, 6));
    const std::int64_t W = std::max<std::int64_t>(
        1, params.dilation.w * (kernel.w - 1) + 1 - 2 * params.padding.w + pick(0, 6));
    const ConvCase c{"random",
                     {pick(1, 4), groups * pick(1, 3), H, W},
                     groups * pick(1, 3),
                     kernel,
                     params,
                     pick(0, 1) == 1};
    SCOPED_TRACE(testing::Message() << "input " << fmt::format("{}", c.input) << " out "
                                    << c.out_channels << " kernel " << fmt::format("{}", c.kernel)
                                    << " stride " << fmt::format("{}", params.stride) << " padding "
                                    << fmt::format("{}", params.padding) << " dilation "
                                    << fmt::format("{}", params.dilation) << " groups " << groups);
    ConvTensors t = make_tensors(c, tg::kFloat64, 100 + trial);
    const tg::Tensor y = tg::conv2d_forward(t.x, t.w, t.b, params);
    EXPECT_LT(relative_error(y, tg::conv2d_reference(t.x, t.w, t.b, params)), 1e-12);
    const tg::Tensor dy = tg::randn(y.shape(), gen, tg::kFloat64);
    const tg::Conv2dGrads g = tg::conv2d_backward(dy, t.x, t.w, params);
    const tg::Conv2dGrads r = tg::conv2d_reference_backward(dy, t.x, t.w, params);
    EXPECT_LT(relative_error(g.dinput, r.dinput), 1e-12);
    EXPECT_LT(relative_error(g.dweight, r.dweight), 1e-12);
    EXPECT_LT(relative_error(g.dbias, r.dbias), 1e-12);
  }
}

TEST(Conv2d, FastPathMatchesReferenceAtEveryVectorWidth) {
  // The small-dimension kernels (few channels per group) at each width the CPU has; with
  // narrower vectors more products go to OpenBLAS instead.
  struct Restore {
    ~Restore() { tg::kernels::set_small_matmul_vector_bytes(0); }
  } restore;
  for (int bytes : {16, 32, 64}) {
    tg::kernels::set_small_matmul_vector_bytes(bytes);
    for (const ConvCase& c : reference_cases()) {
      SCOPED_TRACE(c.name + " at " + std::to_string(bytes) + " bytes");
      ConvTensors t = make_tensors(c, tg::kFloat32, 13);
      const tg::Tensor y = tg::conv2d_forward(t.x, t.w, t.b, c.params);
      EXPECT_LT(relative_error(y, tg::conv2d_reference(t.x, t.w, t.b, c.params)), 1e-5);
      tg::Generator gen(14);
      const tg::Tensor dy = tg::randn(y.shape(), gen);
      const tg::Conv2dGrads g = tg::conv2d_backward(dy, t.x, t.w, c.params);
      const tg::Conv2dGrads r = tg::conv2d_reference_backward(dy, t.x, t.w, c.params);
      EXPECT_LT(relative_error(g.dinput, r.dinput), 1e-5);
      EXPECT_LT(relative_error(g.dweight, r.dweight), 1e-5);
      EXPECT_LT(relative_error(g.dbias, r.dbias), 1e-5);
    }
  }
}

TEST(Conv2d, BackwardComputesOnlyTheRequestedGradients) {
  const ConvCase c{"", {3, 4, 6, 6}, 5, 3, {.padding = 1}};
  ConvTensors t = make_tensors(c, tg::kFloat64, 5);
  const tg::Tensor dy = tg::ones(tg::conv2d_output_shape(t.x, t.w, {}, c.params), tg::kFloat64);
  const tg::Conv2dGrads all = tg::conv2d_backward(dy, t.x, t.w, c.params);
  const tg::Conv2dGrads w_only =
      tg::conv2d_backward(dy, t.x, t.w, c.params, {.dinput = false, .dbias = false});
  EXPECT_FALSE(w_only.dinput.defined());
  EXPECT_FALSE(w_only.dbias.defined());
  EXPECT_EQ(w_only.dweight.to_vector<double>(), all.dweight.to_vector<double>());
  const tg::Conv2dGrads x_only =
      tg::conv2d_backward(dy, t.x, t.w, c.params, {.dweight = false, .dbias = false});
  EXPECT_FALSE(x_only.dweight.defined());
  EXPECT_EQ(x_only.dinput.to_vector<double>(), all.dinput.to_vector<double>());
  // dy = 1 everywhere: db = N * OH * OW.
  EXPECT_EQ(all.dbias.to_vector<double>(), std::vector<double>(5, 3 * 6 * 6));
}

// ---- PyTorch parity (fixtures from tests/fixtures/conv2d/gen_conv2d.py) ----

namespace {
struct TorchCase {
  std::string name;
  tg::Conv2dParams params;
  bool bias;
  double tol;
};
// Keep in sync with `configs` in gen_conv2d.py.
const std::vector<TorchCase> kPyTorchCases = {
    {"basic", {.padding = 1}, true, 1e-5},
    {"strided_dilated_grouped",
     {.stride = {2, 1}, .padding = {1, 2}, .dilation = {2, 1}, .groups = 2},
     true,
     1e-5},
    {"depthwise", {.padding = 1, .groups = 4}, false, 1e-5},
    {"pointwise", {}, true, 1e-5},
    {"single_channel", {.padding = 1}, true, 1e-5},
    {"large", {.padding = 1}, true, 1e-4},
};
}  // namespace

TEST(Conv2d, MatchesPyTorch) {
  auto load = [](const std::string& name, const std::string& what) {
    return tg::load_npy(tg::testing::fixture("conv2d/" + name + "_" + what + ".npy"));
  };
  for (const TorchCase& c : kPyTorchCases) {
    SCOPED_TRACE(c.name);
    tg::Tensor x = load(c.name, "x").requires_grad_();
    tg::Tensor w = load(c.name, "w").requires_grad_();
    tg::Tensor b = c.bias ? load(c.name, "b").requires_grad_() : tg::Tensor();
    tg::Tensor y = tg::conv2d(x, w, b, c.params);
    EXPECT_LT(relative_error(y, load(c.name, "y")), c.tol);
    y.backward(load(c.name, "dy"));
    EXPECT_LT(relative_error(x.grad(), load(c.name, "dx")), c.tol);
    EXPECT_LT(relative_error(w.grad(), load(c.name, "dw")), c.tol);
    if (c.bias) {
      EXPECT_LT(relative_error(b.grad(), load(c.name, "db")), c.tol);
    }
  }
}

// ---- determinism ----

TEST(Conv2d, BitwiseIdenticalAtOneAndTwoThreads) {
  ThreadCountGuard restore;
  for (const ConvCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    ConvTensors t = make_tensors(c, tg::kFloat32, 21);
    tg::Generator gen(22);
    const tg::Tensor dy =
        tg::randn(tg::conv2d_output_shape(t.x, t.w, t.b, c.params), gen, tg::kFloat32);
    auto run = [&](int threads) {
      tg::set_num_threads(threads);
      std::vector<std::vector<float>> out;
      out.push_back(tg::conv2d_forward(t.x, t.w, t.b, c.params).to_vector<float>());
      const tg::Conv2dGrads g = tg::conv2d_backward(dy, t.x, t.w, c.params);
      for (const tg::Tensor& grad : {g.dinput, g.dweight, g.dbias})
        out.push_back(grad.to_vector<float>());
      return out;
    };
    const auto one = run(1);
    const auto two = run(2);
    ASSERT_EQ(one.size(), two.size());
    for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << "output " << i;
  }
}

// ---- bad input ----

TEST(Conv2d, RejectsBadInputWithClearMessages) {
  tg::Generator gen(1);
  const tg::Tensor x = tg::randn({8, 3, 28, 28}, gen);
  const tg::Tensor w = tg::randn({32, 3, 3, 3}, gen);
  const tg::Tensor b = tg::randn({32}, gen);

  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, tg::randn({32, 16, 3, 3}, gen));
            }),
            "conv2d: expected input with 16 channels (weight [32, 16, 3, 3], groups 1), got "
            "[8, 3, 28, 28]");
  EXPECT_EQ(
      message_of([&] {
        tg::conv2d(tg::randn({3, 28, 28}, gen), w);
      }),
      "conv2d: expected input of rank 4 [N, C, H, W], got [3, 28, 28] (weight [32, 3, 3, 3])");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, tg::randn({32, 3, 3}, gen));
            }),
            "conv2d: expected weight of rank 4 [OC, C/groups, KH, KW], got [32, 3, 3] (input [8, "
            "3, 28, 28])");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, tg::randn({32, 1, 3, 3}, gen), {}, {.groups = 2});
            }),
            "conv2d: expected input channels divisible by groups 2, got input [8, 3, 28, 28]");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(tg::randn({8, 4, 28, 28}, gen), tg::randn({30, 1, 3, 3}, gen), {},
                         {.groups = 4});
            }),
            "conv2d: expected output channels divisible by groups 4, got weight [30, 1, 3, 3] (30 "
            "output channels)");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(tg::randn({1, 3, 2, 2}, gen), w);
            }),
            "conv2d: expected a kernel no larger than the padded input, got a (dilated) kernel of "
            "[3, 3] for a padded input of [2, 2] (input [1, 3, 2, 2], weight [32, 3, 3, 3], "
            "padding [0, 0], dilation [1, 1])");
  EXPECT_THAT(message_of([&] { tg::conv2d(x, w, {}, {.padding = 1, .dilation = 15}); }),
              HasSubstr("kernel of [31, 31] for a padded input of [30, 30]"));
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, w, {}, {.stride = {1, 0}});
            }),
            "conv2d: expected a positive stride, got [1, 0]");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, w, {}, {.stride = -1}); }),
            "conv2d: expected a positive stride, got [-1, -1]");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, w, {}, {.dilation = 0}); }),
            "conv2d: expected a positive dilation, got [0, 0]");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, w, {}, {.padding = {-1, 0}});
            }),
            "conv2d: expected a non-negative padding, got [-1, 0]");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, w, {}, {.groups = 0}); }),
            "conv2d: expected a positive number of groups, got 0");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(tg::zeros({0, 3, 28, 28}), w);
            }),
            "conv2d: expected input with no zero-size dimension, got [0, 3, 28, 28]");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, tg::zeros({32, 3, 0, 3}));
            }),
            "conv2d: expected weight with no zero-size dimension, got [32, 3, 0, 3]");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, tg::copy_data(w, tg::kFloat64)); }),
            "conv2d: expected weight of the input's dtype float32, got float64 (input [8, 3, 28, "
            "28], weight [32, 3, 3, 3])");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, w, tg::copy_data(b, tg::kFloat64)); }),
            "conv2d: expected bias of the input's dtype float32, got float64 (bias [32])");
  EXPECT_EQ(message_of([&] { tg::conv2d(x, w, tg::randn({16}, gen)); }),
            "conv2d: expected bias of shape [32] (weight [32, 3, 3, 3]), got [16]");
  EXPECT_EQ(message_of([&] {
              tg::conv2d(x, w, tg::randn({1, 32}, gen));
            }),
            "conv2d: expected bias of shape [32] (weight [32, 3, 3, 3]), got [1, 32]");
  EXPECT_EQ(
      message_of([&] {
        tg::conv2d(tg::zeros({8, 3, 28, 28}, tg::kInt64), tg::zeros({32, 3, 3, 3}, tg::kInt64));
      }),
      "conv2d: expected a float32 or float64 input, got int64 [8, 3, 28, 28]");
  EXPECT_EQ(message_of([&] { tg::conv2d(tg::Tensor(), w); }),
            "conv2d: expected defined input and weight tensors, got an undefined input");
  EXPECT_EQ(message_of([&] {
              tg::conv2d_backward(tg::zeros({8, 32, 26, 27}), x, w, {});
            }),
            "conv2d_backward: expected a gradient of shape [8, 32, 26, 26] and dtype float32, got "
            "[8, 32, 26, 27] float32");
}

// ---- the layer ----

TEST(Conv2dModule, OptionsDefaultsAndSetters) {
  const tg::nn::Conv2dOptions d(1, 16, 3);
  EXPECT_EQ(d.kernel_size(), (tg::Size2{3, 3}));
  EXPECT_EQ(d.stride(), tg::Size2(1));
  EXPECT_EQ(d.padding(), tg::Size2(0));
  EXPECT_EQ(d.dilation(), tg::Size2(1));
  EXPECT_EQ(d.groups(), 1);
  EXPECT_TRUE(d.bias());
  const auto o = tg::nn::Conv2dOptions(4, 8, {3, 5})
                     .stride({2, 1})
                     .padding(1)
                     .dilation({1, 2})
                     .groups(2)
                     .bias(false);
  EXPECT_EQ(o.kernel_size(), (tg::Size2{3, 5}));
  EXPECT_EQ(o.stride(), (tg::Size2{2, 1}));
  EXPECT_EQ(o.padding(), (tg::Size2{1, 1}));
  EXPECT_EQ(o.dilation(), (tg::Size2{1, 2}));
  EXPECT_EQ(o.groups(), 2);
  EXPECT_FALSE(o.bias());
}

TEST(Conv2dModule, ParametersNamesShapesAndInit) {
  tg::Generator gen(42);
  tg::nn::Conv2d conv(tg::nn::Conv2dOptions(4, 6, 3).groups(2), gen);
  const tg::nn::NamedTensors params = conv.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[1].first, "bias");
  EXPECT_EQ(params[0].second.shape(), (tg::Shape{6, 2, 3, 3}));
  EXPECT_EQ(params[1].second.shape(), (tg::Shape{6}));
  EXPECT_TRUE(params[0].second.is_same(conv.weight));
  EXPECT_TRUE(conv.weight.requires_grad());
  // PyTorch's default init: both U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 2 * 3 * 3.
  const double bound = 1.0 / std::sqrt(18.0);
  for (const tg::Tensor& p : {conv.weight, conv.bias}) {
    const std::vector<double> v = p.to_vector<double>();
    EXPECT_LE(*std::max_element(v.begin(), v.end()), bound);
    EXPECT_GE(*std::min_element(v.begin(), v.end()), -bound);
    EXPECT_GT(*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end()),
              bound / 2);  // spread over the range, not constant
  }
  // The same seed gives the same parameters: weight drawn first, then bias.
  tg::Generator again(42);
  tg::nn::Conv2d twin(tg::nn::Conv2dOptions(4, 6, 3).groups(2), again);
  EXPECT_EQ(twin.weight.to_vector<float>(), conv.weight.to_vector<float>());
  EXPECT_EQ(twin.bias.to_vector<float>(), conv.bias.to_vector<float>());
  tg::Generator manual(42);
  tg::Tensor w = tg::empty({6, 2, 3, 3});
  tg::nn::init::kaiming_uniform_(w, std::sqrt(5.0), manual);
  EXPECT_EQ(w.to_vector<float>(), conv.weight.to_vector<float>());
}

TEST(Conv2dModule, WithoutBiasHasNoBiasParameter) {
  tg::nn::Conv2d conv(tg::nn::Conv2dOptions(3, 4, 3).bias(false));
  const tg::nn::NamedTensors params = conv.named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_FALSE(conv.bias.defined());
  tg::Generator gen(2);
  const tg::Tensor x = tg::randn({2, 3, 5, 5}, gen);
  EXPECT_EQ(conv.forward(x).to_vector<float>(),
            tg::conv2d(x, conv.weight, {}, {}).to_vector<float>());
}

TEST(Conv2dModule, ForwardCallsTheFunctionalOp) {
  tg::Generator gen(9);
  tg::nn::Conv2d conv(tg::nn::Conv2dOptions(2, 4, {3, 2}).stride(2).padding({1, 0}).dilation(1),
                      gen);
  const tg::Tensor x = tg::randn({3, 2, 9, 8}, gen);
  const tg::Tensor y = conv(x);
  EXPECT_EQ(y.shape(), (tg::Shape{3, 4, 5, 4}));
  EXPECT_EQ(
      y.to_vector<float>(),
      tg::conv2d(x, conv.weight, conv.bias, {.stride = 2, .padding = {1, 0}}).to_vector<float>());
  EXPECT_EQ(message_of([&] {
              conv(tg::randn({8, 3, 9, 8}, gen));
            }),
            "Conv2d: expected input [N, 2, H, W], got [8, 3, 9, 8]");
  EXPECT_EQ(message_of([&] {
              conv(tg::randn({2, 9, 8}, gen));
            }),
            "Conv2d: expected input [N, 2, H, W], got [2, 9, 8]");
}

TEST(Conv2dModule, GradcheckThroughTheModuleInFloat64) {
  tg::Generator gen(4);
  tg::nn::Conv2d conv(tg::nn::Conv2dOptions(2, 3, 3).stride(2).padding(1), gen);
  conv.to(tg::kFloat64);
  tg::Tensor x = tg::randn({2, 2, 5, 5}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK([&](const std::vector<tg::Tensor>& in) { return conv.forward(in[0]); },
                   {x, conv.weight, conv.bias});
}

TEST(Conv2dModule, CopiesShareParameters) {
  tg::nn::Conv2d conv(tg::nn::Conv2dOptions(1, 2, 3));
  tg::nn::Conv2d copy = conv;
  EXPECT_TRUE(copy.weight.is_same(conv.weight));
  EXPECT_TRUE(copy.named_parameters()[1].second.is_same(conv.bias));
}

TEST(Conv2dModule, NameAndRejectedOptions) {
  EXPECT_EQ(tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 16, 3).padding(1)).name(),
            "Conv2d(1, 16, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1])");
  EXPECT_EQ(
      tg::nn::Conv2d(
          tg::nn::Conv2dOptions(4, 8, {3, 5}).stride({2, 1}).dilation(2).groups(4).bias(false))
          .name(),
      "Conv2d(4, 8, kernel_size=[3, 5], stride=[2, 1], dilation=[2, 2], groups=4, bias=False)");
  EXPECT_EQ(message_of([] { tg::nn::Conv2d(tg::nn::Conv2dOptions(3, 8, 3).groups(2)); }),
            "Conv2d: expected groups dividing in_channels 3 and out_channels 8, got groups 2");
  EXPECT_EQ(message_of([] { tg::nn::Conv2d(tg::nn::Conv2dOptions(0, 8, 3)); }),
            "Conv2d: expected positive in and out channels, got 0 and 8");
  EXPECT_EQ(message_of([] {
              tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 8, {3, 0}));
            }),
            "Conv2d: expected a positive kernel size, got [3, 0]");
  EXPECT_EQ(message_of([] { tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 8, 3).stride(0)); }),
            "Conv2d: expected a positive stride, got [0, 0]");
  EXPECT_EQ(message_of([] { tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 8, 3).padding(-1)); }),
            "Conv2d: expected a non-negative padding, got [-1, -1]");
  EXPECT_EQ(message_of([] {
              tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 8, 3).dilation({1, 0}));
            }),
            "Conv2d: expected a positive dilation, got [1, 0]");
}

TEST(Conv2dModule, TrainsInsideSequentialWithPyTorchNames) {
  tg::Generator gen(5);
  tg::nn::Sequential net{tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 4, 3).padding(1), gen),
                         tg::nn::ReLU(), tg::nn::MaxPool2d(2), tg::nn::Flatten(),
                         tg::nn::Linear(4 * 4 * 4, 3)};
  std::vector<std::string> names;
  for (const auto& [name, p] : net.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));
  const tg::Tensor x = tg::randn({2, 1, 8, 8}, gen);
  const tg::Tensor y = net.forward(x);
  ASSERT_EQ(y.shape(), (tg::Shape{2, 3}));
  y.backward(tg::ones({2, 3}));
  const tg::nn::Conv2d& conv = net.at<tg::nn::Conv2d>(0);
  ASSERT_TRUE(conv.weight.grad().defined());
  EXPECT_EQ(conv.weight.grad().shape(), (tg::Shape{4, 1, 3, 3}));
  ASSERT_TRUE(conv.bias.grad().defined());
}
