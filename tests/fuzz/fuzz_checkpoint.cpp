// libFuzzer target: tapegrad::optim::load_training_checkpoint on arbitrary bytes, into the
// models::mnist_cnn network with SGD (momentum) and OneCycleLR, as train_mnist resumes. A
// tapegrad::Error is the expected answer to bad input; anything else (a crash, a sanitizer
// report, std::bad_alloc or another exception escaping) is a finding. A failed load must leave
// model and optimizer as they were (all or nothing), which the target checks too.
#include <memory>

#include "fuzz_input_file.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/models.hpp"
#include "tapegrad/optim/checkpoint.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/sgd.hpp"

namespace {

namespace tg = tapegrad;

struct Run {
  std::shared_ptr<tg::nn::Sequential> model;
  std::unique_ptr<tg::optim::SGD> opt;
  std::unique_ptr<tg::optim::OneCycleLR> sched;

  Run() {
    tg::Generator gen(0);
    model = tg::nn::models::mnist_cnn(gen);
    opt = std::make_unique<tg::optim::SGD>(model->parameters(),
                                           tg::optim::SGDOptions(0.05).momentum(0.9));
    sched = std::make_unique<tg::optim::OneCycleLR>(*opt, tg::optim::OneCycleLROptions(0.1, 100));
  }
};

std::vector<std::vector<double>> values(const tg::NamedTensors& state) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, t] : state) out.push_back(t.to_vector<double>());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Run run;  // one network per process: building it per input would dominate the time
  const std::string& path = tapegrad::fuzz::write_input_file(data, size, ".ckpt");
  const auto model_before = values(run.model->state_dict());
  try {
    tg::optim::load_training_checkpoint(path, *run.model, *run.opt, run.sched.get());
    run = Run();  // loaded: start the next input from the same state as always
  } catch (const tg::Error&) {
    if (values(run.model->state_dict()) != model_before) __builtin_trap();  // not all or nothing
  }
  return 0;
}
