// End-to-end training properties: resuming from a checkpoint continues bitwise exactly, and a
// run gives bitwise-identical losses and weights at 1 and 2 threads.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.hpp"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

namespace {

// 192 random 28x28 images whose label is the quadrant (and sign) of their brightest region.
class SyntheticDigits : public tg::data::Dataset {
 public:
  SyntheticDigits() {
    tg::Generator gen(11);
    images_ = tg::randn({192, 1, 28, 28}, gen);
    labels_.resize(192);
    float* p = images_.data<float>();
    for (std::int64_t i = 0; i < 192; ++i) {
      labels_[i] = static_cast<std::int64_t>(gen.randint(10));
      const std::int64_t r = (labels_[i] % 5) * 5, c = (labels_[i] / 5) * 14;
      for (std::int64_t y = r; y < r + 5; ++y)
        for (std::int64_t x = c; x < c + 10; ++x) p[i * 784 + y * 28 + x] += 2.0f;
    }
  }
  std::int64_t size() const override { return 192; }
  void get_batch_into(std::span<const std::int64_t> idx, tg::data::Batch& out) const override {
    const auto B = static_cast<std::int64_t>(idx.size());
    tg::data::reuse_or_allocate(out.images, {B, 1, 28, 28}, tg::kFloat32);
    tg::data::reuse_or_allocate(out.labels, {B}, tg::kInt64);
    for (std::int64_t b = 0; b < B; ++b) {
      std::copy_n(images_.data<float>() + idx[b] * 784, 784, out.images.data<float>() + b * 784);
      out.labels.data<std::int64_t>()[b] = labels_[idx[b]];
    }
  }

 private:
  tg::Tensor images_;
  std::vector<std::int64_t> labels_;
};

struct TrainingRun {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<tg::optim::SGD> opt;
  std::unique_ptr<tg::optim::OneCycleLR> sched;
  std::vector<double> losses;

  explicit TrainingRun(std::uint64_t seed, std::int64_t total_steps) {
    tg::Generator gen(seed);
    model = nn::models::mnist_cnn(gen);
    opt = std::make_unique<tg::optim::SGD>(model->parameters(),
                                           tg::optim::SGDOptions(0.05).momentum(0.9));
    sched = std::make_unique<tg::optim::OneCycleLR>(*opt,
                                                    tg::optim::OneCycleLROptions(0.1, total_steps));
  }

  void epoch(const tg::data::Dataset& data, std::int64_t e) {
    tg::data::DataLoader loader(data, tg::data::DataLoaderOptions(32).shuffle(true).seed(3));
    loader.set_epoch(e);
    model->train();
    for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
      const tg::data::Batch& batch = loader.batch(b);
      opt->zero_grad();
      tg::Tensor loss = nn::functional::cross_entropy(model->forward(batch.images), batch.labels);
      loss.backward();
      opt->step();
      sched->step();
      losses.push_back(loss.item());
    }
  }
};

void expect_bitwise_equal(const tg::NamedTensors& a, const tg::NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.to_vector<double>(), b[i].second.to_vector<double>()) << a[i].first;
  }
}

}  // namespace

TEST(TrainingCheckpoint, ResumeAfterAnEpochEndsBitwiseEqualToAnUninterruptedRun) {
  SyntheticDigits data;
  const std::int64_t steps = 2 * 6;
  TrainingRun straight(1, steps);
  straight.epoch(data, 1);
  straight.epoch(data, 2);

  const std::string path =
      (std::filesystem::temp_directory_path() / "tapegrad_resume.ckpt").string();
  {
    TrainingRun first(1, steps);
    first.epoch(data, 1);
    tg::optim::save_training_checkpoint(path, *first.model, *first.opt, first.sched.get(),
                                        {1, 6, {{"note", "epoch 1"}}});
  }
  TrainingRun resumed(99, steps);  // different initial weights: everything must come from the file
  const tg::optim::TrainingState state =
      tg::optim::load_training_checkpoint(path, *resumed.model, *resumed.opt, resumed.sched.get());
  EXPECT_EQ(state.epoch, 1);
  EXPECT_EQ(state.step, 6);
  EXPECT_EQ(state.extra.at("note"), "epoch 1");
  resumed.epoch(data, 2);

  EXPECT_EQ(std::vector<double>(straight.losses.begin() + 6, straight.losses.end()),
            resumed.losses);
  expect_bitwise_equal(straight.model->state_dict(), resumed.model->state_dict());
  expect_bitwise_equal(straight.opt->state_dict(), resumed.opt->state_dict());
  EXPECT_LT(straight.losses.back(), straight.losses.front());
  std::filesystem::remove(path);
}

TEST(TrainingCheckpoint, MismatchedModelIsAnErrorAndChangesNothing) {
  SyntheticDigits data;
  TrainingRun a(1, 6);
  a.epoch(data, 1);
  const std::string path =
      (std::filesystem::temp_directory_path() / "tapegrad_mismatch.ckpt").string();
  tg::optim::save_training_checkpoint(path, *a.model, *a.opt, a.sched.get(), {1, 6, {}});

  tg::Generator gen(5);
  auto other = nn::models::lenet5_bn(gen);
  tg::optim::SGD opt(other->parameters(), tg::optim::SGDOptions(0.05).momentum(0.9));
  tg::optim::OneCycleLR sched(opt, tg::optim::OneCycleLROptions(0.1, 6));
  const tg::NamedTensors before = other->state_dict();
  std::vector<std::vector<double>> values;
  for (const auto& [n, t] : before) values.push_back(t.to_vector<double>());
  try {
    tg::optim::load_training_checkpoint(path, *other, opt, &sched);
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing keys"), std::string::npos) << e.what();
  }
  const tg::NamedTensors after = other->state_dict();
  for (std::size_t i = 0; i < after.size(); ++i)
    EXPECT_EQ(after[i].second.to_vector<double>(), values[i]);
  EXPECT_THROW(tg::optim::load_training_checkpoint(path, *a.model, *a.opt, nullptr), tg::Error);
  std::filesystem::remove(path);
}

TEST(TrainingDeterminism, SameSeedGivesBitwiseIdenticalRunsAtOneAndTwoThreads) {
  SyntheticDigits data;
  std::vector<TrainingRun> runs;
  for (int threads : {1, 2, 1}) {
    tg::set_num_threads(threads);
    runs.emplace_back(4, 6);
    runs.back().epoch(data, 1);
  }
  tg::set_num_threads(0);
  EXPECT_EQ(runs[0].losses, runs[1].losses);
  EXPECT_EQ(runs[0].losses, runs[2].losses);
  expect_bitwise_equal(runs[0].model->state_dict(), runs[1].model->state_dict());
  expect_bitwise_equal(runs[0].model->state_dict(), runs[2].model->state_dict());
}
