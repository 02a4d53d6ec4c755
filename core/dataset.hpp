// The dataset interface the DataLoader draws batches from, and the buffer-reuse rule that lets a
// training loop run without allocating a batch per step.
#pragma once

#include <cstdint>
#include <span>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad::data {

/// One batch: inputs and their integer class labels.
struct Batch {
  Tensor images;  // (B, ...) float32
  Tensor labels;  // (B) int64
};

/// A random-access dataset that assembles batches. Implementations are immutable after
/// construction, so several loaders may share one.
class Dataset {
 public:
  virtual ~Dataset() = default;

  /// Number of examples.
  virtual std::int64_t size() const = 0;

  /// Writes the examples at `indices` (each in [0, size())) into `out`, refilling out's tensors
  /// in place when reusable_buffer() allows and replacing them otherwise.
  virtual void get_batch_into(std::span<const std::int64_t> indices, Batch& out) const = 0;

  /// A freshly allocated batch of the examples at `indices`.
  ///   std::vector<int64_t> idx = {0, 5, 9};  tg::data::Batch b = mnist.get_batch(idx);
  Batch get_batch(std::span<const std::int64_t> indices) const {
    Batch out;
    get_batch_into(indices, out);
    return out;
  }
};

/// The first `count` examples of another dataset (which must outlive it).
///   tg::data::Subset small(train, 1000);
class Subset : public Dataset {
 public:
  Subset(const Dataset& base, std::int64_t count);
  std::int64_t size() const override { return count_; }
  void get_batch_into(std::span<const std::int64_t> indices, Batch& out) const override;

 private:
  const Dataset& base_;
  std::int64_t count_;
};

/// Makes `buffer` a tensor of `shape` and `dtype` that is safe to overwrite: kept if it already
/// matches and nothing else holds it or its storage (no copy of the handle, no view, no autograd
/// node), replaced by a new tensor otherwise. So refilling never changes data someone still sees.
void reuse_or_allocate(Tensor& buffer, const Shape& shape, Dtype dtype);

}  // namespace tapegrad::data
