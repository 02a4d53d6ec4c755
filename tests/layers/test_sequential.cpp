#include <gtest/gtest.h>

#include <memory>

#include "layer_test_util.hpp"

namespace tg = tapegrad;
using tg::testing::all_close;
using tg::testing::expect_error_containing;

namespace {

// A stand-in for BatchNorm2d (another layer's job): a parameter and a running-statistics buffer.
class Affine : public tg::nn::Module {
 public:
  explicit Affine(std::int64_t channels) {
    weight = register_parameter("weight", tg::full({channels, 1, 1}, 2.0));
    register_buffer("running_mean", tg::zeros({channels}));
  }
  tg::Tensor forward(const tg::Tensor& x) override { return tg::mul(x, weight); }
  std::string name() const override { return "Affine()"; }
  tg::Tensor weight;
};

}  // namespace

TEST(Sequential, BracedListOfValuesAndSharedPointers) {
  tg::Generator gen(41);
  auto affine = std::make_shared<Affine>(8);
  tg::nn::Linear fc(8 * 14 * 14, 10, gen);
  // The shape of DESIGN.md's network, with a stand-in for conv and bn.
  tg::nn::Sequential net{affine, tg::nn::ReLU(), tg::nn::MaxPool2d(2), tg::nn::Flatten(), fc};
  ASSERT_EQ(net.size(), 5u);
  EXPECT_EQ(&net[0], affine.get());  // shared_ptr: the same module
  // A module passed by value is copied, and the copy shares its parameter tensors.
  EXPECT_TRUE(net.at<tg::nn::Linear>(4).weight.is_same(fc.weight));
  EXPECT_TRUE(net.at<tg::nn::Linear>(4).bias.is_same(fc.bias));

  tg::Tensor x = tg::randn({2, 8, 28, 28}, gen);
  tg::Tensor expected = fc(tg::max_pool2d(tg::relu(tg::mul(x, affine->weight)), 2).flatten(1));
  EXPECT_TRUE(all_close(net.forward(x), expected, 0, 0));
}

TEST(Sequential, NamesChildrenByPosition) {
  tg::Generator gen(42);
  tg::nn::Sequential net{tg::nn::Linear(4, 3, gen), Affine(3), tg::nn::ReLU()};
  net.push_back(tg::nn::Linear(tg::nn::LinearOptions(3, 2).bias(false), gen));
  std::vector<std::string> params, state;
  for (const auto& [name, t] : net.named_parameters()) params.push_back(name);
  for (const auto& [name, t] : net.state_dict()) state.push_back(name);
  EXPECT_EQ(params, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "3.weight"}));
  EXPECT_EQ(state, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.running_mean",
                                             "3.weight"}));
  std::vector<std::string> children;
  for (const auto& [name, m] : net.named_children()) children.push_back(name);
  EXPECT_EQ(children, (std::vector<std::string>{"0", "1", "2", "3"}));
}

TEST(Sequential, TrainAndEvalReachEveryModule) {
  tg::nn::Sequential inner{tg::nn::Dropout(0.5, 1)};
  tg::nn::Sequential net{tg::nn::Linear(4, 4), inner, tg::nn::ReLU()};
  net.eval();
  EXPECT_FALSE(net.is_training());
  for (std::size_t i = 0; i < net.size(); ++i) EXPECT_FALSE(net[i].is_training()) << i;
  auto& nested = net.at<tg::nn::Sequential>(1);
  EXPECT_FALSE(nested[0].is_training());
  tg::Tensor x = tg::ones({3, 4});
  EXPECT_TRUE(nested.forward(x).is_same(x));  // eval: dropout is the identity
  net.train();
  EXPECT_TRUE(nested[0].is_training());
  EXPECT_FALSE(nested.forward(x).is_same(x));
}

TEST(Sequential, ToStringAndName) {
  tg::nn::Sequential net{tg::nn::Linear(1568, 10), tg::nn::LogSoftmax(1)};
  EXPECT_EQ(net.name(), "Sequential");
  EXPECT_EQ(net.to_string(),
            "Sequential(\n"
            "  (0): Linear(in_features=1568, out_features=10, bias=true)\n"
            "  (1): LogSoftmax(dim=1)\n"
            ")");
}

TEST(Sequential, GradCheckThroughEveryParameter) {
  tg::Generator gen(43);
  tg::nn::Sequential net{tg::nn::Linear(5, 4, gen), tg::nn::ReLU(), tg::nn::Linear(4, 3, gen),
                         tg::nn::LogSoftmax(1)};
  net.to(tg::kFloat64);
  std::vector<tg::Tensor> inputs{tg::randn({3, 5}, gen, tg::kFloat64).requires_grad_()};
  for (const tg::Tensor& p : net.parameters()) inputs.push_back(p);
  EXPECT_GRADCHECK([&](const std::vector<tg::Tensor>& in) { return net.forward(in[0]); }, inputs);
}

TEST(Sequential, EmptyForwardsItsInput) {
  tg::nn::Sequential net;
  EXPECT_TRUE(net.empty());
  tg::Tensor x = tg::ones({2});
  EXPECT_TRUE(net.forward(x).is_same(x));
}

TEST(Sequential, RejectsBadAccess) {
  tg::nn::Sequential net{tg::nn::ReLU(), tg::nn::MaxPool2d(2)};
  expect_error_containing([&] { (void)net[2]; }, "Sequential: expected an index below 2, got 2");
  expect_error_containing(
      [&] { net.at<tg::nn::Linear>(1); },
      "Sequential: expected module 1 to be a tapegrad::nn::Linear, got MaxPool2d(");
  expect_error_containing([&] { net.push_back(std::shared_ptr<tg::nn::ReLU>()); },
                          "register_module: expected a module for '2', got null");
}
