// gradcheck_layers: the layer-level gradient check. For every layer and every option set that
// changes its math, compares analytic gradients (of the input and of every parameter) with
// central differences in float64, prints a table and exits non-zero if any check fails.
//
//   gradcheck_layers            # all layers
//   gradcheck_layers Conv2d     # only rows whose layer name contains "Conv2d"
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace F = tapegrad::nn::functional;

namespace {

struct Row {
  std::string layer, options, mode;
  tg::GradcheckReport report;
};

class Checker {
 public:
  explicit Checker(std::string filter) : filter_(std::move(filter)), gen_(2024) {}

  // Checks a module on a random float64 input: gradients of the input and all parameters.
  void module(const std::string& layer, const std::string& options, nn::Module& m,
              const tg::Shape& input_shape, bool training = true) {
    if (!wanted(layer)) return;
    m.to(tg::kFloat64);
    m.train(training);
    tg::Tensor x = tg::randn(input_shape, gen_, tg::kFloat64).requires_grad_();
    std::vector<tg::Tensor> inputs{x};
    for (const tg::Tensor& p : m.parameters()) inputs.push_back(p);
    // Buffers (running statistics) change on every training forward: restore them between
    // evaluations so the function gradcheck differentiates stays the same function.
    const nn::NamedTensors buffers = m.named_buffers();
    std::vector<tg::Tensor> initial;
    for (const auto& [name, b] : buffers) initial.push_back(tg::copy_data(b, b.dtype()));
    auto fn = [&](const std::vector<tg::Tensor>& in) {
      {
        tg::NoGradGuard no_grad;
        for (std::size_t i = 0; i < buffers.size(); ++i)
          buffers[i].second.detach().copy_(initial[i]);
      }
      return m.forward(in[0]);
    };
    rows_.push_back({layer, options, training ? "train" : "eval", tg::gradcheck(fn, inputs)});
  }

  // Checks a function of several inputs (losses, functional ops).
  void function(const std::string& layer, const std::string& options, const tg::TensorFn& fn,
                const std::vector<tg::Tensor>& inputs) {
    if (!wanted(layer)) return;
    rows_.push_back({layer, options, "-", tg::gradcheck(fn, inputs)});
  }

  tg::Generator& gen() { return gen_; }

  int print() const {
    int failed = 0;
    std::printf("%-18s %-40s %-6s %13s %13s  %s\n", "layer", "options", "mode", "max abs err",
                "max rel err", "result");
    for (const Row& r : rows_) {
      std::printf("%-18s %-40s %-6s %13.3e %13.3e  %s\n", r.layer.c_str(), r.options.c_str(),
                  r.mode.c_str(), r.report.max_abs_error, r.report.max_rel_error,
                  r.report.ok ? "pass" : "FAIL");
      if (!r.report.ok) {
        ++failed;
        std::printf("    %s\n", r.report.summary.c_str());
      }
    }
    std::printf("%zu checks, %d failed\n", rows_.size(), failed);
    return failed;
  }

 private:
  bool wanted(const std::string& layer) const {
    return filter_.empty() || layer.find(filter_) != std::string::npos;
  }
  std::string filter_;
  tg::Generator gen_;
  std::vector<Row> rows_;
};

void check_conv2d(Checker& c) {
  struct Case {
    const char* options;
    nn::Conv2dOptions o;
    tg::Shape input;
  };
  const std::vector<Case> cases = {
      {"3->4 k3", nn::Conv2dOptions(3, 4, 3), {2, 3, 6, 6}},
      {"3->4 k3 stride 2", nn::Conv2dOptions(3, 4, 3).stride(2), {2, 3, 7, 7}},
      {"3->4 k3 padding 1", nn::Conv2dOptions(3, 4, 3).padding(1), {2, 3, 5, 5}},
      {"3->4 k3 padding 2", nn::Conv2dOptions(3, 4, 3).padding(2), {2, 3, 4, 4}},
      {"3->4 k3 dilation 2", nn::Conv2dOptions(3, 4, 3).dilation(2), {2, 3, 7, 7}},
      {"4->6 k3 groups 2", nn::Conv2dOptions(4, 6, 3).groups(2).padding(1), {2, 4, 5, 5}},
      {"4->4 k3 depthwise", nn::Conv2dOptions(4, 4, 3).groups(4).padding(1), {2, 4, 5, 5}},
      {"3->4 k3 no bias", nn::Conv2dOptions(3, 4, 3).bias(false), {2, 3, 5, 5}},
      {"3->4 k{2,3} s{2,1} p{1,0}",
       nn::Conv2dOptions(3, 4, {2, 3}).stride({2, 1}).padding({1, 0}),
       {2, 3, 5, 7}},
      {"3->5 k1 (1x1 path)", nn::Conv2dOptions(3, 5, 1), {2, 3, 4, 5}},
      {"1->4 k3 p1 (Cin=1)", nn::Conv2dOptions(1, 4, 3).padding(1), {3, 1, 6, 6}},
  };
  for (const Case& k : cases) {
    nn::Conv2d conv(k.o, c.gen());
    c.module("Conv2d", k.options, conv, k.input);
  }
}

void check_batchnorm2d(Checker& c) {
  struct Case {
    const char* options;
    nn::BatchNorm2dOptions o;
  };
  const std::vector<Case> cases = {
      {"affine", nn::BatchNorm2dOptions(3)},
      {"affine=false", nn::BatchNorm2dOptions(3).affine(false)},
      {"track_running_stats=false", nn::BatchNorm2dOptions(3).track_running_stats(false)},
      {"momentum=None", nn::BatchNorm2dOptions(3).momentum(std::nullopt)},
  };
  for (const Case& k : cases) {
    for (bool training : {true, false}) {
      nn::BatchNorm2d bn(k.o);
      bn.to(tg::kFloat64);
      {  // a few training steps so eval mode uses non-trivial running statistics
        tg::NoGradGuard no_grad;
        for (int i = 0; i < 3; ++i) bn.forward(tg::randn({4, 3, 3, 3}, c.gen(), tg::kFloat64));
      }
      if (bn.is_training() && k.o.affine()) {  // non-trivial affine parameters
        tg::NoGradGuard no_grad;
        for (tg::Tensor& p : bn.parameters()) p.copy_(tg::randn(p.shape(), c.gen(), tg::kFloat64));
      }
      c.module("BatchNorm2d", k.options, bn, {3, 3, 4, 2}, training);
    }
  }
}

void check_others(Checker& c) {
  nn::ReLU relu;
  c.module("ReLU", "", relu, {2, 3, 4, 4});
  nn::Linear linear(nn::LinearOptions(6, 4), c.gen());
  c.module("Linear", "6->4", linear, {5, 6});
  nn::Linear linear_nb(nn::LinearOptions(6, 4).bias(false), c.gen());
  c.module("Linear", "6->4 bias=false", linear_nb, {5, 6});
  nn::MaxPool2d mp(nn::MaxPool2dOptions(2));
  c.module("MaxPool2d", "k2", mp, {2, 3, 6, 6});
  nn::MaxPool2d mp_overlap(nn::MaxPool2dOptions(3).stride(2).padding(1));
  c.module("MaxPool2d", "k3 s2 p1 (overlap, padding)", mp_overlap, {2, 3, 7, 7});
  nn::MaxPool2d mp_ceil(nn::MaxPool2dOptions(2).ceil_mode(true));
  c.module("MaxPool2d", "k2 ceil_mode", mp_ceil, {2, 3, 5, 5});
  nn::AvgPool2d ap(nn::AvgPool2dOptions(2));
  c.module("AvgPool2d", "k2", ap, {2, 3, 6, 6});
  nn::AvgPool2d ap_pad(nn::AvgPool2dOptions(3).stride(2).padding(1));
  c.module("AvgPool2d", "k3 s2 p1 count_include_pad", ap_pad, {2, 3, 7, 7});
  nn::AvgPool2d ap_nopad(nn::AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(false));
  c.module("AvgPool2d", "k3 s2 p1 !count_include_pad", ap_nopad, {2, 3, 7, 7});
  nn::AdaptiveAvgPool2d gap({1, 1});
  c.module("AdaptiveAvgPool2d", "out 1x1", gap, {2, 3, 5, 5});
  nn::AdaptiveAvgPool2d aap({3, 2});
  c.module("AdaptiveAvgPool2d", "out 3x2 from 5x7", aap, {2, 3, 5, 7});
  nn::Flatten flatten;
  c.module("Flatten", "", flatten, {2, 3, 2, 2});
  nn::LogSoftmax log_softmax(1);
  c.module("LogSoftmax", "dim 1", log_softmax, {4, 5});
  nn::Softmax softmax(1);
  c.module("Softmax", "dim 1", softmax, {4, 5});

  // Dropout: a fixed mask per evaluation (same seed every call) so the function is fixed.
  c.function("Dropout", "p=0.3 train",
             [](const std::vector<tg::Tensor>& in) {
               nn::Dropout dropout(0.3, 5);
               return dropout.forward(in[0]);
             },
             {tg::randn({4, 6}, c.gen(), tg::kFloat64).requires_grad_()});

  tg::Tensor target = tg::from_vector(std::vector<std::int64_t>{1, 0, 4, 2}, {4});
  for (auto [name, reduction] :
       {std::pair{"mean", F::Reduction::Mean}, std::pair{"sum", F::Reduction::Sum},
        std::pair{"none", F::Reduction::None}}) {
    c.function("cross_entropy", std::string("reduction=") + name,
               [&, reduction = reduction](const std::vector<tg::Tensor>& in) {
                 return F::cross_entropy(in[0], target, reduction);
               },
               {tg::randn({4, 5}, c.gen(), tg::kFloat64).requires_grad_()});
  }
  c.function("nll_loss", "reduction=mean",
             [&](const std::vector<tg::Tensor>& in) {
               return F::nll_loss(F::log_softmax(in[0], 1), target);
             },
             {tg::randn({4, 5}, c.gen(), tg::kFloat64).requires_grad_()});
  c.function("mse_loss", "reduction=mean",
             [](const std::vector<tg::Tensor>& in) { return F::mse_loss(in[0], in[1]); },
             {tg::randn({3, 4}, c.gen(), tg::kFloat64).requires_grad_(),
              tg::randn({3, 4}, c.gen(), tg::kFloat64).requires_grad_()});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Checker c(argc > 1 ? argv[1] : "");
    check_conv2d(c);
    check_batchnorm2d(c);
    check_others(c);
    return c.print() == 0 ? 0 : 1;
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "gradcheck_layers: %s\n", e.what());
    return 2;
  }
}
