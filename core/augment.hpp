// Data augmentation on batches of images, deterministic: every random choice comes from a hash of
// (key, image index), so a batch's augmentation depends only on the key the caller derives (e.g.
// from seed, epoch and batch index), never on the thread count or on earlier batches. A run
// resumed from a checkpoint therefore augments exactly as the uninterrupted run.
#pragma once

#include <cstdint>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad::data {

/// Shifts each image of `images` (N, C, H, W) by its own random (dy, dx) in
/// [-max_shift, max_shift]^2, filling the uncovered border with `fill`, in place.
///   tg::data::random_shift_(batch.images, 2, background, key);
void random_shift_(Tensor& images, std::int64_t max_shift, double fill, std::uint64_t key);

}  // namespace tapegrad::data
