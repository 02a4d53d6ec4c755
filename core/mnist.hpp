// MNIST-format datasets (MNIST, Fashion-MNIST, and any directory laid out like them):
//   <root>/train-images-idx3-ubyte[.gz]  (N, rows, cols) uint8
//   <root>/train-labels-idx1-ubyte[.gz]  (N) uint8 in 0..9
//   <root>/t10k-images-idx3-ubyte[.gz], <root>/t10k-labels-idx1-ubyte[.gz]  (the test split)
// Images stay uint8 in memory (47 MB for the 60,000 training images); batches are converted to
// float32 and normalised as torchvision's ToTensor + Normalize do, bit for bit:
//   x = (float(pixel) / 255 - mean) / std      (float32 arithmetic)
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/dataset.hpp"

namespace tapegrad::data {

enum class Split { Train, Test };

/// Normalisation of an MNIST-format dataset; defaults are MNIST's training-set statistics.
///   tg::data::MNIST fashion(dir, tg::data::Split::Train, tg::data::MNISTOptions::fashion_mnist());
class MNISTOptions {
 public:
  /// MNIST: mean 0.1307, std 0.3081.
  static MNISTOptions mnist() { return MNISTOptions(); }
  /// Fashion-MNIST: mean 0.2860, std 0.3530.
  static MNISTOptions fashion_mnist() { return MNISTOptions().mean(0.2860).std(0.3530); }

  MNISTOptions& mean(double v) {
    mean_ = v;
    return *this;
  }
  MNISTOptions& std(double v) {
    std_ = v;
    return *this;
  }
  double mean() const { return mean_; }
  double std() const { return std_; }

 private:
  double mean_ = 0.1307;
  double std_ = 0.3081;
};

/// One split of an MNIST-format directory, loaded and checked up front.
///   tg::data::MNIST train("data/mnist", tg::data::Split::Train);
///   tg::data::Batch b = train.get_batch(indices);  // images (B, 1, 28, 28), labels (B)
class MNIST : public Dataset {
 public:
  /// Reads and validates the split's two files (raw or .gz); a tapegrad::Error names the missing
  /// or inconsistent file (image and label counts must agree, labels must be 0..9).
  MNIST(const std::string& root, Split split, MNISTOptions options = {});

  std::int64_t size() const override { return size_; }
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  const MNISTOptions& options() const { return options_; }

  /// All images, (size, rows, cols) row-major, as stored.
  std::span<const std::uint8_t> images() const { return images_; }
  /// All labels, in 0..9.
  std::span<const std::uint8_t> labels() const { return labels_; }

  /// images (B, 1, rows, cols) float32 normalised, labels (B) int64; converted in parallel.
  void get_batch_into(std::span<const std::int64_t> indices, Batch& out) const override;
  using Dataset::get_batch;

 private:
  MNISTOptions options_;
  std::int64_t size_ = 0, rows_ = 0, cols_ = 0;
  std::vector<std::uint8_t> images_;
  std::vector<std::uint8_t> labels_;
  std::array<float, 256> lut_{};  // normalised value of each pixel byte
};

}  // namespace tapegrad::data
