#include "tapegrad/core/mnist.hpp"

#include <cmath>
#include <filesystem>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/idx.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad::data {
namespace {

// <root>/<stem> if present, else <root>/<stem>.gz; an error naming both if neither is.
std::string find_idx(const std::string& root, const std::string& stem) {
  const std::filesystem::path raw = std::filesystem::path(root) / stem;
  std::filesystem::path gz = raw;
  gz += ".gz";
  if (std::filesystem::exists(raw)) return raw.string();
  if (std::filesystem::exists(gz)) return gz.string();
  fail(
      "MNIST: {}: expected {} or {}.gz, found neither (scripts/get-data.sh mnist|fashion-mnist "
      "fetches the data)",
      root, stem, stem);
}

}  // namespace

MNIST::MNIST(const std::string& root, Split split, MNISTOptions options) : options_(options) {
  check(std::isfinite(options.mean()) && std::isfinite(options.std()) && options.std() > 0,
        "MNIST: expected a finite mean and a positive std, got mean {} std {}", options.mean(),
        options.std());
  check(std::filesystem::is_directory(root), "MNIST: expected a directory, got {}", root);
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string image_path = find_idx(root, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx(root, prefix + "-labels-idx1-ubyte");

  IdxArray images = read_idx(image_path);
  check(images.dims.size() == 3, "MNIST: {}: expected images of shape [N, rows, cols], got {}",
        image_path, images.dims);
  IdxArray labels = read_idx(label_path);
  check(labels.dims.size() == 1, "MNIST: {}: expected labels of shape [N], got {}", label_path,
        labels.dims);
  check(images.dims[0] == labels.dims[0],
        "MNIST: {} holds {} images but {} holds {} labels; expected the same count", image_path,
        images.dims[0], label_path, labels.dims[0]);
  check(images.dims[0] > 0 && images.dims[1] > 0 && images.dims[2] > 0,
        "MNIST: {}: expected at least one non-empty image, got shape {}", image_path, images.dims);
  for (std::size_t i = 0; i < labels.data.size(); ++i)
    check(labels.data[i] <= 9, "MNIST: {}: expected labels in 0..9, got {} at index {}", label_path,
          labels.data[i], i);

  size_ = images.dims[0];
  rows_ = images.dims[1];
  cols_ = images.dims[2];
  images_ = std::move(images.data);
  labels_ = std::move(labels.data);
  // float32 steps in torchvision's order: ToTensor divides by 255, Normalize subtracts and divides.
  const auto mean = static_cast<float>(options.mean());
  const auto stddev = static_cast<float>(options.std());
  for (int v = 0; v < 256; ++v) lut_[v] = (static_cast<float>(v) / 255.0f - mean) / stddev;
}

// images (B, 1, rows, cols) float32 <- images_ (size, rows, cols) uint8 at indices; labels (B)
void MNIST::get_batch_into(std::span<const std::int64_t> indices, Batch& out) const {
  const auto B = static_cast<std::int64_t>(indices.size());
  for (std::int64_t b = 0; b < B; ++b)
    check(indices[b] >= 0 && indices[b] < size_,
          "MNIST::get_batch: expected indices in [0, {}), got {} at position {}", size_, indices[b],
          b);
  reuse_or_allocate(out.images, {B, 1, rows_, cols_}, kFloat32);
  reuse_or_allocate(out.labels, {B}, kInt64);

  const std::int64_t pixels = rows_ * cols_;
  float* dst = out.images.data<float>();
  std::int64_t* labels = out.labels.data<std::int64_t>();
  parallel_for(0, B, 16, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::uint8_t* src = images_.data() + indices[b] * pixels;
      float* d = dst + b * pixels;
      for (std::int64_t p = 0; p < pixels; ++p) d[p] = lut_[src[p]];
      labels[b] = labels_[static_cast<std::size_t>(indices[b])];
    }
  });
}

}  // namespace tapegrad::data
