#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;
using tg::data::MNIST;
using tg::data::Split;
using tg::testing::expect_error;
using tg::testing::TempDir;

namespace {

// A tiny MNIST-format split: n images of rows x cols with pixel (i, p) = (i * 31 + p * 7) % 256,
// labels i % 10.
void write_split(const TempDir& dir, const std::string& prefix, std::int64_t n, std::int64_t rows,
                 std::int64_t cols, const std::string& suffix = "") {
  tg::IdxArray images{{n, rows, cols}, {}}, labels{{n}, {}};
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < rows * cols; ++p)
      images.data.push_back(static_cast<std::uint8_t>((i * 31 + p * 7) % 256));
    labels.data.push_back(static_cast<std::uint8_t>(i % 10));
  }
  tg::write_idx(dir.file(prefix + "-images-idx3-ubyte" + suffix), images);
  tg::write_idx(dir.file(prefix + "-labels-idx1-ubyte" + suffix), labels);
}

float normalised(int pixel, float mean, float std) {
  return (static_cast<float>(pixel) / 255.0f - mean) / std;
}

}  // namespace

TEST(MNIST, LoadsBothSplitsRawAndGzip) {
  TempDir dir;
  write_split(dir, "train", 12, 4, 3);
  write_split(dir, "t10k", 5, 4, 3, ".gz");
  MNIST train(dir.path().string(), Split::Train);
  MNIST test(dir.path().string(), Split::Test);
  EXPECT_EQ(train.size(), 12);
  EXPECT_EQ(test.size(), 5);
  EXPECT_EQ(train.rows(), 4);
  EXPECT_EQ(train.cols(), 3);
  EXPECT_EQ(train.images().size(), 12u * 12u);
  EXPECT_EQ(train.images()[13], (1 * 31 + 1 * 7) % 256);
  EXPECT_EQ(test.labels()[4], 4);
}

TEST(MNIST, GetBatchNormalisesLikeTorchvision) {
  TempDir dir;
  write_split(dir, "train", 12, 4, 3);
  MNIST train(dir.path().string(), Split::Train);
  const std::vector<std::int64_t> idx = {11, 0, 11, 5};
  const tg::data::Batch b = train.get_batch(idx);
  ASSERT_EQ(b.images.shape(), (tg::Shape{4, 1, 4, 3}));
  ASSERT_EQ(b.images.dtype(), tg::kFloat32);
  ASSERT_EQ(b.labels.shape(), (tg::Shape{4}));
  ASSERT_EQ(b.labels.dtype(), tg::kInt64);
  EXPECT_EQ(b.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1, 5}));
  const float* x = b.images.data<float>();
  for (std::size_t k = 0; k < idx.size(); ++k)
    for (int p = 0; p < 12; ++p)
      EXPECT_EQ(x[k * 12 + p],
                normalised(static_cast<int>((idx[k] * 31 + p * 7) % 256), 0.1307f, 0.3081f));
}

TEST(MNIST, PixelValuesMatchPyTorchBitwise) {
  // torchvision ToTensor + Normalize((0.1307,), (0.3081,)) on pixels 0, 1, 128, 255 (PyTorch 1.13).
  TempDir dir;
  tg::write_idx(dir.file("train-images-idx3-ubyte"), {{1, 2, 2}, {0, 1, 128, 255}});
  tg::write_idx(dir.file("train-labels-idx1-ubyte"), {{1}, {3}});
  MNIST train(dir.path().string(), Split::Train);
  const std::vector<std::int64_t> idx = {0};
  EXPECT_EQ(train.get_batch(idx).images.to_vector<float>(),
            (std::vector<float>{-0x1.b264e2p-2f, -0x1.a55c4p-2f, 0x1.347af4p+0f, 0x1.69267ap+1f}));
}

TEST(MNIST, FashionOptions) {
  TempDir dir;
  write_split(dir, "train", 3, 2, 2);
  MNIST train(dir.path().string(), Split::Train, tg::data::MNISTOptions::fashion_mnist());
  EXPECT_EQ(train.options().mean(), 0.2860);
  EXPECT_EQ(train.options().std(), 0.3530);
  const std::vector<std::int64_t> idx = {2};
  EXPECT_EQ(train.get_batch(idx).images.to_vector<float>()[1],
            normalised((2 * 31 + 7) % 256, 0.2860f, 0.3530f));
  expect_error([&] { MNIST(dir.path().string(), Split::Train, tg::data::MNISTOptions().std(0)); },
               {"MNIST", "positive std"});
}

TEST(MNIST, SameResultAtOneAndTwoThreads) {
  TempDir dir;
  write_split(dir, "train", 50, 5, 5);
  MNIST train(dir.path().string(), Split::Train);
  std::vector<std::int64_t> idx;
  for (std::int64_t i = 49; i >= 0; --i) idx.push_back(i);
  tg::set_num_threads(1);
  const std::vector<float> one = train.get_batch(idx).images.to_vector<float>();
  tg::set_num_threads(2);
  const std::vector<float> two = train.get_batch(idx).images.to_vector<float>();
  tg::set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(MNIST, GetBatchIntoReusesOnlyUnsharedBuffers) {
  TempDir dir;
  write_split(dir, "train", 10, 2, 2);
  MNIST train(dir.path().string(), Split::Train);
  const std::vector<std::int64_t> a = {1, 2}, b = {3, 4};
  tg::data::Batch out;
  train.get_batch_into(a, out);
  const void* first = out.images.raw_data();
  train.get_batch_into(b, out);
  EXPECT_EQ(out.images.raw_data(), first);  // refilled in place
  EXPECT_EQ(out.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 4}));

  tg::Tensor kept = out.images;  // someone still holds the batch
  const std::vector<float> kept_values = kept.to_vector<float>();
  train.get_batch_into(a, out);
  EXPECT_NE(out.images.raw_data(), kept.raw_data());
  EXPECT_EQ(kept.to_vector<float>(), kept_values);

  tg::Tensor view = tg::alias_with_shape(out.images, {2, 4});  // a view shares the storage
  const std::vector<float> view_values = view.to_vector<float>();
  train.get_batch_into(b, out);
  EXPECT_EQ(view.to_vector<float>(), view_values);
}

TEST(MNIST, BadIndices) {
  TempDir dir;
  write_split(dir, "train", 4, 2, 2);
  MNIST train(dir.path().string(), Split::Train);
  const std::vector<std::int64_t> past = {0, 4}, negative = {-1};
  expect_error([&] { train.get_batch(past); },
               {"MNIST::get_batch", "[0, 4)", "got 4 at position 1"});
  expect_error([&] { train.get_batch(negative); }, {"got -1"});
}

TEST(MNIST, MissingDirectoryOrFiles) {
  TempDir dir;
  expect_error([&] { MNIST(dir.file("absent"), Split::Train); }, {"MNIST", "absent"});
  expect_error([&] { MNIST(dir.path().string(), Split::Train); },
               {"train-images-idx3-ubyte or train-images-idx3-ubyte.gz", "get-data.sh"});
  write_split(dir, "train", 3, 2, 2);
  std::filesystem::remove(dir.file("train-labels-idx1-ubyte"));
  expect_error([&] { MNIST(dir.path().string(), Split::Train); }, {"train-labels-idx1-ubyte"});
  expect_error([&] { MNIST(dir.path().string(), Split::Test); }, {"t10k-images-idx3-ubyte"});
}

TEST(MNIST, InconsistentFiles) {
  TempDir dir;
  const std::string root = dir.path().string();
  const std::string images = dir.file("train-images-idx3-ubyte");
  const std::string labels = dir.file("train-labels-idx1-ubyte");
  tg::write_idx(images, {{3, 2, 2}, std::vector<std::uint8_t>(12, 0)});
  tg::write_idx(labels, {{4}, {0, 1, 2, 3}});
  expect_error([&] { MNIST(root, Split::Train); }, {"3 images", "4 labels", images, labels});

  tg::write_idx(labels, {{3}, {0, 10, 2}});
  expect_error([&] { MNIST(root, Split::Train); }, {labels, "0..9", "got 10 at index 1"});

  tg::write_idx(images, {{3, 4}, std::vector<std::uint8_t>(12, 0)});
  expect_error([&] { MNIST(root, Split::Train); }, {images, "[N, rows, cols]", "[3, 4]"});

  tg::write_idx(images, {{0, 2, 2}, {}});
  tg::write_idx(labels, {{0}, {}});
  expect_error([&] { MNIST(root, Split::Train); }, {images, "at least one"});

  tg::testing::write_bytes(images, {0, 0, 8, 3, 0, 0, 0, 3});  // truncated header
  expect_error([&] { MNIST(root, Split::Train); }, {"read_idx", images, "truncated"});
}

TEST(MNIST, WorksWithDataLoader) {
  TempDir dir;
  write_split(dir, "train", 7, 2, 2);
  MNIST train(dir.path().string(), Split::Train);
  tg::data::DataLoader loader(train, tg::data::DataLoaderOptions(3).shuffle(true).seed(5));
  std::vector<std::int64_t> seen;
  for (const tg::data::Batch& b : loader) {
    ASSERT_EQ(b.images.size(1), 1);
    for (std::int64_t label : b.labels.to_vector<std::int64_t>()) seen.push_back(label);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(MNIST, RealFashionMnistWhenInstalled) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(root + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << root << " not installed (Debian package dataset-fashion-mnist)";
  MNIST train(root, Split::Train, tg::data::MNISTOptions::fashion_mnist());
  MNIST test(root, Split::Test, tg::data::MNISTOptions::fashion_mnist());
  ASSERT_EQ(train.size(), 60000);
  ASSERT_EQ(test.size(), 10000);
  EXPECT_EQ(train.rows(), 28);
  EXPECT_EQ(train.cols(), 28);
  const std::vector<std::uint8_t> first(train.labels().begin(), train.labels().begin() + 10);
  EXPECT_EQ(first, (std::vector<std::uint8_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  // The default normalisation constants are the training set's pixel statistics.
  double sum = 0, sum_sq = 0;
  for (std::uint8_t v : train.images()) {
    sum += v / 255.0;
    sum_sq += (v / 255.0) * (v / 255.0);
  }
  const double n = static_cast<double>(train.images().size());
  const double mean = sum / n, std = std::sqrt(sum_sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.2860, 5e-4);
  EXPECT_NEAR(std, 0.3530, 5e-4);
}
