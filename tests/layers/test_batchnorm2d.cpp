#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace tg = tapegrad;
using tapegrad::testing::bitwise_equal;

namespace {

tg::Tensor bn_fixture(const std::string& name) {
  return tg::load_npy(tg::testing::fixture("batchnorm2d/" + name + ".npy"));
}

// Writes src's values into dst (same shape), in place, as a parameter update would.
void assign(tg::Tensor& dst, const tg::Tensor& src) {
  ASSERT_EQ(dst.shape(), src.shape());
  const tg::Tensor converted = tg::copy_data(src, dst.dtype());
  std::memcpy(dst.raw_data(), converted.raw_data(), dst.nbytes());
  dst.bump_version();
}

double max_abs_error(const tg::Tensor& a, const tg::Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(va[i] - vb[i]));
  return worst;
}

// max |a - b| relative to the largest |b|: the error at the tensor's own scale.
double max_rel_error(const tg::Tensor& a, const tg::Tensor& b) {
  double scale = 0.0;
  for (double v : b.to_vector<double>()) scale = std::max(scale, std::abs(v));
  return max_abs_error(a, b) / std::max(scale, 1e-30);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A float64 layer with non-trivial parameters and running statistics, for gradcheck.
tg::nn::BatchNorm2d make_layer64(const tg::nn::BatchNorm2dOptions& options, tg::Generator& gen) {
  tg::nn::BatchNorm2d bn(options);
  bn.to(tg::kFloat64);
  const tg::Shape shape{options.num_features()};
  if (options.affine()) {
    assign(bn.weight, tg::uniform(shape, 0.5, 1.5, gen, tg::kFloat64));
    assign(bn.bias, tg::uniform(shape, -0.5, 0.5, gen, tg::kFloat64));
  }
  if (options.track_running_stats()) {
    assign(bn.running_mean, tg::uniform(shape, -1.0, 1.0, gen, tg::kFloat64));
    assign(bn.running_var, tg::uniform(shape, 0.5, 2.0, gen, tg::kFloat64));
  }
  return bn;
}

// Gradcheck of input (and weight and bias when affine) through the layer, in its current mode.
void expect_layer_gradcheck(tg::nn::BatchNorm2d& bn, tg::Generator& gen) {
  // (3, 2, 9, 7): 63 values per plane (vector blocks and a tail), 189 per channel (a flush).
  tg::Tensor x = tg::randn({3, 2, 9, 7}, gen, tg::kFloat64).requires_grad_();
  std::vector<tg::Tensor> inputs{x};
  if (bn.options().affine()) inputs.insert(inputs.end(), {bn.weight, bn.bias});
  EXPECT_GRADCHECK([&](const std::vector<tg::Tensor>& in) { return bn.forward(in[0]); }, inputs);
}

}  // namespace

// ---- gradients ----

TEST(BatchNorm2d, GradCheckTrainingAffine) {
  tg::Generator gen(1);
  tg::nn::BatchNorm2d bn = make_layer64(tg::nn::BatchNorm2dOptions(2), gen);
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckEvalAffine) {
  tg::Generator gen(2);
  tg::nn::BatchNorm2d bn = make_layer64(tg::nn::BatchNorm2dOptions(2), gen);
  bn.eval();
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckTrainingWithoutAffine) {
  tg::Generator gen(3);
  tg::nn::BatchNorm2d bn = make_layer64(tg::nn::BatchNorm2dOptions(2).affine(false), gen);
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckEvalWithoutAffine) {
  tg::Generator gen(4);
  tg::nn::BatchNorm2d bn = make_layer64(tg::nn::BatchNorm2dOptions(2).affine(false), gen);
  bn.eval();
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckWithoutRunningStatsInBothModes) {
  tg::Generator gen(5);
  tg::nn::BatchNorm2d bn =
      make_layer64(tg::nn::BatchNorm2dOptions(2).track_running_stats(false), gen);
  expect_layer_gradcheck(bn, gen);
  bn.eval();  // still batch statistics
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckMomentumNone) {
  tg::Generator gen(6);
  tg::nn::BatchNorm2d bn = make_layer64(tg::nn::BatchNorm2dOptions(2).momentum(std::nullopt), gen);
  expect_layer_gradcheck(bn, gen);
  bn.eval();
  expect_layer_gradcheck(bn, gen);
}

TEST(BatchNorm2d, GradCheckFunctionalBiasWithoutWeightRank3) {
  tg::Generator gen(7);
  tg::Tensor x = tg::randn({4, 3, 10}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor bias = tg::randn({3}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK(
      [&](const std::vector<tg::Tensor>& in) {
        return tg::batch_norm(in[0], {}, {}, {}, in[1], true, 0.1, 1e-5);
      },
      {x, bias});
}

// ---- the fast kernels against the textbook reference ----

TEST(BatchNorm2d, KernelsMatchReference) {
  tg::Generator gen(11);
  // Vector blocks, tails, flushes, rank 2 and 3, one image, and many channels per task.
  const std::vector<tg::Shape> shapes{{2, 3, 1, 1}, {6, 3, 9, 11}, {4, 5, 17, 17}, {2, 4, 1, 37},
                                      {16, 5},      {4, 3, 50},    {1, 2, 40, 40}, {3, 40, 5, 5}};
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    const double tol = dtype == tg::kFloat32 ? 2e-6 : 1e-12;
    for (const tg::Shape& shape : shapes) {
      const tg::Shape cs{shape[1]};
      const tg::Tensor x = tg::uniform(shape, -3.0, 5.0, gen, dtype);
      const tg::Tensor x64 = tg::copy_data(x, tg::kFloat64);
      const tg::Tensor dy = tg::randn(shape, gen, dtype);
      const tg::Tensor w = tg::uniform(cs, 0.5, 2.0, gen, dtype);
      const tg::Tensor b = tg::randn(cs, gen, dtype);
      const tg::Tensor rm = tg::randn(cs, gen, dtype);
      const tg::Tensor rv = tg::uniform(cs, 0.5, 2.0, gen, dtype);
      for (bool training : {true, false})
        for (bool affine : {true, false}) {
          SCOPED_TRACE(fmt::format("{} {} training={} affine={}", dtype, shape, training, affine));
          const tg::Tensor wa = affine ? w : tg::Tensor(), ba = affine ? b : tg::Tensor();
          const tg::BatchNormForward fast =
              tg::batch_norm_forward(x, wa, ba, rm, rv, training, 1e-5);
          const tg::BatchNormForward ref = tg::batch_norm_reference(
              x64, affine ? tg::copy_data(w, tg::kFloat64) : tg::Tensor(),
              affine ? tg::copy_data(b, tg::kFloat64) : tg::Tensor(),
              tg::copy_data(rm, tg::kFloat64), tg::copy_data(rv, tg::kFloat64), training, 1e-5);
          EXPECT_LE(max_abs_error(fast.output, ref.output), tol * 4);
          EXPECT_LE(max_rel_error(fast.mean, ref.mean), tol);
          EXPECT_LE(max_rel_error(fast.var, ref.var), tol);
          EXPECT_LE(max_rel_error(fast.invstd, ref.invstd), tol);

          const tg::BatchNormGrads g =
              tg::batch_norm_backward(dy, x, wa, fast.mean, fast.invstd, training);
          const tg::BatchNormGrads r = tg::batch_norm_reference_backward(
              tg::copy_data(dy, tg::kFloat64), x64,
              affine ? tg::copy_data(w, tg::kFloat64) : tg::Tensor(), ref.mean, ref.invstd,
              training);
          // dx's terms are of size |dy| w invstd (with n = 2 they cancel to ~0).
          double dy_max = 0.0, invstd_max = 0.0;
          for (double v : dy.to_vector<double>()) dy_max = std::max(dy_max, std::abs(v));
          for (double v : ref.invstd.to_vector<double>()) invstd_max = std::max(invstd_max, v);
          const double scale = dy_max * invstd_max * (affine ? 2.0 : 1.0);  // w <= 2
          EXPECT_LE(max_abs_error(g.dinput, r.dinput), tol * 4 * scale);
          EXPECT_LE(max_rel_error(g.dweight, r.dweight), tol);
          EXPECT_LE(max_rel_error(g.dbias, r.dbias), tol);
        }
    }
  }
}

TEST(BatchNorm2d, BackwardComputesOnlyWhatIsAsked) {
  tg::Generator gen(12);
  const tg::Tensor x = tg::randn({2, 3, 4, 4}, gen), dy = tg::randn({2, 3, 4, 4}, gen);
  const tg::BatchNormForward f = tg::batch_norm_forward(x, {}, {}, {}, {}, true, 1e-5);
  const tg::BatchNormGrads only_bias = tg::batch_norm_backward(dy, x, {}, f.mean, f.invstd, true,
                                                               {.dinput = false, .dweight = false});
  EXPECT_FALSE(only_bias.dinput.defined());
  EXPECT_FALSE(only_bias.dweight.defined());
  ASSERT_TRUE(only_bias.dbias.defined());
  const tg::BatchNormGrads all = tg::batch_norm_backward(dy, x, {}, f.mean, f.invstd, true);
  EXPECT_TRUE(bitwise_equal(only_bias.dbias, all.dbias));
}

// ---- PyTorch parity (fixtures from tests/fixtures/batchnorm2d/gen_batchnorm2d.py) ----

TEST(BatchNorm2d, MatchesPyTorchTrainingStepAndGradients) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(3));
  assign(bn.weight, bn_fixture("parity_weight"));
  assign(bn.bias, bn_fixture("parity_bias"));
  tg::Tensor x = bn_fixture("parity_x0").requires_grad_();
  tg::Tensor y = bn.forward(x);
  y.backward(bn_fixture("parity_dy"));
  EXPECT_LE(max_rel_error(y, bn_fixture("parity_train_y")), 1e-6);
  EXPECT_TRUE(tg::allclose(y, bn_fixture("parity_train_y"), 1e-5, 1e-6));
  EXPECT_LE(max_rel_error(x.grad(), bn_fixture("parity_train_dx")), 1e-5);
  EXPECT_LE(max_rel_error(bn.weight.grad(), bn_fixture("parity_train_dw")), 1e-5);
  EXPECT_LE(max_rel_error(bn.bias.grad(), bn_fixture("parity_train_db")), 1e-5);
  EXPECT_EQ(y.grad_fn_name(), "batch_norm");
}

TEST(BatchNorm2d, MatchesPyTorchRunningStatsAndEval) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(3));
  assign(bn.weight, bn_fixture("parity_weight"));
  assign(bn.bias, bn_fixture("parity_bias"));
  {
    tg::NoGradGuard no_grad;
    for (const char* name : {"parity_x0", "parity_x1", "parity_x2"}) bn.forward(bn_fixture(name));
  }
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 3);
  EXPECT_LE(max_rel_error(bn.running_mean, bn_fixture("parity_running_mean")), 1e-6);
  EXPECT_LE(max_rel_error(bn.running_var, bn_fixture("parity_running_var")), 1e-6);

  bn.eval();
  tg::Tensor x = bn_fixture("parity_x0").requires_grad_();
  tg::Tensor y = bn.forward(x);
  y.backward(bn_fixture("parity_dy"));
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 3);  // eval does not count
  EXPECT_LE(max_rel_error(y, bn_fixture("parity_eval_y")), 1e-6);
  EXPECT_LE(max_rel_error(x.grad(), bn_fixture("parity_eval_dx")), 1e-5);
  EXPECT_LE(max_rel_error(bn.weight.grad(), bn_fixture("parity_eval_dw")), 1e-5);
  EXPECT_LE(max_rel_error(bn.bias.grad(), bn_fixture("parity_eval_db")), 1e-5);
}

TEST(BatchNorm2d, MatchesPyTorchCumulativeAverageWithMomentumNone) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(3).momentum(std::nullopt));
  for (const char* name : {"parity_x0", "parity_x1", "parity_x2"}) bn.forward(bn_fixture(name));
  EXPECT_LE(max_rel_error(bn.running_mean, bn_fixture("parity_cma_running_mean")), 1e-6);
  EXPECT_LE(max_rel_error(bn.running_var, bn_fixture("parity_cma_running_var")), 1e-6);
}

TEST(BatchNorm2d, RunningStatsUseUnbiasedVarianceAndMomentum) {
  // One channel, values 1..4 (n = 4): mean 2.5, biased var 1.25, unbiased 5/3.
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(1).momentum(0.25));
  bn.forward(tg::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(bn.running_mean.item<float>(), 0.25f * 2.5f);
  EXPECT_FLOAT_EQ(bn.running_var.item<float>(), 0.75f + 0.25f * 5.0f / 3.0f);
}

// ---- numerics ----

TEST(BatchNorm2d, LargeMeanSmallStdAtLeastAsAccurateAsPyTorch) {
  // float32 input, mean 1e4, std 1e-2: one ulp of the input is ~1e-3, a tenth of the spread.
  const tg::Tensor x = bn_fixture("accuracy_x");
  const tg::Tensor truth =
      tg::batch_norm_reference(tg::copy_data(x, tg::kFloat64), {}, {}, {}, {}, true, 1e-5).output;
  const tg::Tensor y = tg::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  const double ours = max_abs_error(y, truth);
  const double torch = max_abs_error(bn_fixture("accuracy_torch_y"), truth);  // ~0.07
  EXPECT_LE(ours, 2e-6) << "PyTorch float32: " << torch;
  EXPECT_LE(ours, torch);

  // The same in float64, against the two-pass reference.
  tg::Generator gen(21);
  const tg::Tensor x64 = tg::add(
      tg::full({8, 4, 6, 6}, 1e4, tg::kFloat64),
      tg::mul(tg::randn({8, 4, 6, 6}, gen, tg::kFloat64), tg::scalar_tensor(1e-2, tg::kFloat64)));
  const tg::Tensor y64 = tg::batch_norm(x64, {}, {}, {}, {}, true, 0.1, 1e-5);
  EXPECT_LE(max_abs_error(y64, tg::batch_norm_reference(x64, {}, {}, {}, {}, true, 1e-5).output),
            1e-9);
}

TEST(BatchNorm2d, ShiftFarFromTheMeanIsRecentred) {
  // In every third channel the first image is 0 and the others ~1e4: the first 256 values (the
  // shift's sample) put the shift ~7500 from the mean, and those channels' sums must be redone
  // around the mean, in the middle of a group of channels that need not be.
  const std::int64_t N = 4, C = 12, S = 300;
  std::vector<float> values(N * C * S);
  tg::Generator gen(22);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < S; ++i)
        values[(n * C + c) * S + i] =
            n == 0 && c % 3 == 0 ? 0.0f : static_cast<float>(1e4 + gen.normal());
  const tg::Tensor x = tg::from_vector(values, {N, C, S});
  const tg::BatchNormForward fast = tg::batch_norm_forward(x, {}, {}, {}, {}, true, 1e-5);
  const tg::BatchNormForward ref =
      tg::batch_norm_reference(tg::copy_data(x, tg::kFloat64), {}, {}, {}, {}, true, 1e-5);
  EXPECT_LE(max_rel_error(fast.mean, ref.mean), 1e-7);  // sums of float lanes
  EXPECT_LE(max_rel_error(fast.var, ref.var), 1e-6);
  EXPECT_LE(max_abs_error(fast.output, ref.output), 1e-6);
}

TEST(BatchNorm2d, ConstantChannelNormalisesToZero) {
  const tg::Tensor x = tg::full({4, 2, 3, 3}, 7.25);
  const tg::Tensor y = tg::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  for (float v : y.to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

// ---- threads ----

TEST(BatchNorm2d, BitwiseIdenticalAtOneAndTwoThreads) {
  struct Run {
    tg::Tensor y, eval_y, running_mean, running_var, dx, dw, db;
  };
  auto run = [](int threads) {
    tg::set_num_threads(threads);
    tg::Generator gen(31);
    tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(16));
    assign(bn.weight, tg::uniform({16}, 0.5, 1.5, gen));
    assign(bn.bias, tg::randn({16}, gen));
    tg::Tensor x = tg::uniform({8, 16, 14, 14}, -2.0, 3.0, gen).requires_grad_();
    Run r;
    r.y = bn.forward(x);
    r.y.backward(tg::randn({8, 16, 14, 14}, gen));
    bn.eval();
    r.eval_y = bn.forward(x.detach());
    r.running_mean = bn.running_mean;
    r.running_var = bn.running_var;
    r.dx = x.grad();
    r.dw = bn.weight.grad();
    r.db = bn.bias.grad();
    return r;
  };
  const Run one = run(1), two = run(2);
  tg::set_num_threads(0);
  EXPECT_TRUE(bitwise_equal(one.y, two.y));
  EXPECT_TRUE(bitwise_equal(one.eval_y, two.eval_y));
  EXPECT_TRUE(bitwise_equal(one.running_mean, two.running_mean));
  EXPECT_TRUE(bitwise_equal(one.running_var, two.running_var));
  EXPECT_TRUE(bitwise_equal(one.dx, two.dx));
  EXPECT_TRUE(bitwise_equal(one.dw, two.dw));
  EXPECT_TRUE(bitwise_equal(one.db, two.db));
}

// ---- the module ----

TEST(BatchNorm2d, StateDictNamesDtypesAndShapes) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(4));
  const tg::nn::NamedTensors state = bn.state_dict();
  ASSERT_EQ(state.size(), 5u);
  const std::vector<std::string> names{"weight", "bias", "running_mean", "running_var",
                                       "num_batches_tracked"};
  for (std::size_t i = 0; i < state.size(); ++i) EXPECT_EQ(state[i].first, names[i]);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(state[i].second.dtype(), tg::kFloat32);
    EXPECT_EQ(state[i].second.shape(), tg::Shape{4});
  }
  EXPECT_EQ(state[4].second.dtype(), tg::kInt64);
  EXPECT_EQ(state[4].second.shape(), tg::Shape{});
  EXPECT_EQ(state[4].second.item<std::int64_t>(), 0);
  EXPECT_EQ(bn.weight.to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(bn.bias.to_vector<float>(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(bn.running_mean.to_vector<float>(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(bn.running_var.to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(bn.parameters().size(), 2u);
  EXPECT_TRUE(bn.weight.requires_grad());

  tg::nn::BatchNorm2d no_affine(tg::nn::BatchNorm2dOptions(4).affine(false));
  EXPECT_TRUE(no_affine.parameters().empty());
  EXPECT_EQ(no_affine.state_dict().size(), 3u);
  tg::nn::BatchNorm2d untracked(tg::nn::BatchNorm2dOptions(4).track_running_stats(false));
  EXPECT_TRUE(untracked.buffers().empty());
  EXPECT_EQ(untracked.state_dict().size(), 2u);
}

TEST(BatchNorm2d, NameAndOptions) {
  EXPECT_EQ(tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(16)).name(),
            "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
  EXPECT_EQ(tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(3)
                                    .eps(1e-3)
                                    .momentum(std::nullopt)
                                    .affine(false)
                                    .track_running_stats(false))
                .name(),
            "BatchNorm2d(3, eps=0.001, momentum=None, affine=false, track_running_stats=false)");
}

TEST(BatchNorm2d, TrainingCountsBatchesAndEvalUsesRunningStats) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(1));
  const tg::Tensor x = tg::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 1, 1, 2});
  bn.forward(x);
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 2);
  bn.eval();
  assign(bn.running_mean, tg::full({1}, 2.0));
  assign(bn.running_var, tg::full({1}, 4.0 - 1e-5));
  const std::vector<float> y = bn.forward(x).to_vector<float>();
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_FLOAT_EQ(y[i], (static_cast<float>(i + 1) - 2.0f) / 2.0f);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 2);

  // Without running statistics, eval normalises with the batch's.
  tg::nn::BatchNorm2d untracked(tg::nn::BatchNorm2dOptions(1).track_running_stats(false));
  untracked.eval();
  const tg::Tensor y_eval = untracked.forward(x);
  untracked.train();
  EXPECT_TRUE(bitwise_equal(y_eval, untracked.forward(x)));
}

TEST(BatchNorm2d, Float64LayerAfterTo) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(2));
  bn.to(tg::kFloat64);
  EXPECT_EQ(bn.weight.dtype(), tg::kFloat64);
  EXPECT_EQ(bn.running_var.dtype(), tg::kFloat64);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), tg::kInt64);
  tg::Generator gen(41);
  const tg::Tensor y = bn.forward(tg::randn({2, 2, 3, 3}, gen, tg::kFloat64));
  EXPECT_EQ(y.dtype(), tg::kFloat64);
}

TEST(BatchNorm2d, NoGradGuardRecordsNothing) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(2));
  tg::Generator gen(42);
  const tg::Tensor x = tg::randn({2, 2, 3, 3}, gen).requires_grad_();
  tg::NoGradGuard no_grad;
  EXPECT_FALSE(bn.forward(x).requires_grad());
}

TEST(BatchNorm2d, SavedInputModifiedInPlaceIsDetected) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(2));
  tg::Generator gen(43);
  tg::Tensor x = tg::randn({2, 2, 3, 3}, gen).requires_grad_();
  tg::Tensor y = bn.forward(x);
  x.bump_version();
  EXPECT_NE(error_of([&] {
              y.backward(tg::ones({2, 2, 3, 3}));
            }).find("modified in place"),
            std::string::npos);
}

// ---- bad input ----

TEST(BatchNorm2d, OneValuePerChannelWhenTrainingIsAnError) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(3));
  EXPECT_EQ(error_of([&] {
              bn.forward(tg::ones({1, 3, 1, 1}));
            }),
            "BatchNorm2d: expected more than 1 value per channel when training, got input "
            "[1, 3, 1, 1]");
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 0);  // nothing counted
  EXPECT_THROW(bn.forward(tg::ones({0, 3, 4, 4})), tg::Error);
  bn.eval();  // running statistics: one value is fine
  EXPECT_EQ(bn.forward(tg::ones({1, 3, 1, 1})).shape(), (tg::Shape{1, 3, 1, 1}));
  EXPECT_EQ(error_of([] {
              tg::batch_norm(tg::ones({1, 3}), {}, {}, {}, {}, true);
            }),
            "batch_norm: expected more than 1 value per channel when training, got input [1, 3]");
}

TEST(BatchNorm2d, BadInputsAreErrors) {
  tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(16));
  EXPECT_EQ(error_of([&] {
              bn.forward(tg::ones({8, 3, 32, 32}));
            }),
            "BatchNorm2d: expected input [N, 16, H, W], got [8, 3, 32, 32]");
  EXPECT_EQ(error_of([&] {
              bn.forward(tg::ones({8, 16, 32}));
            }),
            "BatchNorm2d: expected input [N, 16, H, W], got [8, 16, 32]");
  EXPECT_EQ(error_of([&] { bn.forward(tg::Tensor()); }),
            "BatchNorm2d: expected input [N, 16, H, W], got an undefined tensor");
  EXPECT_EQ(error_of([&] {
              bn.forward(tg::ones({2, 16, 2, 2}, tg::kFloat64));
            }),
            "BatchNorm2d: expected a float32 input (the layer's dtype), got float64 [2, 16, 2, 2]");
  EXPECT_THROW(bn.forward(tg::zeros({2, 16, 2, 2}, tg::kInt64)), tg::Error);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 0);

  EXPECT_EQ(error_of([] { tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(0)); }),
            "BatchNorm2d: expected num_features > 0, got 0");
  EXPECT_THROW(tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(2).eps(-1.0)), tg::Error);
  EXPECT_THROW(tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(2).momentum(1.5)), tg::Error);
}

TEST(BatchNorm2d, FunctionalBadInputsAreErrors) {
  const tg::Tensor x = tg::ones({2, 3, 4, 4});
  const tg::Tensor c3 = tg::ones({3}), c4 = tg::ones({4});
  EXPECT_EQ(error_of([&] { tg::batch_norm(x, c3, c3, c4, {}, true); }),
            "batch_norm: expected weight of shape [3] and dtype float32 (input [2, 3, 4, 4] "
            "float32), got [4] float32");
  EXPECT_THROW(tg::batch_norm(x, c3, c3, c3, tg::ones({3}, tg::kFloat64), true), tg::Error);
  EXPECT_THROW(tg::batch_norm(x, tg::ones({3, 1}), c3, {}, {}, true), tg::Error);
  EXPECT_EQ(error_of([&] { tg::batch_norm(x, {}, {}, {}, {}, false); }),
            "batch_norm: expected running_mean and running_var in evaluation mode, got none and "
            "none");
  EXPECT_THROW(tg::batch_norm(x, c3, c3, {}, {}, true, std::nullopt), tg::Error);
  EXPECT_NO_THROW(tg::batch_norm(x, {}, {}, {}, {}, true, std::nullopt));  // nothing to update
  EXPECT_THROW(tg::batch_norm(x, c3, c3, {}, {}, true, 0.1, -1e-5), tg::Error);
  EXPECT_EQ(error_of([] { tg::batch_norm(tg::ones({5}), {}, {}, {}, {}, true); }),
            "batch_norm: expected input (N, C, *) with at least 2 dimensions, got [5]");
  EXPECT_THROW(tg::batch_norm(tg::zeros({2, 3}, tg::kInt64), {}, {}, {}, {}, true), tg::Error);
  EXPECT_THROW(tg::batch_norm_backward(tg::ones({2, 3}), x, {}, tg::ones({3}, tg::kFloat64),
                                       tg::ones({3}, tg::kFloat64), true),
               tg::Error);
}
