#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "support/test_support.hpp"
#include "tapegrad/core/im2col.hpp"

namespace tg = tapegrad;
namespace kernels = tapegrad::kernels;

namespace {

kernels::Conv2dGeometry geometry(std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t KH,
                                 std::int64_t KW, std::int64_t SH, std::int64_t SW, std::int64_t PH,
                                 std::int64_t PW, std::int64_t DH, std::int64_t DW) {
  kernels::Conv2dGeometry g{.C = C,
                            .H = H,
                            .W = W,
                            .KH = KH,
                            .KW = KW,
                            .stride_h = SH,
                            .stride_w = SW,
                            .pad_h = PH,
                            .pad_w = PW,
                            .dilation_h = DH,
                            .dilation_w = DW};
  g.OH = kernels::conv_output_size(H, KH, SH, PH, DH);
  g.OW = kernels::conv_output_size(W, KW, SW, PW, DW);
  return g;
}

// The formula of im2col.hpp, one entry at a time.
std::vector<double> naive_im2col(const std::vector<double>& x, const kernels::Conv2dGeometry& g) {
  std::vector<double> cols(g.column_rows() * g.column_cols());
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw)
        for (std::int64_t oh = 0; oh < g.OH; ++oh)
          for (std::int64_t ow = 0; ow < g.OW; ++ow) {
            const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
            const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
            const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            cols[((c * g.KH + kh) * g.KW + kw) * g.OH * g.OW + oh * g.OW + ow] =
                inside ? x[(c * g.H + ih) * g.W + iw] : 0.0;
          }
  return cols;
}

std::vector<kernels::Conv2dGeometry> geometries() {
  return {
      geometry(1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1),  // "same" at stride 1: the one-copy path
      geometry(2, 6, 7, 3, 3, 1, 1, 0, 0, 1, 1),  // no padding
      geometry(3, 7, 6, 3, 2, 2, 1, 1, 2, 1, 1),  // strided, padding wider than the kernel
      geometry(2, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2),  // dilated "same"
      geometry(1, 9, 7, 2, 3, 3, 2, 1, 0, 2, 1),  // everything at once
      geometry(2, 2, 3, 3, 3, 1, 1, 2, 2, 1, 1),  // kernel windows that see only padding
      geometry(4, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1),  // 1x1
      // Stride 1 with OW == W, in several 16-lane chunks (the AVX-512 float path): rows shorter
      // and longer than a chunk, OH != H, a wide kernel.
      geometry(3, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1),
      geometry(2, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1),
      geometry(2, 9, 11, 3, 3, 1, 1, 0, 1, 1, 1),
      geometry(2, 5, 20, 3, 5, 1, 1, 1, 2, 1, 1),
  };
}

}  // namespace

TEST(Im2col, MatchesTheFormula) {
  tg::Generator gen(3);
  for (const kernels::Conv2dGeometry& g : geometries()) {
    SCOPED_TRACE(testing::Message() << "C " << g.C << " H " << g.H << " W " << g.W << " K " << g.KH
                                    << "x" << g.KW << " OH " << g.OH << " OW " << g.OW);
    std::vector<double> x(g.C * g.H * g.W);
    for (double& v : x) v = gen.uniform(-1.0, 1.0);
    std::vector<double> cols(g.column_rows() * g.column_cols(), 99.0);
    kernels::im2col(cols.data(), x.data(), g);
    EXPECT_EQ(cols, naive_im2col(x, g));
    std::vector<float> xf(x.begin(), x.end()), colsf(cols.size(), 99.0f);
    kernels::im2col(colsf.data(), xf.data(), g);
    EXPECT_EQ(std::vector<double>(colsf.begin(), colsf.end()),
              naive_im2col(std::vector<double>(xf.begin(), xf.end()), g));
  }
}

TEST(Im2col, Col2imIsTheAdjointAndAccumulates) {
  tg::Generator gen(4);
  for (const kernels::Conv2dGeometry& g : geometries()) {
    std::vector<double> x(g.C * g.H * g.W), c(g.column_rows() * g.column_cols());
    for (double& v : x) v = gen.uniform(-1.0, 1.0);
    for (double& v : c) v = gen.uniform(-1.0, 1.0);
    // <im2col(x), c> == <x, col2im(c)>
    const std::vector<double> cols = naive_im2col(x, g);
    std::vector<double> folded(x.size(), 0.0), scratch = c;
    kernels::col2im(folded.data(), scratch.data(), g);
    // Only entries that read the padding may have been overwritten (with zeros).
    const std::vector<double> ones = naive_im2col(std::vector<double>(x.size(), 1.0), g);
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (ones[i] == 1.0)
        EXPECT_EQ(scratch[i], c[i]) << i;  // read a pixel: untouched
      else
        EXPECT_TRUE(scratch[i] == 0.0 || scratch[i] == c[i]) << i;  // read padding
    }
    double lhs = 0.0, rhs = 0.0;
    for (std::size_t i = 0; i < c.size(); ++i) lhs += cols[i] * c[i];
    for (std::size_t i = 0; i < x.size(); ++i) rhs += x[i] * folded[i];
    EXPECT_NEAR(lhs, rhs, 1e-12 * (1.0 + std::abs(lhs)));
    // It adds onto what the image holds.
    std::vector<double> twice = folded;
    scratch = c;
    kernels::col2im(twice.data(), scratch.data(), g);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(twice[i], 2 * folded[i], 1e-14);
  }
}

// In float, col2im adds each pixel's entries in (c, kh, kw) order onto the pixel, whichever
// path runs (the AVX-512 one sums 16 pixels at a time in a register): the same bits as naive
// loops adding in that order.
TEST(Im2col, Col2imFloatAddsInRowOrder) {
  tg::Generator gen(5);
  for (const kernels::Conv2dGeometry& g : geometries()) {
    SCOPED_TRACE(testing::Message() << "C " << g.C << " H " << g.H << " W " << g.W << " K " << g.KH
                                    << "x" << g.KW << " OH " << g.OH << " OW " << g.OW);
    std::vector<float> image(g.C * g.H * g.W), cols(g.column_rows() * g.column_cols());
    for (float& v : image) v = static_cast<float>(gen.uniform(-1.0, 1.0));
    for (float& v : cols) v = static_cast<float>(gen.uniform(-1.0, 1.0));
    std::vector<float> want = image;
    for (std::int64_t c = 0; c < g.C; ++c)
      for (std::int64_t kh = 0; kh < g.KH; ++kh)
        for (std::int64_t kw = 0; kw < g.KW; ++kw)
          for (std::int64_t oh = 0; oh < g.OH; ++oh)
            for (std::int64_t ow = 0; ow < g.OW; ++ow) {
              const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
              const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              want[(c * g.H + ih) * g.W + iw] +=
                  cols[((c * g.KH + kh) * g.KW + kw) * g.OH * g.OW + oh * g.OW + ow];
            }
    kernels::col2im(image.data(), cols.data(), g);
    EXPECT_EQ(image, want);
  }
}

template <class T>
void check_pad_planes() {
  tg::Generator gen(6);
  for (const auto& [C, H, W, PH, PW] : std::vector<std::array<std::int64_t, 5>>{
           {1, 1, 1, 0, 0}, {2, 3, 4, 1, 1}, {3, 7, 7, 1, 1}, {2, 5, 20, 2, 3}, {1, 4, 14, 0, 1}}) {
    SCOPED_TRACE(testing::Message()
                 << "C " << C << " H " << H << " W " << W << " pad " << PH << "," << PW);
    std::vector<T> image(C * H * W);
    for (T& v : image) v = static_cast<T>(gen.uniform(-1.0, 1.0));
    const std::int64_t Hp = H + 2 * PH, Wp = W + 2 * PW;
    std::vector<T> padded(C * Hp * Wp, T(99)), want(C * Hp * Wp, T(0));
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t w = 0; w < W; ++w)
          want[(c * Hp + h + PH) * Wp + w + PW] = image[(c * H + h) * W + w];
    kernels::pad_planes(padded.data(), image.data(), C, H, W, PH, PW);
    EXPECT_EQ(padded, want);
  }
}

TEST(Im2col, PadPlanesAddsAZeroBorder) {
  check_pad_planes<float>();
  check_pad_planes<double>();
}

TEST(Im2col, OutputSizeAndBadGeometry) {
  EXPECT_EQ(kernels::conv_output_size(28, 3, 1, 1, 1), 28);
  EXPECT_EQ(kernels::conv_output_size(28, 3, 2, 1, 1), 14);
  EXPECT_EQ(kernels::conv_output_size(7, 3, 1, 0, 2), 3);
  EXPECT_THROW(kernels::conv_output_size(2, 3, 1, 0, 1), tg::Error);
  EXPECT_THROW(kernels::conv_output_size(8, 3, 0, 0, 1), tg::Error);
  EXPECT_THROW(kernels::conv_output_size(8, 3, 1, -1, 1), tg::Error);
}
