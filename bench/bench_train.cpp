// End-to-end benchmark: one training epoch of the default MNIST model (models::mnist_cnn) on
// Fashion-MNIST, batch 64, SGD with momentum. Prints images/s, epoch seconds, peak RSS, and the
// heap allocations per training step once warm (operator new calls and buffer-cache misses).
//
//   bench_train --threads=1 --data=/usr/share/datasets/fashion-mnist [--limit=60000]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <tapegrad/tapegrad.hpp>

#include "alloc_counter.hpp"

namespace tg = tapegrad;

// Peak resident memory of this process in MiB: VmHWM belongs to the address space, so unlike
// getrusage's ru_maxrss it does not inherit the peak of a parent that forked and exec'd us.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  double kib = 0;
  while (status >> key) {
    if (key == "VmHWM:") {
      status >> kib;
      break;
    }
  }
  return kib / 1024.0;
}

int main(int argc, char** argv) {
  int threads = 0;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::int64_t limit = 60000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0)
      threads = std::stoi(a.substr(10));
    else if (a.rfind("--data=", 0) == 0)
      data = a.substr(7);
    else if (a.rfind("--limit=", 0) == 0)
      limit = std::stoll(a.substr(8));
    else {
      std::fprintf(stderr, "usage: bench_train [--threads=N] [--data=DIR] [--limit=N]\n");
      return 2;
    }
  }
  try {
    if (threads > 0) tg::set_num_threads(threads);
    tg::data::MNIST full(data, tg::data::Split::Train, tg::data::MNISTOptions::fashion_mnist());
    tg::data::Subset train(full, std::min(limit, full.size()));
    tg::data::DataLoader loader(
        train, tg::data::DataLoaderOptions(64).shuffle(true).drop_last(true).seed(0));
    tg::Generator gen(0);
    auto model = tg::nn::models::mnist_cnn(gen);
    tg::optim::SGD opt(model->parameters(), tg::optim::SGDOptions(0.05).momentum(0.9));
    model->train();

    const std::int64_t warm = std::min<std::int64_t>(20, loader.num_batches() / 2);
    std::uint64_t news_at_warm = 0, sys_at_warm = 0;
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
      if (b == warm) {
        news_at_warm = bench::heap_allocations();
        sys_at_warm = tg::allocator_stats().system_allocations;
      }
      const tg::data::Batch& batch = loader.batch(b);
      opt.zero_grad();
      tg::Tensor loss =
          tg::nn::functional::cross_entropy(model->forward(batch.images), batch.labels);
      loss.backward();
      opt.step();
      loss_sum += loss.item();
    }
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double steps_after_warm = static_cast<double>(loader.num_batches() - warm);
    std::printf(
        "images_per_s=%.1f epoch_s=%.3f peak_rss_mib=%.1f mean_loss=%.4f "
        "operator_new_per_step=%.1f buffer_system_allocs_per_step=%.3f threads=%d\n",
        static_cast<double>(loader.num_batches() * 64) / sec, sec, peak_rss_mib(),
        loss_sum / static_cast<double>(loader.num_batches()),
        static_cast<double>(bench::heap_allocations() - news_at_warm) / steps_after_warm,
        static_cast<double>(tg::allocator_stats().system_allocations - sys_at_warm) /
            steps_after_warm,
        tg::get_num_threads());
    return 0;
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
