#include "tapegrad/core/dataloader.hpp"

#include <algorithm>
#include <numeric>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/generator.hpp"

namespace tapegrad::data {
std::uint64_t epoch_seed(std::uint64_t seed, std::int64_t epoch) {
  return splitmix64(splitmix64(seed) + static_cast<std::uint64_t>(epoch));
}

DataLoader::DataLoader(const Dataset& dataset, DataLoaderOptions options)
    : dataset_(dataset), options_(options), size_(dataset.size()) {
  check(options.batch_size() >= 1, "DataLoader: expected batch_size >= 1, got {}",
        options.batch_size());
  order_.resize(static_cast<std::size_t>(size_));
  set_epoch(0);
}

void DataLoader::set_epoch(std::int64_t epoch) {
  check(epoch >= 0, "DataLoader::set_epoch: expected a non-negative epoch, got {}", epoch);
  epoch_ = epoch;
  std::iota(order_.begin(), order_.end(), std::int64_t{0});
  if (!options_.shuffle()) return;
  // Fisher-Yates, back to front: swap element i with a uniform pick from [0, i].
  Generator gen(epoch_seed(options_.seed(), epoch));
  for (std::size_t i = order_.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(gen.randint(i));
    std::swap(order_[i - 1], order_[j]);
  }
}

std::int64_t DataLoader::num_batches() const {
  const std::int64_t B = options_.batch_size();
  return options_.drop_last() ? size_ / B : (size_ + B - 1) / B;
}

std::span<const std::int64_t> DataLoader::indices(std::int64_t i) const {
  check(i >= 0 && i < num_batches(), "DataLoader: expected a batch index in [0, {}), got {}",
        num_batches(), i);
  const std::int64_t begin = i * options_.batch_size();
  const std::int64_t end = std::min(begin + options_.batch_size(), size_);
  return std::span<const std::int64_t>(order_).subspan(static_cast<std::size_t>(begin),
                                                       static_cast<std::size_t>(end - begin));
}

const Batch& DataLoader::batch(std::int64_t i) {
  const std::span<const std::int64_t> idx = indices(i);
  Slot& slot = slots_[static_cast<std::size_t>(i % 2)];
  if (slot.epoch != epoch_ || slot.index != i) {
    slot.epoch = -1;  // not valid while (or if) filling fails
    dataset_.get_batch_into(idx, slot.batch);
    slot.epoch = epoch_;
    slot.index = i;
  }
  return slot.batch;
}

}  // namespace tapegrad::data
