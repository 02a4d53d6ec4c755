// A host program that embeds tapegrad: it routes tapegrad's log lines into its own spdlog sink,
// trains a small CNN on a synthetic task (is the bright bar in an 8x8 image horizontal or
// vertical?) and checks that it learned.
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main() {
  std::ostringstream host_log;
  tg::set_log_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(host_log));
  tg::set_log_level(spdlog::level::info);
  tg::set_num_threads(2);

  tg::Generator gen(7);
  const std::int64_t N = 64;
  auto make_batch = [&](tg::Tensor& x, tg::Tensor& y) {
    x = tg::randn({N, 1, 8, 8}, gen).mul_(0.1);
    y = tg::zeros({N}, tg::kInt64);
    float* px = x.data<float>();
    std::int64_t* py = y.data<std::int64_t>();
    for (std::int64_t n = 0; n < N; ++n) {
      const bool vertical = gen.bernoulli(0.5);
      const auto at = static_cast<std::int64_t>(gen.randint(8));
      for (std::int64_t k = 0; k < 8; ++k)
        px[n * 64 + (vertical ? k * 8 + at : at * 8 + k)] += 1.0f;
      py[n] = vertical ? 1 : 0;
    }
  };

  tg::nn::Sequential net{tg::nn::Conv2d(tg::nn::Conv2dOptions(1, 4, 3).padding(1)),
                         tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(4)),
                         tg::nn::ReLU(),
                         tg::nn::MaxPool2d(tg::nn::MaxPool2dOptions(2)),
                         tg::nn::Flatten(),
                         tg::nn::Linear(tg::nn::LinearOptions(4 * 4 * 4, 2))};
  tg::optim::SGD opt(net.parameters(), tg::optim::SGDOptions(0.1).momentum(0.9));

  tg::Tensor x, y;
  for (int step = 0; step < 60; ++step) {
    make_batch(x, y);
    opt.zero_grad();
    tg::Tensor loss = tg::nn::functional::cross_entropy(net.forward(x), y);
    loss.backward();
    opt.step();
    if (step % 20 == 0) tg::logger()->info("step {} loss {:.4f}", step, loss.item());
  }

  net.eval();
  make_batch(x, y);
  tg::NoGradGuard no_grad;
  const tg::Tensor logits = net.forward(x);
  std::int64_t correct = 0;
  for (std::int64_t n = 0; n < N; ++n)
    correct +=
        (logits.at<float>({n, 1}) > logits.at<float>({n, 0})) == (y.at<std::int64_t>({n}) == 1);
  const double accuracy = static_cast<double>(correct) / static_cast<double>(N);

  const std::string captured = host_log.str();
  std::cout << "host log captured " << std::count(captured.begin(), captured.end(), '\n')
            << " tapegrad lines\n";
  std::cout << "embedded tapegrad model: accuracy " << accuracy << " on a held-out batch\n";
  return accuracy >= 0.9 && !captured.empty() ? 0 : 1;
}
