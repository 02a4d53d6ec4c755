#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;
using tg::testing::expect_error;
using tg::testing::read_bytes;
using tg::testing::TempDir;
using tg::testing::write_bytes;

namespace {

// A gzip file of exactly `bytes`, written with zlib directly (not through write_idx).
void write_gzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// An IDX header: 00 00 <type> <rank> then big-endian sizes.
std::vector<std::uint8_t> header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::vector<std::uint8_t> h = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    h.insert(h.end(), {static_cast<std::uint8_t>(d >> 24), static_cast<std::uint8_t>(d >> 16),
                       static_cast<std::uint8_t>(d >> 8), static_cast<std::uint8_t>(d)});
  return h;
}

std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(Idx, ReadsHandWrittenRawFile) {
  TempDir dir;
  const std::string path = dir.file("x-idx3-ubyte");
  write_bytes(path, concat(header(0x08, {2, 1, 3}), {10, 20, 30, 40, 50, 255}));
  const tg::IdxArray a = tg::read_idx(path);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 1, 3}));
  EXPECT_EQ(a.data, (std::vector<std::uint8_t>{10, 20, 30, 40, 50, 255}));
}

TEST(Idx, ReadsHandWrittenGzipFileWhateverItsName) {
  TempDir dir;
  const std::string path = dir.file("no-suffix");
  write_gzip(path, concat(header(0x08, {300}), std::vector<std::uint8_t>(300, 7)));
  const tg::IdxArray a = tg::read_idx(path);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{300}));
  EXPECT_EQ(a.data, std::vector<std::uint8_t>(300, 7));
}

TEST(Idx, WriteRawHasTheStandardLayout) {
  TempDir dir;
  const std::string path = dir.file("labels-idx1-ubyte");
  tg::write_idx(path, {{3}, {7, 2, 1}});
  EXPECT_EQ(read_bytes(path), (std::vector<std::uint8_t>{0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1}));
}

TEST(Idx, WriteGzipRoundTrip) {
  TempDir dir;
  tg::IdxArray a{{4, 28, 28}, std::vector<std::uint8_t>(4 * 28 * 28)};
  for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<std::uint8_t>(i * 37);
  const std::string path = dir.file("images-idx3-ubyte.gz");
  tg::write_idx(path, a);
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes[0], 0x1f);  // gzip magic
  EXPECT_EQ(bytes[1], 0x8b);
  const tg::IdxArray b = tg::read_idx(path);
  EXPECT_EQ(b.dims, a.dims);
  EXPECT_EQ(b.data, a.data);
}

TEST(Idx, WriteReplacesAnExistingFileAndLeavesNoTemporaries) {
  TempDir dir;
  const std::string path = dir.file("a-idx1-ubyte");
  tg::write_idx(path, {{2}, {1, 2}});
  tg::write_idx(path, {{1}, {9}});
  EXPECT_EQ(tg::read_idx(path).data, (std::vector<std::uint8_t>{9}));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Idx, WriteRejectsInconsistentArrays) {
  TempDir dir;
  const std::string path = dir.file("bad");
  expect_error([&] { tg::write_idx(path, {{2, 2}, {1, 2, 3}}); }, {"write_idx", path, "need 4"});
  expect_error([&] { tg::write_idx(path, {{}, {}}); }, {"1 to 255 dimensions"});
  expect_error([&] { tg::write_idx(path, {{std::int64_t{1} << 32}, {}}); }, {"[0, 2^32)"});
  expect_error([&] { tg::write_idx(dir.file("missing/x"), {{1}, {1}}); }, {"write_idx", "missing"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  expect_error([&] { tg::read_idx(dir.file("nope")); }, {"read_idx", dir.file("nope"), "no such"});
}

TEST(Idx, BadMagic) {
  TempDir dir;
  const std::string path = dir.file("bad");
  write_bytes(path, {0x01, 0x02, 0x08, 0x01, 0, 0, 0, 0});
  expect_error([&] { tg::read_idx(path); }, {path, "not an IDX file", "01 02 08 01"});
}

TEST(Idx, UnsupportedElementTypeIsNamed) {
  TempDir dir;
  const std::string path = dir.file("floats");
  write_bytes(path, concat(header(0x0D, {1}), {0, 0, 0, 0}));
  expect_error([&] { tg::read_idx(path); }, {path, "0x0d", "float32", "unsigned byte"});
}

TEST(Idx, ZeroDimensions) {
  TempDir dir;
  const std::string path = dir.file("rank0");
  write_bytes(path, header(0x08, {}));
  expect_error([&] { tg::read_idx(path); }, {path, "at least one dimension"});
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  const std::string path = dir.file("short");
  write_bytes(path, {0, 0, 8});
  expect_error([&] { tg::read_idx(path); }, {path, "truncated", "4-byte"});
  std::vector<std::uint8_t> h = header(0x08, {5, 5});
  h.resize(h.size() - 2);
  write_bytes(path, h);
  expect_error([&] { tg::read_idx(path); }, {path, "truncated", "2 dimensions"});
}

TEST(Idx, TruncatedPayload) {
  TempDir dir;
  const std::string raw = dir.file("raw"), gz = dir.file("gz");
  const auto bytes = concat(header(0x08, {10, 4}), std::vector<std::uint8_t>(39, 1));
  write_bytes(raw, bytes);
  expect_error([&] { tg::read_idx(raw); }, {raw, "truncated", "need 40", "holds 39"});
  write_gzip(gz, bytes);
  expect_error([&] { tg::read_idx(gz); }, {gz, "truncated", "need 40", "after 39"});
}

TEST(Idx, TrailingBytesMeanAMismatchedHeader) {
  TempDir dir;
  const std::string raw = dir.file("raw"), gz = dir.file("gz");
  const auto bytes = concat(header(0x08, {3}), {1, 2, 3, 4});
  write_bytes(raw, bytes);
  expect_error([&] { tg::read_idx(raw); }, {raw, "need 3", "holds 4", "mismatched"});
  write_gzip(gz, bytes);
  expect_error([&] { tg::read_idx(gz); }, {gz, "need 3", "holds more", "mismatched"});
}

TEST(Idx, AbsurdSizesAreRejectedBeforeAllocating) {
  TempDir dir;
  const std::string raw = dir.file("raw"), gz = dir.file("gz"), huge = dir.file("huge");
  // 2^30 * 2^30 = 2^60 elements claimed by a tiny file.
  const auto bytes = concat(header(0x08, {1u << 30, 1u << 30}), {1, 2, 3});
  write_bytes(raw, bytes);
  expect_error([&] { tg::read_idx(raw); }, {raw, "truncated", "1152921504606846976"});
  write_gzip(gz, bytes);
  expect_error([&] { tg::read_idx(gz); }, {gz, "absurd", "1152921504606846976"});
  write_bytes(huge, header(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  expect_error([&] { tg::read_idx(huge); }, {huge, "absurd", "overflow"});
}

TEST(Idx, CorruptGzipStream) {
  TempDir dir;
  const std::string path = dir.file("corrupt.gz");
  tg::IdxArray a{{64, 64}, std::vector<std::uint8_t>(64 * 64)};
  for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<std::uint8_t>(i * i);
  tg::write_idx(path, a);
  std::vector<std::uint8_t> bytes = read_bytes(path);
  // Keep the gzip header, scramble the deflate stream.
  for (std::size_t i = 12; i < bytes.size() - 8; i += 3) bytes[i] ^= 0xA5;
  write_bytes(path, bytes);
  expect_error([&] { tg::read_idx(path); }, {"read_idx", path});
  // A wrong checksum in the trailer, then a missing trailer: the data itself decompresses fine.
  tg::write_idx(path, a);
  bytes = read_bytes(path);
  bytes[bytes.size() - 8] ^= 0xFF;
  write_bytes(path, bytes);
  expect_error([&] { tg::read_idx(path); }, {"read_idx", path, "incorrect data check"});
  bytes.resize(bytes.size() - 6);
  write_bytes(path, bytes);
  expect_error([&] { tg::read_idx(path); }, {"read_idx", path, "truncated or corrupt gzip"});
  // Cut in half: a truncated stream.
  tg::write_idx(path, a);
  bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(path, bytes);
  expect_error([&] { tg::read_idx(path); }, {"read_idx", path});
}
