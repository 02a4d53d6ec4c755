// train_mnist: trains a small CNN on MNIST-format data (MNIST digits, Fashion-MNIST, KMNIST).
//
//   train_mnist --dataset mnist --data data/mnist --epochs 5
//   train_mnist --dataset fashion-mnist --data /usr/share/datasets/fashion-mnist --save run.ckpt
//   train_mnist --resume run.ckpt --epochs 8          (continues exactly where run.ckpt stopped)
//
// On a terminal it draws a live progress bar; otherwise (CI, files) it logs plain lines. After
// each epoch it evaluates on the test split in eval mode, appends a row to --metrics, and, with
// --save, writes a training checkpoint atomically. A NaN loss stops training with a clear
// message, keeping the last good checkpoint; --detect-anomaly names the op that made it.
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

namespace {

struct Config {
  std::string dataset = "mnist";
  std::string data_dir;
  std::string model = "default";
  int epochs = 5;
  int batch_size = 64;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::string optimizer = "sgd";
  std::string scheduler = "onecycle";
  int threads = 0;
  std::uint64_t seed = 0;
  std::string save_path;
  std::string resume_path;
  std::string metrics_path;
  std::string log_level = "info";
  std::int64_t limit_train = 0;  // use only the first N training images (0: all)
  int augment_shift = -1;        // random shift in pixels; -1: the dataset's default
  int stop_after_epoch = 0;      // end this run after that epoch (0: run to --epochs)
  bool detect_anomaly = false;   // stop at the first op that makes a NaN or an Inf
};

std::unique_ptr<tg::optim::Optimizer> make_optimizer(const Config& c,
                                                     const std::vector<tg::Tensor>& params) {
  if (c.optimizer == "sgd")
    return std::make_unique<tg::optim::SGD>(
        params, tg::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  if (c.optimizer == "adam")
    return std::make_unique<tg::optim::Adam>(
        params, tg::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  return std::make_unique<tg::optim::AdamW>(
      params,
      tg::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay > 0 ? c.weight_decay : 1e-2));
}

std::unique_ptr<tg::optim::LRScheduler> make_scheduler(const Config& c, tg::optim::Optimizer& opt,
                                                       std::int64_t steps_per_epoch) {
  const std::int64_t total = steps_per_epoch * c.epochs;
  if (c.scheduler == "step")
    return std::make_unique<tg::optim::StepLR>(opt, steps_per_epoch * std::max(1, c.epochs / 3),
                                               0.1);
  if (c.scheduler == "cosine") return std::make_unique<tg::optim::CosineAnnealingLR>(opt, total);
  if (c.scheduler == "onecycle")
    return std::make_unique<tg::optim::OneCycleLR>(opt, tg::optim::OneCycleLROptions(c.lr, total));
  return nullptr;  // "none"
}

// One line that redraws itself on a terminal, or a log line every ~10% of an epoch otherwise.
class Progress {
 public:
  Progress(bool tty, std::int64_t batches) : tty_(tty), batches_(batches) {}

  void update(int epoch, std::int64_t batch, double loss, double acc, double images_per_s,
              double eta_s) {
    if (tty_) {
      const int width = 30;
      const auto filled = static_cast<int>(width * (batch + 1) / batches_);
      std::fprintf(stderr,
                   "\repoch %d [%.*s%*s] %lld/%lld loss %.4f acc %5.2f%% %6.0f img/s ETA %3.0fs ",
                   epoch, filled, "==============================", width - filled, "",
                   static_cast<long long>(batch + 1), static_cast<long long>(batches_), loss,
                   100 * acc, images_per_s, eta_s);
      std::fflush(stderr);
    } else if (const auto now = std::chrono::steady_clock::now();
               now - last_line_ >= std::chrono::seconds(5) || batch + 1 == batches_) {
      last_line_ = now;  // plain lines at most every 5 s, and at the end of each epoch
      tg::logger()->info("epoch {} batch {}/{} loss {:.4f} acc {:.2f}% {:.0f} img/s", epoch,
                         batch + 1, batches_, loss, 100 * acc, images_per_s);
    }
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  std::int64_t batches_;
  std::chrono::steady_clock::time_point last_line_ = std::chrono::steady_clock::now();
};

// Number of rows of logits (N, 10) whose largest entry is at the label.
std::int64_t count_correct(const tg::Tensor& logits, const tg::Tensor& labels) {
  const std::int64_t N = logits.size(0), C = logits.size(1);
  const float* p = logits.data<float>();
  const std::int64_t* y = labels.data<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    const float* row = p + n * C;
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < C; ++k)
      if (row[k] > row[best]) best = k;
    correct += best == y[n];
  }
  return correct;
}

struct EvalResult {
  double loss = 0, accuracy = 0;
};

EvalResult evaluate(nn::Module& model, const tg::data::Dataset& test) {
  model.eval();
  tg::NoGradGuard no_grad;
  tg::data::DataLoader loader(test, tg::data::DataLoaderOptions(1000));
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0;
  for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
    const tg::data::Batch& batch = loader.batch(b);
    tg::Tensor logits = model.forward(batch.images);
    tg::Tensor loss =
        tg::nn::functional::cross_entropy(logits, batch.labels, tg::nn::functional::Reduction::Sum);
    loss_sum += loss.item();
    correct += count_correct(logits, batch.labels);
    seen += batch.labels.numel();
  }
  model.train();
  return {loss_sum / static_cast<double>(seen),
          static_cast<double>(correct) / static_cast<double>(seen)};
}

// Creates the directory a file will be written into, so a first save does not fail late.
void make_parent_dir(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
}

int run(const Config& c) {
  tg::set_log_level(c.log_level);
  if (!c.save_path.empty()) make_parent_dir(c.save_path);
  if (!c.metrics_path.empty()) make_parent_dir(c.metrics_path);
  if (c.threads > 0) tg::set_num_threads(c.threads);
  const bool tty = isatty(fileno(stderr)) != 0;

  const tg::data::MNISTOptions data_options = c.dataset == "fashion-mnist"
                                                  ? tg::data::MNISTOptions::fashion_mnist()
                                                  : tg::data::MNISTOptions::mnist();
  tg::data::MNIST full_train(c.data_dir, tg::data::Split::Train, data_options);
  tg::data::MNIST test(c.data_dir, tg::data::Split::Test, data_options);
  tg::data::Subset train(full_train, c.limit_train > 0 ? std::min(c.limit_train, full_train.size())
                                                       : full_train.size());
  tg::logger()->info("{}: {} training and {} test images from {}", c.dataset, train.size(),
                     test.size(), c.data_dir);
  // Random shifts of up to 2 pixels help most on the 8,000-image MNIST subset; Fashion-MNIST's
  // 60,000 centred garments gain little from them.
  const int shift = c.augment_shift >= 0 ? c.augment_shift : (c.dataset == "mnist" ? 2 : 0);
  const double background = (0.0 - data_options.mean()) / data_options.std();

  tg::Generator init_gen(c.seed);
  std::shared_ptr<nn::Sequential> model = nn::models::by_name(c.model, init_gen);
  tg::data::DataLoader loader(train, tg::data::DataLoaderOptions()
                                         .batch_size(c.batch_size)
                                         .shuffle(true)
                                         .drop_last(true)
                                         .seed(c.seed));
  auto optimizer = make_optimizer(c, model->parameters());
  auto scheduler = make_scheduler(c, *optimizer, loader.num_batches());

  int start_epoch = 1;
  std::int64_t step = 0;
  if (!c.resume_path.empty()) {
    const tg::optim::TrainingState state =
        tg::optim::load_training_checkpoint(c.resume_path, *model, *optimizer, scheduler.get());
    start_epoch = static_cast<int>(state.epoch) + 1;
    step = state.step;
    tg::logger()->info("resumed from {} after epoch {} (step {})", c.resume_path, state.epoch,
                       step);
  }

  std::ofstream metrics;
  if (!c.metrics_path.empty()) {
    const bool fresh = !std::filesystem::exists(c.metrics_path) || c.resume_path.empty();
    metrics.open(c.metrics_path, fresh ? std::ios::trunc : std::ios::app);
    if (!metrics)
      throw tg::Error("train_mnist: cannot write the metrics file '" + c.metrics_path + "'");
    if (fresh)
      metrics << "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds\n";
  }

  using clock = std::chrono::steady_clock;
  const auto run_start = clock::now();
  double best_acc = 0, last_acc = 0, train_images_per_s = 0;
  std::int64_t images_total = 0;
  double train_seconds_total = 0;
  for (int epoch = start_epoch; epoch <= c.epochs; ++epoch) {
    model->train();
    loader.set_epoch(static_cast<std::uint64_t>(epoch));
    Progress progress(tty, loader.num_batches());
    const auto epoch_start = clock::now();
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0;
    for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
      const tg::data::Batch& batch = loader.batch(b);
      if (shift > 0) {  // the loader refills this batch next epoch, so shifting in place is safe
        tg::Tensor images = batch.images;  // a handle on the batch's storage
        tg::data::random_shift_(
            images, shift, background,
            tg::data::epoch_seed(c.seed, epoch) ^ tg::splitmix64(static_cast<std::uint64_t>(b)));
      }
      optimizer->zero_grad();
      tg::Tensor logits = model->forward(batch.images);
      tg::Tensor loss = tg::nn::functional::cross_entropy(logits, batch.labels);
      const double loss_value = loss.item();
      if (!std::isfinite(loss_value)) {
        progress.finish();
        std::fprintf(stderr,
                     "train_mnist: the loss became %s at epoch %d, batch %lld (lr %g); training "
                     "stopped.%s\n",
                     std::isnan(loss_value) ? "NaN" : "infinite", epoch,
                     static_cast<long long>(b + 1), optimizer->lr(),
                     c.save_path.empty()
                         ? ""
                         : (" The last good checkpoint is kept in " + c.save_path).c_str());
        return 3;
      }
      loss.backward();
      optimizer->step();
      if (scheduler) scheduler->step();
      ++step;
      const std::int64_t n = batch.labels.numel();
      loss_sum += loss_value * static_cast<double>(n);
      correct += count_correct(logits, batch.labels);
      seen += n;
      const double elapsed = std::chrono::duration<double>(clock::now() - epoch_start).count();
      progress.update(
          epoch, b, loss_sum / static_cast<double>(seen),
          static_cast<double>(correct) / static_cast<double>(seen),
          static_cast<double>(seen) / elapsed,
          elapsed / static_cast<double>(b + 1) * static_cast<double>(loader.num_batches() - b - 1));
    }
    progress.finish();
    const double train_seconds = std::chrono::duration<double>(clock::now() - epoch_start).count();
    train_images_per_s = static_cast<double>(seen) / train_seconds;
    images_total += seen;
    train_seconds_total += train_seconds;
    const EvalResult eval = evaluate(*model, test);
    const double seconds = std::chrono::duration<double>(clock::now() - epoch_start).count();
    best_acc = std::max(best_acc, eval.accuracy);
    last_acc = eval.accuracy;
    const double train_loss = loss_sum / static_cast<double>(seen);
    const double train_acc = static_cast<double>(correct) / static_cast<double>(seen);
    std::printf(
        "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.1fs\n",
        epoch, c.epochs, train_loss, 100 * train_acc, eval.loss, 100 * eval.accuracy,
        train_images_per_s, seconds);
    std::fflush(stdout);
    if (metrics.is_open()) {
      metrics << fmt::format("{},{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.1f},{:.3f}\n", epoch,
                             step, optimizer->lr(), train_loss, train_acc, eval.loss, eval.accuracy,
                             train_images_per_s, seconds);
      metrics.flush();
    }
    if (!c.save_path.empty())
      tg::optim::save_training_checkpoint(c.save_path, *model, *optimizer, scheduler.get(),
                                          tg::optim::TrainingState{epoch, step, {}});
    if (epoch == c.stop_after_epoch && epoch < c.epochs) {
      tg::logger()->info("stopping after epoch {} as asked; --resume continues the {}-epoch run",
                         epoch, c.epochs);
      break;
    }
  }
  const double total = std::chrono::duration<double>(clock::now() - run_start).count();
  std::printf(
      "summary: dataset=%s model=%s epochs=%d test_acc=%.2f%% best_test_acc=%.2f%% "
      "train_images_per_s=%.0f total_seconds=%.1f threads=%d\n",
      c.dataset.c_str(), c.model.c_str(), c.epochs, 100 * last_acc, 100 * best_acc,
      train_seconds_total > 0 ? static_cast<double>(images_total) / train_seconds_total : 0.0,
      total, tg::get_num_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Train a small CNN on MNIST-format data with tapegrad."};
  app.option_defaults()->always_capture_default();
  app.add_option("--dataset", c.dataset,
                 "mnist | fashion-mnist (sets normalisation; any MNIST-format data works)")
      ->check(CLI::IsMember({"mnist", "fashion-mnist"}));
  app.add_option("--data", c.data_dir, "Directory with the four IDX files (raw or .gz)")
      ->required();
  app.add_option("--model", c.model, "default | lenet5-bn")
      ->check(CLI::IsMember({"default", "lenet5-bn"}));
  app.add_option("--epochs", c.epochs, "Number of epochs")->check(CLI::Range(1, 10000));
  app.add_option("--batch-size", c.batch_size, "Training batch size")->check(CLI::Range(2, 65536));
  app.add_option("--lr", c.lr, "Learning rate (peak rate for onecycle)")
      ->check(CLI::PositiveNumber);
  app.add_option("--momentum", c.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", c.weight_decay, "Weight decay")->check(CLI::NonNegativeNumber);
  app.add_option("--optimizer", c.optimizer, "sgd | adam | adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--scheduler", c.scheduler,
                 "onecycle | cosine | step | none (stepped every batch)")
      ->check(CLI::IsMember({"onecycle", "cosine", "step", "none"}));
  app.add_option("--threads", c.threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--seed", c.seed, "Seed for initialisation and shuffling");
  app.add_option("--save", c.save_path, "Write a training checkpoint here after every epoch");
  app.add_option("--resume", c.resume_path, "Resume from a training checkpoint")
      ->check(CLI::ExistingFile);
  app.add_option("--metrics", c.metrics_path, "Append per-epoch metrics to this CSV file");
  app.add_option("--log-level", c.log_level, "trace | debug | info | warn | error | off");
  app.add_option("--limit-train", c.limit_train, "Use only the first N training images (0: all)");
  app.add_option("--stop-after-epoch", c.stop_after_epoch,
                 "End this run after that epoch (the schedule still spans --epochs; resume later)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--augment-shift", c.augment_shift,
                 "Random shift of training images, in pixels (default: 2 for mnist, 0 otherwise)")
      ->check(CLI::Range(0, 8));
  app.add_flag("--detect-anomaly", c.detect_anomaly,
               "Stop at the first op whose output or gradient holds a NaN or an Inf, and name it "
               "(slower: every output and gradient is scanned)");
  CLI11_PARSE(app, argc, argv);

  auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  console->set_pattern("[%H:%M:%S] %v");
  tg::set_log_sink(console);
  tg::set_detect_anomaly(c.detect_anomaly);
  try {
    return run(c);
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "train_mnist: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // e.g. a directory that cannot be created
    std::fprintf(stderr, "train_mnist: %s\n", e.what());
    return 1;
  }
}
