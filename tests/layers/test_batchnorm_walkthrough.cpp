// The numbers of the origin story (seeds/batchnorm2d-walkthrough.md), through the walkthrough's
// own code (examples/batchnorm_walkthrough.hpp). Expected values are PyTorch 1.13's
// (nn.BatchNorm2d(2, affine=False) on the seed's input): mean 3 and 7, biased variance 1.5 (the
// seed's "2.0" is an arithmetic slip: the squared deviations sum to 12, not 16), so
// x_hat = (x - mean) / sqrt(1.5 + 1e-5).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../../examples/batchnorm_walkthrough.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;

namespace {

// The normalised planes, 2 / sqrt(1.5 + 1e-5) = 1.6329876...: each plane of image 0 is the first,
// each of image 1 the second. (PyTorch prints -1.63298762, -0.81649375, 1.19e-07, 0.81649399,
// 1.63298786: its x * a + b form rounds a little differently; the tolerance covers both.)
const std::vector<double> kFirstImage{-1.6329876, -0.8164938, 0.0, 0.8164938};
const std::vector<double> kSecondImage{-0.8164938, 0.0, 0.8164938, 1.6329876};

void expect_seed_output(const tg::Tensor& y, double tol) {
  ASSERT_EQ(y.shape(), (tg::Shape{2, 2, 2, 2}));
  const std::vector<double> v = y.to_vector<double>();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t i = 0; i < 4; ++i)
        EXPECT_NEAR(v[(n * 2 + c) * 4 + i], (n == 0 ? kFirstImage : kSecondImage)[i], tol)
            << "image " << n << ", channel " << c << ", element " << i;
}

}  // namespace

TEST(BatchNormWalkthrough, MeansAndVariancesPerChannel) {
  const walkthrough::ManualSteps m = walkthrough::manual_steps(walkthrough::seed_input());
  EXPECT_EQ(m.sum, (std::vector<double>{24, 56}));
  EXPECT_EQ(m.mean, (std::vector<double>{3, 7}));
  EXPECT_EQ(m.squared_dev, (std::vector<double>{12, 12}));
  EXPECT_EQ(m.var, (std::vector<double>{1.5, 1.5}));
  EXPECT_DOUBLE_EQ(m.denom[0], std::sqrt(1.5 + 1e-5));
}

TEST(BatchNormWalkthrough, NormalisedMatricesMatchPyTorch) {
  const walkthrough::ManualSteps m = walkthrough::manual_steps(walkthrough::seed_input());
  expect_seed_output(m.normalised, 1e-6);
  EXPECT_DOUBLE_EQ(m.normalised.at<double>({0, 0, 0, 0}), -2.0 / std::sqrt(1.5 + 1e-5));
  EXPECT_EQ(m.normalised.at<double>({0, 0, 1, 0}), 0.0);
}

TEST(BatchNormWalkthrough, ModuleWithoutAffineEqualsManualSteps) {
  const tg::Tensor x = walkthrough::seed_input();
  tg::nn::BatchNorm2d bn = walkthrough::seed_module();
  const tg::Tensor y = bn.forward(x);
  expect_seed_output(y, 1e-6);
  const std::vector<double> manual = walkthrough::manual_steps(x).normalised.to_vector<double>();
  const std::vector<float> module = y.to_vector<float>();
  for (std::size_t i = 0; i < manual.size(); ++i)
    EXPECT_EQ(module[i], static_cast<float>(manual[i])) << "element " << i;  // correctly rounded
  // The functional op, with the batch statistics and nothing tracked, gives the same.
  const tg::Tensor f = tg::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  EXPECT_EQ(f.to_vector<float>(), module);
}

TEST(BatchNormWalkthrough, TrainVersusEvalAfterThreeSteps) {
  const walkthrough::TrainEval te = walkthrough::train_then_eval(walkthrough::seed_input(), 3);
  EXPECT_EQ(te.batches, 3);
  // running_mean = (1 - 0.9^3) * mean; running_var = 0.9^3 * 1 + (1 - 0.9^3) * 12 / 7.
  const double kept = 0.9 * 0.9 * 0.9;
  EXPECT_NEAR(te.running_mean.at<double>({0}), (1 - kept) * 3, 1e-6);
  EXPECT_NEAR(te.running_mean.at<double>({1}), (1 - kept) * 7, 1e-6);
  for (std::int64_t c = 0; c < 2; ++c)
    EXPECT_NEAR(te.running_var.at<double>({c}), kept + (1 - kept) * 12.0 / 7.0, 1e-6);
  expect_seed_output(te.train_output, 1e-6);
  // Eval: (x - running_mean) / sqrt(running_var + eps); PyTorch gives 0.17116523 for x = 1.
  const double var = kept + (1 - kept) * 12.0 / 7.0;
  EXPECT_NEAR(te.eval_output.at<double>({0, 0, 0, 0}), 0.17116523, 1e-6);
  EXPECT_NEAR(te.eval_output.at<double>({1, 1, 1, 1}), (9 - (1 - kept) * 7) / std::sqrt(var + 1e-5),
              1e-5);
}
