// DataLoader: batches over a Dataset, shuffled per epoch, with reused batch buffers.
//
// Order: with shuffle on, epoch e visits the examples in a Fisher-Yates permutation drawn from
// tapegrad::Generator(epoch_seed(seed, e)) with Generator::randint, so it is the same on every
// machine and thread count, and depends only on (seed, epoch, dataset size). Resuming a run needs
// only the epoch and the batch index: set_epoch(e), then continue from batch(i).
//
// Buffers: batches are assembled into two buffer slots used alternately (batch i in slot i % 2).
// A slot's tensors are refilled in place only if nothing outside the loader still holds them (no
// copied handle, view, or autograd node); otherwise the slot gets new tensors. So a batch's data
// never changes under you, and a plain training loop allocates nothing per step once warm (the
// shorter last batch of an epoch is the exception). The `const Batch&` that batch(i) returns is a
// view of the slot: it shows batch i until batch(i + 2) is requested; copy the Batch (two cheap
// handles) to keep it longer.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

#include "tapegrad/core/dataset.hpp"

namespace tapegrad::data {

/// DataLoader settings with PyTorch's defaults (batch 1, no shuffle, keep the last batch).
///   tg::data::DataLoaderOptions().batch_size(64).shuffle(true).drop_last(false).seed(0)
class DataLoaderOptions {
 public:
  DataLoaderOptions() = default;
  explicit DataLoaderOptions(std::int64_t batch_size) : batch_size_(batch_size) {}

  DataLoaderOptions& batch_size(std::int64_t v) {
    batch_size_ = v;
    return *this;
  }
  DataLoaderOptions& shuffle(bool v) {
    shuffle_ = v;
    return *this;
  }
  DataLoaderOptions& drop_last(bool v) {
    drop_last_ = v;
    return *this;
  }
  DataLoaderOptions& seed(std::uint64_t v) {
    seed_ = v;
    return *this;
  }
  std::int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  std::uint64_t seed() const { return seed_; }

 private:
  std::int64_t batch_size_ = 1;
  bool shuffle_ = false;
  bool drop_last_ = false;
  std::uint64_t seed_ = 0;
};

/// The Generator seed of an epoch's shuffle: splitmix64(splitmix64(seed) + epoch), so that
/// neighbouring seeds and epochs give unrelated orders.
std::uint64_t epoch_seed(std::uint64_t seed, std::int64_t epoch);

/// Batches over `dataset`, which must outlive the loader.
///   tg::data::DataLoader loader(train, tg::data::DataLoaderOptions(64).shuffle(true));
///   for (int epoch = 0; epoch < 10; ++epoch) {
///     loader.set_epoch(epoch);  // a new order each epoch
///     for (const tg::data::Batch& batch : loader) step(batch.images, batch.labels);
///   }
class DataLoader {
 public:
  DataLoader(const Dataset& dataset, DataLoaderOptions options = {});
  DataLoader(Dataset&&, DataLoaderOptions = {}) = delete;  // would dangle

  /// Selects the epoch whose order batch() and iteration follow (epoch 0 after construction).
  void set_epoch(std::int64_t epoch);
  std::int64_t epoch() const { return epoch_; }
  const DataLoaderOptions& options() const { return options_; }

  /// Batches per epoch: ceil(size / batch_size), or floor with drop_last.
  std::int64_t num_batches() const;
  /// Dataset indices of batch i in this epoch.
  std::span<const std::int64_t> indices(std::int64_t i) const;
  /// This epoch's order of the whole dataset.
  std::span<const std::int64_t> order() const { return order_; }

  /// Batch i of this epoch (see the buffer rule above). Asking twice in a row does not refill.
  const Batch& batch(std::int64_t i);

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

    Iterator() = default;
    Iterator(DataLoader* loader, std::int64_t index) : loader_(loader), index_(index) {}
    reference operator*() const { return loader_->batch(index_); }
    pointer operator->() const { return &loader_->batch(index_); }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    DataLoader* loader_ = nullptr;
    std::int64_t index_ = 0;
  };

  Iterator begin() { return Iterator(this, 0); }
  Iterator end() { return Iterator(this, num_batches()); }

 private:
  struct Slot {
    Batch batch;
    std::int64_t epoch = -1, index = -1;  // which batch it holds
  };

  const Dataset& dataset_;
  DataLoaderOptions options_;
  std::int64_t size_ = 0;
  std::int64_t epoch_ = 0;
  std::vector<std::int64_t> order_;
  std::array<Slot, 2> slots_;
};

}  // namespace tapegrad::data
