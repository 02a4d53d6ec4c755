// Single-precision GEMM on AVX-512 (see sgemm_avx512.hpp).
//
// The product is computed in blocks sized to the caches, after BLIS (Van Zee and van de Geijn):
//
//   for each block of at most KC of the K dimension:  C = beta * C + the block's product
//     for each block of at most NC columns:          pack op(B) (kc, nc) if it is transposed
//       for each block of at most MC rows:           op(A) (mc, kc) stays in L2
//         for each panel of at most NR columns:      the panel (kc, NR) streams through L1
//           for each MR rows: micro-kernel           C (MR, NR) += op(A) (MR, kc) * panel
//
// The micro-kernel keeps an MR x NR tile of C in MR * NR / 16 zmm registers (8 x 48: 24 of the
// 32) and walks k, loading the panel's row k (NR / 16 vectors) and broadcasting op(A)[i][k]:
//   acc[i][v] += broadcast(op(A)[i][k]) * op(B)[k][16 v .. 16 v + 15]
// Broadcasts read single elements, so op(A) is read in place: row-major, transposed, or gathered
// through row and k offsets (sgemm_avx512_indexed, an implicit im2col). op(B) is read in place
// too when its rows are contiguous, at a stride or through row offsets (sgemm_avx512_indexed_b)
// (measured: as fast as a packed copy at every size tried, up to 2000^3, and the copy costs up
// to 25% when op(A) has few rows); a transposed op(B) is packed, 16 x 16 blocks transposed in
// registers. Edges: the rows are split into near-equal blocks of at most MR (49 = 7 x 7, not
// 6 x 8 + 1) run by micro-kernels instantiated for each row count; the columns into panels of
// whole vectors, the last vector masked.
//
// Vectors run along N. When the product runs faster transposed (N = 49 fills 4 vectors to 77%,
// M = 128 fills 8 to 100%), C^T = op(B)^T op(A)^T is computed instead and each tile is
// transposed in registers as it is stored; a cost model (estimated_cycles) picks the way.
//
// Each C element is a sum over k in increasing order within a K block, the blocks added in order:
// a fixed order that depends only on the shapes.
#include "tapegrad/core/sgemm_avx512.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define TAPEGRAD_SGEMM_X86 1
// Every function that uses AVX-512 intrinsics carries this attribute (one spelling for all).
#define TAPEGRAD_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#endif

namespace tapegrad::kernels {

#ifdef TAPEGRAD_SGEMM_X86
namespace {

constexpr int kLanes = 16;         // floats per zmm register
constexpr int kMR = 8;             // micro-tile rows
constexpr int kNV = 3;             // micro-tile vectors: NR = 48 columns
constexpr std::int64_t kKC = 768;  // K block (measured: 7x7 convolutions, K = 576 in one block,
                                   // 3-4% faster than at 512, 7% than at 256)
constexpr std::int64_t kMC = 192;  // M block: op(A) (MC, KC) is 576 KB, in L2 (24 row blocks)
constexpr std::int64_t kNC = 256;  // N block: a packed op(B) (KC, NC) is 768 KB

// How op(A) is read (in place, by broadcasts): element (i, k) at
//   Rows:    data[i * ld + k]                    (A row-major)
//   Columns: data[k * ld + i]                    (A^T of a row-major A)
//   Indexed: data[row_offsets[i] + k_offsets[k]] (an implicit im2col: see sgemm_avx512.hpp)
enum class Layout { Rows, Columns, Indexed };

struct ViewA {
  Layout layout;
  const float* data;
  std::int64_t ld;
  const std::int64_t* row_offsets = nullptr;  // Indexed only
  const std::int64_t* k_offsets = nullptr;

  // The view of the tile whose element (0, 0) is (i, k) here.
  ViewA at(std::int64_t i, std::int64_t k) const {
    switch (layout) {
      case Layout::Rows:
        return {layout, data + i * ld + k, ld};
      case Layout::Columns:
        return {layout, data + k * ld + i, ld};
      case Layout::Indexed:
        break;
    }
    return {layout, data, ld, row_offsets + i, k_offsets + k};
  }
};

// The 128-bit lanes 0 and 2 of x, then of y; and lanes 1 and 3 (vshuff32x4).
TAPEGRAD_AVX512 inline __m512 even_lanes(__m512 x, __m512 y) {
  return __builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
}
TAPEGRAD_AVX512 inline __m512 odd_lanes(__m512 x, __m512 y) {
  return __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

// r[q] = column q of the 16 x 16 matrix whose rows are r[0..15]. Three rounds of shuffles within
// 128-bit lanes, pairs of elements, then whole lanes (vunpcklps/vunpcklpd/vshuff32x4), written as
// __builtin_shufflevector so that no intrinsic's undefined source trips -Wmaybe-uninitialized.
TAPEGRAD_AVX512 inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
  for (int p = 0; p < 16; p += 2) {  // per 128-bit lane L: rows p, p+1 at columns 4L+0..3
    t[p] = __builtin_shufflevector(r[p], r[p + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28,
                                   13, 29);
    t[p + 1] = __builtin_shufflevector(r[p], r[p + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27,
                                       14, 30, 15, 31);
  }
  for (int q = 0; q < 16; q += 4) {  // u[q + s], lane L: rows q..q+3 at column 4L + s
    for (int h = 0; h < 2; ++h) {
      u[q + 2 * h] = __builtin_shufflevector(t[q + h], t[q + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8,
                                             9, 24, 25, 12, 13, 28, 29);
      u[q + 2 * h + 1] = __builtin_shufflevector(t[q + h], t[q + h + 2], 2, 3, 18, 19, 6, 7, 22, 23,
                                                 10, 11, 26, 27, 14, 15, 30, 31);
    }
  }
  // Column 4L + s is lane L of u[s], u[4 + s], u[8 + s], u[12 + s].
  for (int s = 0; s < 4; ++s) {
    const __m512 v0 = even_lanes(u[s], u[4 + s]), v1 = odd_lanes(u[s], u[4 + s]);
    const __m512 w0 = even_lanes(u[8 + s], u[12 + s]), w1 = odd_lanes(u[8 + s], u[12 + s]);
    r[s] = even_lanes(v0, w0);
    r[8 + s] = odd_lanes(v0, w0);
    r[4 + s] = even_lanes(v1, w1);
    r[12 + s] = odd_lanes(v1, w1);
  }
}

// columns[q] = column q of the 8 x 16 matrix whose rows are r[0..7]: the first two rounds of
// transpose16, then each 128-bit lane (4 rows of one column) paired with its other half.
TAPEGRAD_AVX512 inline void transpose8x16(const __m512 (&r)[8], __m256 (&columns)[16]) {
  __m512 t[8], u[8];
  for (int p = 0; p < 8; p += 2) {
    t[p] = __builtin_shufflevector(r[p], r[p + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28,
                                   13, 29);
    t[p + 1] = __builtin_shufflevector(r[p], r[p + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27,
                                       14, 30, 15, 31);
  }
  for (int q = 0; q < 8; q += 4)
    for (int h = 0; h < 2; ++h) {
      u[q + 2 * h] = __builtin_shufflevector(t[q + h], t[q + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8,
                                             9, 24, 25, 12, 13, 28, 29);
      u[q + 2 * h + 1] = __builtin_shufflevector(t[q + h], t[q + h + 2], 2, 3, 18, 19, 6, 7, 22, 23,
                                                 10, 11, 26, 27, 14, 15, 30, 31);
    }
  // Column 4L + s: rows 0..3 in lane L of u[s], rows 4..7 in lane L of u[4 + s].
  for (int s = 0; s < 4; ++s) {
    const __m512 lo = __builtin_shufflevector(u[s], u[4 + s], 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6,
                                              7, 20, 21, 22, 23);  // columns s, 4 + s
    const __m512 hi = __builtin_shufflevector(u[s], u[4 + s], 8, 9, 10, 11, 24, 25, 26, 27, 12, 13,
                                              14, 15, 28, 29, 30, 31);  // 8 + s, 12 + s
    columns[s] = __builtin_shufflevector(lo, lo, 0, 1, 2, 3, 4, 5, 6, 7);
    columns[4 + s] = __builtin_shufflevector(lo, lo, 8, 9, 10, 11, 12, 13, 14, 15);
    columns[8 + s] = __builtin_shufflevector(hi, hi, 0, 1, 2, 3, 4, 5, 6, 7);
    columns[12 + s] = __builtin_shufflevector(hi, hi, 8, 9, 10, 11, 12, 13, 14, 15);
  }
}

// A micro-panel of op(B): kc rows of NV vectors, row k at b + k * ld; the lanes of the last
// vector beyond `columns` are neither loaded nor stored.
struct PanelB {
  const float* b;
  std::int64_t ld;
  int columns;
  const std::int64_t* k_offsets = nullptr;  // row k at b + k_offsets[k] instead (IndexedB)
};

// Where a tile goes: C element (i, j) at c[i * row + j * col]; col is 1 unless the product is
// computed transposed (then row is 1).
struct TileOut {
  float* c;
  std::int64_t row, col;
  float alpha, beta;
};

// The mask of the first n lanes (n in 1..16).
TAPEGRAD_AVX512 inline __mmask16 lanes_mask(int n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

// c[0..n) (n <= 16 lanes, mask m) = r + beta * c[0..n), not reading c when beta is 0.
[[gnu::always_inline]] TAPEGRAD_AVX512 inline void store_lanes(float* c, __mmask16 m, __m512 r,
                                                               float beta) {
  if (beta != 0.0f) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, c), _mm512_set1_ps(beta), r);
  _mm512_mask_storeu_ps(c, m, r);
}

// C tile (MR, NV vectors) = alpha * op(A) (MR, kc) * op(B) panel (kc, NV*16) + beta * C, with
// a the view of op(A)'s tile.
template <int MR, int NV, Layout L, bool IndexedB>
TAPEGRAD_AVX512 void micro_kernel(std::int64_t kc, const ViewA& a, const PanelB& panel,
                                  const TileOut& out) {
  const __mmask16 last = lanes_mask(panel.columns - (NV - 1) * kLanes);
  auto mask = [last](int v) { return v == NV - 1 ? last : __mmask16{0xffff}; };
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  const float* rows[L == Layout::Columns ? 1 : MR];  // op(A)'s rows (Rows, Indexed)
  if constexpr (L != Layout::Columns)
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      rows[i] = L == Layout::Indexed ? a.data + a.row_offsets[i] : a.data + i * a.ld;
  const float* b = panel.b;
  const float* column = a.data;  // op(A)'s column k (Columns)
  const std::int64_t* k_offsets = a.k_offsets;
  const std::int64_t lda = a.ld;
  const std::int64_t* b_offsets = panel.k_offsets;
  for (std::int64_t k = 0; k < kc; ++k, b += panel.ld, column += lda) {
    const float* b_row = IndexedB ? panel.b + b_offsets[k] : b;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(mask(v), b_row + v * kLanes);
    const std::int64_t k_offset = L == Layout::Indexed ? k_offsets[k] : k;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      float element;
      if constexpr (L == Layout::Columns)
        element = column[i];
      else
        element = rows[i][k_offset];
      const __m512 ai = _mm512_set1_ps(element);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }

  if (out.alpha != 1.0f) {
    const __m512 alpha = _mm512_set1_ps(out.alpha);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_mul_ps(acc[i][v], alpha);
  }
  if (out.col == 1) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        store_lanes(out.c + i * out.row + v * kLanes, mask(v), acc[i][v], out.beta);
    return;
  }
  // Stored transposed (row == 1): each vector's 16 columns, transposed in registers, become
  // 16 runs of MR contiguous elements.
  static_assert(MR <= 8);
  const __mmask8 row_mask = static_cast<__mmask8>((1u << MR) - 1u);
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    __m512 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = i < MR ? acc[i][v] : _mm512_setzero_ps();
    __m256 columns[16];
    transpose8x16(r, columns);
    const int n = std::min(kLanes, panel.columns - v * kLanes);
    for (int j = 0; j < n; ++j) {
      float* c = out.c + (v * kLanes + j) * out.col;
      __m256 x = columns[j];
      if (out.beta != 0.0f)
        x = _mm256_fmadd_ps(_mm256_maskz_loadu_ps(row_mask, c), _mm256_set1_ps(out.beta), x);
      _mm256_mask_storeu_ps(c, row_mask, x);
    }
  }
}

using MicroKernel = void (*)(std::int64_t, const ViewA&, const PanelB&, const TileOut&);

// The micro-kernels for MR rows and 1..kNV vectors, then kernels<L, IndexedB>()[mr - 1][nv - 1].
template <Layout L, bool IndexedB, int MR, int... V>
constexpr std::array<MicroKernel, kNV> row_kernels(std::integer_sequence<int, V...>) {
  return {&micro_kernel<MR, V + 1, L, IndexedB>...};
}
template <Layout L, bool IndexedB, int... R>
constexpr auto kernel_table(std::integer_sequence<int, R...>) {
  return std::array{row_kernels<L, IndexedB, R + 1>(std::make_integer_sequence<int, kNV>{})...};
}
template <Layout L, bool IndexedB = false>
const auto& kernels() {
  static constexpr auto table = kernel_table<L, IndexedB>(std::make_integer_sequence<int, kMR>{});
  return table;
}

// Packs the panel of op(B) (kc, nr) whose element (k, j) is b[j * ldb + k] (B stored transposed)
// as kc rows of w = round_up(nr, 16) floats, zero-padded: 16 x 16 blocks, each read along k,
// transposed in registers and written along j.
TAPEGRAD_AVX512 void pack_panel_columns(float* packed, const float* b, std::int64_t ldb,
                                        std::int64_t kc, int nr) {
  const int w = (nr + kLanes - 1) / kLanes * kLanes;
  for (int j0 = 0; j0 < nr; j0 += kLanes)
    for (std::int64_t k0 = 0; k0 < kc; k0 += kLanes) {
      const int kn = static_cast<int>(std::min<std::int64_t>(kLanes, kc - k0));
      const __mmask16 m = lanes_mask(kn);
      __m512 r[16];
      for (int q = 0; q < 16; ++q)
        r[q] =
            j0 + q < nr ? _mm512_maskz_loadu_ps(m, b + (j0 + q) * ldb + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < kn; ++q) _mm512_store_ps(packed + (k0 + q) * w + j0, r[q]);
    }
}

// A thread's packing buffer of at least n floats, 64-byte aligned; kept across calls.
float* packing_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  constexpr std::size_t kAlign = 64 / sizeof(float);
  if (buffer.size() < n + kAlign) buffer.resize(n + kAlign);
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + (kAlign - address / sizeof(float) % kAlign) % kAlign;
}

// Splits n items into ceil(n / most) blocks of near-equal size, the larger ones first:
// block(b) is [begin, end). M = 49 in rows of at most 8 is 7 blocks of 7, not 6 of 8 and 1.
struct Split {
  std::int64_t n, blocks, small, larger;  // `larger` blocks of small + 1, then blocks of small
  Split(std::int64_t n_, std::int64_t most)
      : n(n_), blocks((n_ + most - 1) / most), small(n_ / blocks), larger(n_ % blocks) {}
  std::int64_t begin(std::int64_t b) const { return b * small + std::min(b, larger); }
  std::int64_t size(std::int64_t b) const { return small + (b < larger ? 1 : 0); }
};

// Calls fn(size, count) for the two block sizes of a split.
template <class Fn>
void for_each_block_size(const Split& s, Fn fn) {
  if (s.larger > 0) fn(s.small + 1, s.larger);
  if (s.blocks > s.larger) fn(s.small, s.blocks - s.larger);
}

// Estimated cycles of blocked_gemm for these shapes (vectors along N), from measurements on a
// Zen 5 core: a tile of mr x nv accumulators takes max(mr * nv / 2, 5) cycles per k (two FMAs a
// cycle, once enough of them are independent), plus its stores once per K block (1.5 cycles
// per vector, 36 per vector stored transposed), plus 0.25 cycles per element of a transposed
// op(B) packed.
double estimated_cycles(std::int64_t M, std::int64_t N, std::int64_t K, bool b_transposed,
                        bool c_transposed) {
  const Split rows(M, kMR), panels((N + kLanes - 1) / kLanes, kNV), k_blocks(K, kKC);
  double cycles = b_transposed ? 0.25 * static_cast<double>(K * N) : 0.0;
  for_each_block_size(rows, [&](std::int64_t mr, std::int64_t row_blocks) {
    for_each_block_size(panels, [&](std::int64_t nv, std::int64_t panel_count) {
      const double accumulators = static_cast<double>(mr * nv);
      const double per_tile =
          static_cast<double>(K) * std::max(accumulators / 2.0, 5.0) +
          static_cast<double>(k_blocks.blocks) *
              (c_transposed ? 36.0 * static_cast<double>(nv) : 1.5 * accumulators);
      cycles += per_tile * static_cast<double>(row_blocks * panel_count);
    });
  });
  return cycles;
}

// C (M, N), element (i, j) at c[i * c_row + j * c_col], = alpha * op(A) * op(B) + beta * C.
// op(B)[k][j] is b[k * ldb + j], or b[j * ldb + k] when b_transposed, or b[b_offsets[k] + j]
// when b_offsets is given (op(A) then Rows or Columns).
TAPEGRAD_AVX512 void blocked_gemm(std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                                  ViewA a, const float* b, std::int64_t ldb, bool b_transposed,
                                  float beta, float* c, std::int64_t c_row, std::int64_t c_col,
                                  const std::int64_t* b_offsets = nullptr) {
  const auto& table = b_offsets != nullptr
                          ? (a.layout == Layout::Rows ? kernels<Layout::Rows, true>()
                                                      : kernels<Layout::Columns, true>())
                      : a.layout == Layout::Rows    ? kernels<Layout::Rows>()
                      : a.layout == Layout::Columns ? kernels<Layout::Columns>()
                                                    : kernels<Layout::Indexed>();
  const Split k_blocks(K, kKC), rows(M, kMR);
  const std::int64_t kc_max = k_blocks.size(0);
  float* packed = b_transposed ? packing_buffer(static_cast<std::size_t>(
                                     kc_max * ((std::min(N, kNC) + kLanes - 1) / kLanes * kLanes)))
                               : nullptr;
  for (std::int64_t kb = 0; kb < k_blocks.blocks; ++kb) {
    const std::int64_t pc = k_blocks.begin(kb), kc = k_blocks.size(kb);
    const float block_beta = kb == 0 ? beta : 1.0f;
    for (std::int64_t jc = 0; jc < N; jc += kNC) {
      const std::int64_t nc = std::min(kNC, N - jc);
      // Panels of whole vectors (the last one partial), as few as NR allows, near-equal.
      const Split panels((nc + kLanes - 1) / kLanes, kNV);
      // Panel p: columns [jr, jr + nr) of the block; packed at packed + kc * jr.
      auto panel_columns = [&](std::int64_t p) {
        const std::int64_t jr = panels.begin(p) * kLanes;
        return std::pair{jr, static_cast<int>(std::min(panels.size(p) * kLanes, nc - jr))};
      };
      if (b_transposed)
        for (std::int64_t p = 0; p < panels.blocks; ++p) {
          const auto [jr, nr] = panel_columns(p);
          pack_panel_columns(packed + kc * jr, b + (jc + jr) * ldb + pc, ldb, kc, nr);
        }
      // Row blocks of near-equal size, kMC / kMR of them at a time.
      for (std::int64_t r0 = 0; r0 < rows.blocks; r0 += kMC / kMR) {
        const std::int64_t r1 = std::min(rows.blocks, r0 + kMC / kMR);
        for (std::int64_t p = 0; p < panels.blocks; ++p) {
          const auto [jr, nr] = panel_columns(p);
          const int nv = static_cast<int>(panels.size(p));
          const PanelB panel = b_transposed           ? PanelB{packed + kc * jr, nv * kLanes, nr}
                               : b_offsets != nullptr ? PanelB{b + jc + jr, 0, nr, b_offsets + pc}
                                                      : PanelB{b + pc * ldb + jc + jr, ldb, nr};
          for (std::int64_t r = r0; r < r1; ++r) {
            const std::int64_t i = rows.begin(r), j = jc + jr;
            const TileOut out{c + i * c_row + j * c_col, c_row, c_col, alpha, block_beta};
            table[rows.size(r) - 1][nv - 1](kc, a.at(i, pc), panel, out);
          }
        }
      }
    }
  }
}

// C (M, N) *= beta (K = 0: no product to add).
void scale(std::int64_t M, std::int64_t N, float beta, float* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f)
      std::fill_n(row, N, 0.0f);
    else
      for (std::int64_t j = 0; j < N; ++j) row[j] *= beta;
  }
}

}  // namespace

bool sgemm_avx512_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return supported;
}

void sgemm_avx512(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                  float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                  float beta, float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) return scale(M, N, beta, C, ldc);
  // Vectors run along N; C^T (N, M) = op(B)^T * op(A)^T runs them along M: op(B)^T is read as
  // the new op(A) (transposed where op(B) is not), op(A)^T as the new op(B).
  if (estimated_cycles(N, M, K, !trans_a, true) < estimated_cycles(M, N, K, trans_b, false)) {
    const Layout layout = trans_b ? Layout::Rows : Layout::Columns;
    blocked_gemm(N, M, K, alpha, ViewA{layout, B, ldb}, A, lda, !trans_a, beta, C, 1, ldc);
  } else {
    const Layout layout = trans_a ? Layout::Columns : Layout::Rows;
    blocked_gemm(M, N, K, alpha, ViewA{layout, A, lda}, B, ldb, trans_b, beta, C, ldc, 1);
  }
}

void sgemm_avx512_indexed(std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                          const float* a, const std::int64_t* row_offsets,
                          const std::int64_t* k_offsets, bool trans_b, const float* B,
                          std::int64_t ldb, float beta, float* C, std::int64_t c_row,
                          std::int64_t c_col) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        float& c = C[i * c_row + j * c_col];
        c = beta == 0.0f ? 0.0f : beta * c;
      }
    return;
  }
  blocked_gemm(M, N, K, alpha, ViewA{Layout::Indexed, a, 0, row_offsets, k_offsets}, B, ldb,
               trans_b, beta, C, c_row, c_col);
}

void sgemm_avx512_indexed_b(bool trans_a, std::int64_t M, std::int64_t N, std::int64_t K,
                            float alpha, const float* A, std::int64_t lda, const float* b,
                            const std::int64_t* k_offsets, float beta, float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) return scale(M, N, beta, C, ldc);
  const Layout layout = trans_a ? Layout::Columns : Layout::Rows;
  blocked_gemm(M, N, K, alpha, ViewA{layout, A, lda}, b, 0, false, beta, C, ldc, 1, k_offsets);
}

#else  // not x86-64 with GCC/Clang: never supported, never called

bool sgemm_avx512_supported() {
  return false;
}

void sgemm_avx512(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                  std::int64_t, const float*, std::int64_t, float, float*, std::int64_t) {}
void sgemm_avx512_indexed(std::int64_t, std::int64_t, std::int64_t, float, const float*,
                          const std::int64_t*, const std::int64_t*, bool, const float*,
                          std::int64_t, float, float*, std::int64_t, std::int64_t) {}
void sgemm_avx512_indexed_b(bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                            std::int64_t, const float*, const std::int64_t*, float, float*,
                            std::int64_t) {}

#endif

}  // namespace tapegrad::kernels
