// im2col / col2im: the unfolding that turns a 2-D convolution into a matrix product.
//
// For one image (or one group's channels of it) x (C, H, W) and a KHxKW window moved with
// stride S, zero padding P and dilation D, im2col builds the column matrix
//
//   columns[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*SH - PH + kh*DH][ow*SW - PW + kw*DW]
//
// (0 where the index falls into the padding), of shape (C*KH*KW, OH*OW) with
// OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1 (likewise OW). A convolution is then
// y (OC, OH*OW) = w (OC, C*KH*KW) * columns. col2im is the adjoint: it adds every entry of a
// column matrix back onto the pixel it was read from (dx = col2im(w^T * dy)).
//
// These kernels know nothing of tensors or autograd; conv2d (autograd/conv2d.cpp) drives them.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

/// The geometry of a convolution window over one image: sizes, stride, padding, dilation.
struct Conv2dGeometry {
  std::int64_t C = 0, H = 0, W = 0;  // channels (of one group), input height and width
  std::int64_t KH = 0, KW = 0;       // kernel height and width
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t OH = 0, OW = 0;  // output height and width (conv_output_size)

  /// Rows of the column matrix: C * KH * KW.
  std::int64_t column_rows() const { return C * KH * KW; }
  /// Columns of the column matrix: OH * OW.
  std::int64_t column_cols() const { return OH * OW; }
};

/// Output length of a convolution along one dimension: (in + 2 pad - dilation (k - 1) - 1) / stride
/// + 1. Requires stride, dilation >= 1, pad >= 0 and a dilated kernel no longer than in + 2 pad.
std::int64_t conv_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                              std::int64_t pad, std::int64_t dilation);

// columns (C*KH*KW, OH*OW) = unfold(image (C, H, W)).
// Requires: g.OH, g.OW from conv_output_size; columns does not overlap image.
// Ensures: every entry of columns is written (padding reads as 0).
template <class T>
void im2col(T* columns, const T* image, const Conv2dGeometry& g);

// image (C, H, W) += fold(columns (C*KH*KW, OH*OW)), the adjoint of im2col.
// Requires: as im2col. Ensures: pixels are accumulated in a fixed order (deterministic); entries
// that im2col would have read from the padding contribute nothing.
// NOTE: columns is scratch: those padding entries may be overwritten with zeros (it lets whole
// rows be added at once).
template <class T>
void col2im(T* image, T* columns, const Conv2dGeometry& g);

// padded (C, H + 2*PH, W + 2*PW) = image (C, H, W) with a border of PH rows and PW columns of
// zeros: what an implicit GEMM reads instead of the column matrix (kernels::sgemm_avx512_indexed).
// Requires PH, PW >= 0; padded does not overlap image. Ensures: every element is written.
template <class T>
void pad_planes(T* padded, const T* image, std::int64_t C, std::int64_t H, std::int64_t W,
                std::int64_t PH, std::int64_t PW);

}  // namespace tapegrad::kernels
