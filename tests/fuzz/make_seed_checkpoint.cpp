// Writes the seed training checkpoints of the checkpoint fuzz target: the state of the network,
// optimizer and scheduler that fuzz_checkpoint.cpp loads into, after a few steps, so the
// momentum buffers and scheduler counters are real.
//   make_seed_checkpoint <out.ckpt>
#include <cstdio>
#include <memory>

#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/models.hpp"
#include "tapegrad/optim/checkpoint.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/sgd.hpp"

namespace tg = tapegrad;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out.ckpt>\n", argv[0]);
    return 2;
  }
  tg::Generator gen(0);
  auto model = tg::nn::models::mnist_cnn(gen);
  tg::optim::SGD opt(model->parameters(), tg::optim::SGDOptions(0.05).momentum(0.9));
  tg::optim::OneCycleLR sched(opt, tg::optim::OneCycleLROptions(0.1, 100));
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    tg::Tensor x = tg::randn({2, 1, 28, 28}, gen);
    tg::Tensor y = model->forward(x);
    tg::Tensor loss = (y * y).sum();
    loss.backward();
    opt.step();
    sched.step();
  }
  tg::optim::save_training_checkpoint(argv[1], *model, opt, &sched, {1, 2, {{"note", "seed"}}});
  return 0;
}
