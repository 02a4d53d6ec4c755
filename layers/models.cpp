#include "tapegrad/layers/models.hpp"

#include "tapegrad/layers/batchnorm2d.hpp"
#include "tapegrad/layers/conv2d.hpp"
#include "tapegrad/layers/flatten.hpp"
#include "tapegrad/layers/linear.hpp"
#include "tapegrad/layers/max_pool2d.hpp"
#include "tapegrad/layers/relu.hpp"

namespace tapegrad::nn::models {

std::shared_ptr<Sequential> mnist_cnn(Generator& gen) {
  return std::make_shared<Sequential>(Sequential{
      Conv2d(Conv2dOptions(1, 16, 3).padding(1), gen), BatchNorm2d(BatchNorm2dOptions(16)), ReLU(),
      MaxPool2d(MaxPool2dOptions(2)), Conv2d(Conv2dOptions(16, 32, 3).padding(1), gen),
      BatchNorm2d(BatchNorm2dOptions(32)), ReLU(), MaxPool2d(MaxPool2dOptions(2)), Flatten(),
      Linear(LinearOptions(32 * 7 * 7, 10), gen)});
}

std::shared_ptr<Sequential> lenet5_bn(Generator& gen) {
  return std::make_shared<Sequential>(
      Sequential{Conv2d(Conv2dOptions(1, 6, 5).padding(2), gen), BatchNorm2d(BatchNorm2dOptions(6)),
                 ReLU(), MaxPool2d(MaxPool2dOptions(2)), Conv2d(Conv2dOptions(6, 16, 5), gen),
                 BatchNorm2d(BatchNorm2dOptions(16)), ReLU(), MaxPool2d(MaxPool2dOptions(2)),
                 Flatten(), Linear(LinearOptions(16 * 5 * 5, 120), gen), ReLU(),
                 Linear(LinearOptions(120, 84), gen), ReLU(), Linear(LinearOptions(84, 10), gen)});
}

std::shared_ptr<Sequential> by_name(const std::string& name, Generator& gen) {
  if (name == "mnist-cnn" || name == "default") return mnist_cnn(gen);
  if (name == "lenet5-bn") return lenet5_bn(gen);
  fail("models::by_name: expected 'mnist-cnn' (or 'default') or 'lenet5-bn', got '{}'", name);
}

}  // namespace tapegrad::nn::models
