// A checkpoint written by PyTorch (tests/fixtures/torch_checkpoint/gen_torch_checkpoint.py) loads
// into models::mnist_cnn by PyTorch's key names and reproduces PyTorch's eval-mode logits; the
// names tapegrad writes are exactly PyTorch's, so its checkpoints load into PyTorch too.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.hpp"

namespace tg = tapegrad;

TEST(TorchCheckpoint, LoadsPyTorchWeightsAndReproducesItsEvalLogits) {
  const tg::NamedTensors file =
      tg::load_safetensors(tg::testing::fixture("torch_checkpoint/mnist_cnn.safetensors"));
  tg::Generator gen(123);
  auto model = tg::nn::models::mnist_cnn(gen);

  // Same keys, same order, same shapes and dtypes as PyTorch's state_dict.
  const tg::NamedTensors own = model->state_dict();
  ASSERT_EQ(own.size(), file.size());
  for (std::size_t i = 0; i < own.size(); ++i) {
    EXPECT_EQ(own[i].first, file[i].first);
    EXPECT_EQ(own[i].second.shape(), file[i].second.shape()) << own[i].first;
    EXPECT_EQ(own[i].second.dtype(), file[i].second.dtype()) << own[i].first;
  }

  model->load_state_dict(file);
  EXPECT_EQ(model->state_dict()[6].first, "1.num_batches_tracked");
  EXPECT_EQ(model->state_dict()[6].second.item<std::int64_t>(), 3);
  model->eval();
  tg::NoGradGuard no_grad;
  const tg::Tensor logits =
      model->forward(tg::load_npy(tg::testing::fixture("torch_checkpoint/input.npy")));
  const tg::Tensor expected = tg::load_npy(tg::testing::fixture("torch_checkpoint/logits.npy"));
  ASSERT_EQ(logits.shape(), expected.shape());
  EXPECT_TRUE(tg::allclose(logits, expected, 1e-5, 1e-5)) << logits << "\nvs PyTorch\n" << expected;

  // Saved by tapegrad, loaded back: the same logits bit for bit.
  const std::string path =
      (std::filesystem::temp_directory_path() / "tapegrad_torch_roundtrip.safetensors").string();
  tg::save_safetensors(path, model->state_dict());
  auto again = tg::nn::models::mnist_cnn(gen);
  again->load_state_dict(tg::load_safetensors(path));
  again->eval();
  const tg::Tensor logits2 =
      again->forward(tg::load_npy(tg::testing::fixture("torch_checkpoint/input.npy")));
  EXPECT_EQ(logits.to_vector<float>(), logits2.to_vector<float>());
  std::filesystem::remove(path);
}
