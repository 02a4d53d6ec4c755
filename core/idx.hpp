// IDX files, the format of MNIST and Fashion-MNIST: a big-endian header
//   00 00 <type> <rank>  then <rank> uint32 sizes, outermost first,
// followed by the elements in row-major order. Files may be gzip-compressed (detected by the
// gzip magic 1f 8b, not by the name). tapegrad reads and writes unsigned-byte IDX (type 0x08),
// the only type the MNIST family uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad {

/// The contents of an unsigned-byte IDX file: sizes outermost first, elements row-major.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;
};

/// Reads a raw or gzip-compressed IDX file of unsigned bytes. A missing, truncated, corrupt or
/// inconsistent file is a tapegrad::Error naming the file and the problem; the header's sizes are
/// checked against what the file can hold before anything is allocated.
///   tg::IdxArray labels = tg::read_idx("data/mnist/train-labels-idx1-ubyte.gz");
IdxArray read_idx(const std::string& path);

/// Writes `array` as an IDX file, gzip-compressed when `path` ends in ".gz". The file is replaced
/// atomically (see AtomicFileWriter). dims must have 1 to 255 entries, each < 2^32, whose product
/// is data.size().
///   tg::write_idx("labels-idx1-ubyte", {{3}, {7, 2, 1}});
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace tapegrad
