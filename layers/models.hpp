// Ready-made models for 28x28 single-channel images (MNIST, Fashion-MNIST, KMNIST).
//   auto net = tg::nn::models::mnist_cnn(gen);
#pragma once

#include <memory>
#include <string>

#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/sequential.hpp"

namespace tapegrad::nn::models {

/// Conv(1->16,3,p1)-BN-ReLU-MaxPool2 -> Conv(16->32,3,p1)-BN-ReLU-MaxPool2 -> Flatten ->
/// Linear(32*7*7 -> 10).
std::shared_ptr<Sequential> mnist_cnn(Generator& gen);

/// LeNet-5 with BatchNorm after each convolution: Conv(1->6,5,p2)-BN-ReLU-MaxPool2 ->
/// Conv(6->16,5)-BN-ReLU-MaxPool2 -> Flatten -> Linear(400->120)-ReLU-Linear(120->84)-ReLU-
/// Linear(84->10).
std::shared_ptr<Sequential> lenet5_bn(Generator& gen);

/// The model named "mnist-cnn" (also "default") or "lenet5-bn"; a tapegrad::Error otherwise.
std::shared_ptr<Sequential> by_name(const std::string& name, Generator& gen);

}  // namespace tapegrad::nn::models
