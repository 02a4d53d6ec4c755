#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <type_traits>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;
using tg::data::Batch;
using tg::data::DataLoader;
using tg::data::DataLoaderOptions;
using tg::testing::expect_error;

namespace {

// Example i: image (1) = {i + 0.5}, label i. Counts how often it fills a batch.
class IndexDataset : public tg::data::Dataset {
 public:
  explicit IndexDataset(std::int64_t n) : n_(n) {}
  std::int64_t size() const override { return n_; }
  void get_batch_into(std::span<const std::int64_t> indices, Batch& out) const override {
    const auto B = static_cast<std::int64_t>(indices.size());
    tg::data::reuse_or_allocate(out.images, {B, 1}, tg::kFloat32);
    tg::data::reuse_or_allocate(out.labels, {B}, tg::kInt64);
    for (std::int64_t b = 0; b < B; ++b) {
      out.images.data<float>()[b] = static_cast<float>(indices[b]) + 0.5f;
      out.labels.data<std::int64_t>()[b] = indices[b];
    }
    ++fills;
  }
  mutable int fills = 0;

 private:
  std::int64_t n_;
};

std::vector<std::int64_t> labels_of(const Batch& b) {
  return b.labels.to_vector<std::int64_t>();
}

// Every batch's labels, in order, by iterating the loader.
std::vector<std::vector<std::int64_t>> epoch_batches(DataLoader& loader) {
  std::vector<std::vector<std::int64_t>> out;
  for (const Batch& b : loader) out.push_back(labels_of(b));
  return out;
}

// The documented shuffle, written out independently: Fisher-Yates from the back with randint.
std::vector<std::int64_t> reference_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  tg::Generator gen(tg::data::epoch_seed(seed, epoch));
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[gen.randint(static_cast<std::uint64_t>(i) + 1)]);
  return p;
}

}  // namespace

static_assert(!std::is_constructible_v<DataLoader, IndexDataset&&, DataLoaderOptions>,
              "a loader over a temporary dataset would dangle");

TEST(DataLoader, DefaultsMatchPyTorch) {
  const DataLoaderOptions o;
  EXPECT_EQ(o.batch_size(), 1);
  EXPECT_FALSE(o.shuffle());
  EXPECT_FALSE(o.drop_last());
  EXPECT_EQ(o.seed(), 0u);
}

TEST(DataLoader, SequentialBatchesWithPartialLast) {
  IndexDataset data(10);
  DataLoader loader(data, DataLoaderOptions().batch_size(4));
  ASSERT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(epoch_batches(loader),
            (std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}));
  const Batch& last = loader.batch(2);
  EXPECT_EQ(last.images.shape(), (tg::Shape{2, 1}));
  EXPECT_EQ(last.images.to_vector<float>(), (std::vector<float>{8.5f, 9.5f}));
}

TEST(DataLoader, DropLast) {
  IndexDataset data(10);
  DataLoader loader(data, DataLoaderOptions(4).drop_last(true));
  EXPECT_EQ(loader.num_batches(), 2);
  EXPECT_EQ(epoch_batches(loader),
            (std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  DataLoader exact(data, DataLoaderOptions(5).drop_last(true));
  EXPECT_EQ(exact.num_batches(), 2);
  DataLoader too_big(data, DataLoaderOptions(11).drop_last(true));
  EXPECT_EQ(too_big.num_batches(), 0);
  EXPECT_TRUE(too_big.begin() == too_big.end());
}

TEST(DataLoader, ShuffleFollowsTheDocumentedFisherYates) {
  IndexDataset data(23);
  DataLoader loader(data, DataLoaderOptions(5).shuffle(true).seed(42));
  for (std::int64_t epoch : {0, 1, 7}) {
    loader.set_epoch(epoch);
    const std::vector<std::int64_t> expected = reference_order(23, 42, epoch);
    EXPECT_EQ(std::vector<std::int64_t>(loader.order().begin(), loader.order().end()), expected);
    std::vector<std::int64_t> seen;
    for (const Batch& b : loader)
      for (std::int64_t i : labels_of(b)) seen.push_back(i);
    EXPECT_EQ(seen, expected);  // batches follow the order, last batch partial (3)
  }
}

TEST(DataLoader, ShuffleOrdersMatchAnIndependentImplementation) {
  // From tests/fixtures/dataloader/shuffle_orders.py (pure-Python mt19937_64): the same orders on
  // every machine and standard library.
  IndexDataset data(10);
  DataLoader seed0(data, DataLoaderOptions().shuffle(true).seed(0));
  DataLoader seed42(data, DataLoaderOptions().shuffle(true).seed(42));
  auto order = [](const DataLoader& l) {
    return std::vector<std::int64_t>(l.order().begin(), l.order().end());
  };
  EXPECT_EQ(order(seed0), (std::vector<std::int64_t>{6, 1, 2, 4, 7, 5, 3, 0, 9, 8}));
  seed0.set_epoch(1);
  EXPECT_EQ(order(seed0), (std::vector<std::int64_t>{7, 4, 3, 6, 9, 5, 2, 8, 0, 1}));
  seed42.set_epoch(3);
  EXPECT_EQ(order(seed42), (std::vector<std::int64_t>{8, 1, 5, 9, 3, 7, 2, 4, 0, 6}));
}

TEST(DataLoader, ShuffleIsAPermutationThatDependsOnSeedAndEpoch) {
  IndexDataset data(100);
  DataLoader a(data, DataLoaderOptions(8).shuffle(true).seed(1));
  DataLoader b(data, DataLoaderOptions(8).shuffle(true).seed(1));
  DataLoader c(data, DataLoaderOptions(8).shuffle(true).seed(2));
  auto order = [](const DataLoader& l) {
    return std::vector<std::int64_t>(l.order().begin(), l.order().end());
  };
  std::vector<std::int64_t> sorted = order(a);
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(order(a), identity);
  EXPECT_EQ(order(a), order(b));
  EXPECT_NE(order(a), order(c));
  const std::vector<std::int64_t> epoch0 = order(a);
  a.set_epoch(1);
  EXPECT_NE(order(a), epoch0);
  EXPECT_EQ(a.epoch(), 1);
  // seed 1 epoch 1 is not seed 2 epoch 0
  EXPECT_NE(order(a), order(c));
  a.set_epoch(0);  // resuming: the epoch alone reproduces the order
  EXPECT_EQ(order(a), epoch0);
}

TEST(DataLoader, BatchAndIterationAgree) {
  IndexDataset data(9);
  DataLoader loader(data, DataLoaderOptions(2).shuffle(true).seed(3));
  loader.set_epoch(4);
  std::vector<std::vector<std::int64_t>> by_index;
  for (std::int64_t i = 0; i < loader.num_batches(); ++i) {
    by_index.push_back(labels_of(loader.batch(i)));
    const auto idx = loader.indices(i);
    EXPECT_EQ(by_index.back(), std::vector<std::int64_t>(idx.begin(), idx.end()));
  }
  EXPECT_EQ(epoch_batches(loader), by_index);
}

TEST(DataLoader, BuffersAreReusedOnlyWhenNobodyHoldsThem) {
  IndexDataset data(12);
  DataLoader loader(data, DataLoaderOptions(3));
  const void* slot0 = loader.batch(0).images.raw_data();
  const void* slot1 = loader.batch(1).images.raw_data();
  EXPECT_NE(slot0, slot1);  // two slots: batch i and i + 1 are both valid
  EXPECT_EQ(loader.batch(2).images.raw_data(), slot0);
  EXPECT_EQ(loader.batch(3).images.raw_data(), slot1);

  const Batch kept = loader.batch(0);  // copy the handles: the data must not change
  const Batch kept_view{tg::alias_with_shape(loader.batch(1).images, {3}), tg::Tensor()};
  loader.batch(2);
  loader.batch(3);
  EXPECT_EQ(labels_of(kept), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(kept.images.to_vector<float>(), (std::vector<float>{0.5f, 1.5f, 2.5f}));
  EXPECT_EQ(kept_view.images.to_vector<float>(), (std::vector<float>{3.5f, 4.5f, 5.5f}));
  EXPECT_EQ(labels_of(loader.batch(2)), (std::vector<std::int64_t>{6, 7, 8}));
}

TEST(DataLoader, RepeatedAccessDoesNotRefill) {
  IndexDataset data(6);
  DataLoader loader(data, DataLoaderOptions(2));
  for (const Batch& b : loader) {
    EXPECT_EQ(b.images.numel(), 2);
  }
  EXPECT_EQ(data.fills, 3);
  loader.batch(2);
  loader.batch(2);
  EXPECT_EQ(data.fills, 3);
  loader.batch(0);
  EXPECT_EQ(data.fills, 4);
}

TEST(DataLoader, EmptyDataset) {
  IndexDataset data(0);
  DataLoader loader(data, DataLoaderOptions(4).shuffle(true));
  EXPECT_EQ(loader.num_batches(), 0);
  EXPECT_TRUE(loader.begin() == loader.end());
}

TEST(DataLoader, BadArguments) {
  IndexDataset data(5);
  expect_error([&] { DataLoader(data, DataLoaderOptions(0)); }, {"DataLoader", "batch_size >= 1"});
  DataLoader loader(data, DataLoaderOptions(2));
  expect_error([&] { loader.batch(3); }, {"DataLoader", "[0, 3)", "got 3"});
  expect_error([&] { loader.batch(-1); }, {"got -1"});
  expect_error([&] { loader.set_epoch(-2); }, {"set_epoch", "got -2"});
}

TEST(Subset, ExposesTheFirstExamplesAndChecksIndices) {
  IndexDataset base(10);
  tg::data::Subset first4(base, 4);
  EXPECT_EQ(first4.size(), 4);
  DataLoader loader(first4, DataLoaderOptions(3).shuffle(true).seed(1));
  std::vector<std::int64_t> seen;
  for (std::int64_t b = 0; b < loader.num_batches(); ++b)
    for (std::int64_t l : labels_of(loader.batch(b))) seen.push_back(l);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3}));
  const std::vector<std::int64_t> out_of_range = {4};
  EXPECT_THROW(first4.get_batch(out_of_range), tg::Error);
  EXPECT_THROW(tg::data::Subset(base, 11), tg::Error);
}
