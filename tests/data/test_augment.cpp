#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace tg = tapegrad;

TEST(RandomShift, MovesEachImageByAtMostMaxShiftAndFillsTheBorder) {
  // One bright pixel in the middle of each 9x9 image: after the shift it is still there, at most
  // 2 pixels away, and everything else is the fill value.
  const std::int64_t N = 64;
  tg::Tensor x = tg::full({N, 1, 9, 9}, -1.0);
  for (std::int64_t n = 0; n < N; ++n) x.data<float>()[n * 81 + 4 * 9 + 4] = 5.0f;
  tg::data::random_shift_(x, 2, -1.0, 123);
  int moved = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    int bright = 0;
    for (std::int64_t y = 0; y < 9; ++y)
      for (std::int64_t xx = 0; xx < 9; ++xx) {
        const float v = x.at<float>({n, 0, y, xx});
        if (v == 5.0f) {
          ++bright;
          EXPECT_LE(std::abs(y - 4), 2);
          EXPECT_LE(std::abs(xx - 4), 2);
          moved += (y != 4 || xx != 4);
        } else {
          EXPECT_EQ(v, -1.0f);
        }
      }
    EXPECT_EQ(bright, 1);
  }
  EXPECT_GT(moved, N / 2);  // 24 of 25 shifts move the pixel
}

TEST(RandomShift, DependsOnlyOnTheKeyAndNotOnThreads) {
  tg::Generator gen(3);
  tg::Tensor base = tg::randn({40, 2, 6, 7}, gen);
  auto run = [&](int threads, std::uint64_t key) {
    tg::set_num_threads(threads);
    tg::Tensor x = tg::copy_data(base, tg::kFloat32);
    tg::data::random_shift_(x, 3, 0.0, key);
    tg::set_num_threads(0);
    return x.to_vector<float>();
  };
  EXPECT_EQ(run(1, 7), run(2, 7));
  EXPECT_NE(run(1, 7), run(1, 8));
  EXPECT_THROW(tg::data::random_shift_(base, -1, 0.0, 1), tg::Error);
  tg::Tensor flat = tg::zeros({4, 5});
  EXPECT_THROW(tg::data::random_shift_(flat, 1, 0.0, 1), tg::Error);
}
