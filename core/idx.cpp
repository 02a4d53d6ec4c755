// IDX reading and writing. Reading goes through zlib's gzread, which also reads uncompressed
// files unchanged, so raw and .gz files share one path; only the size check differs: a raw file's
// payload must be exactly what the header claims, a gzip one can decompress to at most 1032 times
// its compressed size (deflate's maximum ratio), which bounds any allocation.
#include "tapegrad/core/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string_view>

#include "tapegrad/core/atomic_file.hpp"
#include "tapegrad/core/error.hpp"

namespace tapegrad {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;
constexpr std::uint64_t kMaxDeflateRatio = 1032;
constexpr std::size_t kChunk = std::size_t{1} << 24;  // gzread/deflate take unsigned lengths

std::string_view idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "unknown";
  }
}

struct GzCloser {
  void operator()(gzFile f) const { gzclose_r(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// The decompressed size a gzip trailer records (mod 2^32; its last member only); 0 if unreadable.
std::uint32_t gzip_trailer_size(const std::string& path, std::uint64_t file_size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr || file_size < 4) {
    if (f) std::fclose(f);
    return 0;
  }
  std::array<unsigned char, 4> b{};
  const bool ok = std::fseek(f, -4, SEEK_END) == 0 && std::fread(b.data(), 1, 4, f) == 4;
  std::fclose(f);
  return ok ? std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
                  std::uint32_t{b[3]} << 24
            : 0;
}

class IdxReader {
 public:
  explicit IdxReader(const std::string& path) : path_(path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    check(std::filesystem::exists(status), "read_idx: {}: no such file", path);
    check(std::filesystem::is_regular_file(status), "read_idx: {}: not a regular file", path);
    file_size_ = std::filesystem::file_size(path, ec);
    check(!ec, "read_idx: {}: cannot read its size: {}", path, ec.message());
    file_.reset(gzopen(path.c_str(), "rb"));
    check(file_ != nullptr, "read_idx: {}: cannot open: {}", path, std::strerror(errno));
    gzbuffer(file_.get(), 1 << 17);
  }

  bool compressed() const { return gzdirect(file_.get()) == 0; }
  std::uint64_t file_size() const { return file_size_; }

  // Reads up to n bytes; returns how many arrived (fewer only at the end of the data).
  std::size_t read(void* dst, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const auto want = static_cast<unsigned>(std::min(n - got, kChunk));
      const int r = gzread(file_.get(), static_cast<char*>(dst) + got, want);
      if (r < 0) fail("read_idx: {}: corrupt or unreadable data ({})", path_, zlib_error());
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }

  // zlib's reason for a short or failed read ("unexpected end of file", "invalid block type").
  std::string zlib_error() {
    int code = Z_OK;
    const char* msg = gzerror(file_.get(), &code);
    if (code == Z_ERRNO) return std::strerror(errno);
    if (code == Z_OK || msg == nullptr || *msg == '\0') return "end of file";
    std::string_view text = msg;  // zlib prefixes the path: "<path>: invalid block type"
    if (text.starts_with(path_ + ": ")) text.remove_prefix(path_.size() + 2);
    return std::string(text);
  }

  // True when the stream ended cleanly: the gzip trailer was present and its checksum matched.
  bool ended_cleanly() {
    int code = Z_OK;
    gzerror(file_.get(), &code);
    return code == Z_OK;
  }

 private:
  std::string path_;
  std::uint64_t file_size_ = 0;
  GzFile file_;
};

}  // namespace

IdxArray read_idx(const std::string& path) {
  IdxReader in(path);
  std::array<std::uint8_t, 4> magic{};
  const std::size_t got_magic = in.read(magic.data(), magic.size());
  check(got_magic == 4, "read_idx: {}: truncated: expected a 4-byte IDX header, got {} bytes", path,
        got_magic);
  check(
      magic[0] == 0 && magic[1] == 0,
      "read_idx: {}: not an IDX file: expected magic bytes 00 00 <type> <rank>, got {:02x} {:02x} "
      "{:02x} {:02x}",
      path, magic[0], magic[1], magic[2], magic[3]);
  check(magic[2] == kUnsignedByte,
        "read_idx: {}: expected element type 0x08 (unsigned byte), got 0x{:02x} ({}); tapegrad "
        "reads unsigned-byte IDX files only",
        path, magic[2], idx_type_name(magic[2]));
  const int rank = magic[3];
  check(rank >= 1, "read_idx: {}: expected at least one dimension, got 0", path);

  std::vector<std::uint8_t> size_bytes(static_cast<std::size_t>(rank) * 4);
  const std::size_t got_sizes = in.read(size_bytes.data(), size_bytes.size());
  check(got_sizes == size_bytes.size(),
        "read_idx: {}: truncated: the header declares {} dimensions ({} bytes of sizes), the file "
        "holds {} bytes after the magic",
        path, rank, size_bytes.size(), got_sizes);

  IdxArray out;
  out.dims.resize(static_cast<std::size_t>(rank));
  std::uint64_t numel = 1;
  bool overflow = false;
  for (int d = 0; d < rank; ++d) {
    const std::uint8_t* b = &size_bytes[static_cast<std::size_t>(d) * 4];
    const std::uint64_t s = std::uint64_t{b[0]} << 24 | std::uint64_t{b[1]} << 16 |
                            std::uint64_t{b[2]} << 8 | std::uint64_t{b[3]};
    out.dims[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(s);
    if (s != 0 && numel > (std::uint64_t{1} << 62) / s) overflow = true;
    numel *= s;
  }
  check(!overflow, "read_idx: {}: absurd header: sizes {} overflow 2^62 elements", path, out.dims);

  // What the file can hold, checked before allocating.
  const std::uint64_t header_bytes = 4 + size_bytes.size();
  if (!in.compressed()) {
    const std::uint64_t payload = in.file_size() - header_bytes;
    check(payload >= numel,
          "read_idx: {}: truncated: header sizes {} need {} bytes of data, the file holds {}", path,
          out.dims, numel, payload);
    check(payload == numel,
          "read_idx: {}: header sizes {} need {} bytes of data, but the file holds {} (trailing "
          "bytes: a mismatched header?)",
          path, out.dims, numel, payload);
  } else {
    const std::uint64_t bound = in.file_size() * kMaxDeflateRatio;
    check(numel <= bound,
          "read_idx: {}: absurd header: sizes {} claim {} bytes of data, but {} compressed bytes "
          "decompress to at most {}",
          path, out.dims, numel, in.file_size(), bound);
  }

  // A gzip trailer that agrees with the header lets us allocate once; otherwise grow as data
  // arrives, so a lying header costs no more memory than the stream really holds.
  const bool trailer_agrees =
      !in.compressed() ||
      gzip_trailer_size(path, in.file_size()) == static_cast<std::uint32_t>(header_bytes + numel);
  out.data.reserve(trailer_agrees ? numel : std::min<std::uint64_t>(numel, in.file_size()));
  std::uint64_t have = 0;
  while (have < numel) {
    const std::size_t step =
        static_cast<std::size_t>(std::min<std::uint64_t>(numel - have, kChunk));
    out.data.resize(static_cast<std::size_t>(have) + step);
    const std::size_t got = in.read(out.data.data() + have, step);
    have += got;
    if (got < step) {
      fail(
          "read_idx: {}: truncated: header sizes {} need {} bytes of data, the stream ends after "
          "{} "
          "({})",
          path, out.dims, numel, have, in.zlib_error());
    }
  }
  std::uint8_t extra = 0;
  check(in.read(&extra, 1) == 0,
        "read_idx: {}: header sizes {} need {} bytes of data, but the stream holds more (trailing "
        "bytes: a mismatched header?)",
        path, out.dims, numel);
  check(in.ended_cleanly(),
        "read_idx: {}: truncated or corrupt gzip stream after all {} bytes of data ({})", path,
        numel, in.zlib_error());
  return out;
}

namespace {

// Streams bytes through deflate (gzip wrapper) into the writer.
class GzipWriter {
 public:
  explicit GzipWriter(AtomicFileWriter& out) : out_(out) {
    const int rc =
        deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    check(rc == Z_OK, "write_idx: {}: cannot start gzip compression (zlib error {})", out_.path(),
          rc);
  }
  ~GzipWriter() { deflateEnd(&z_); }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  void write(const void* data, std::size_t n) {
    const auto* p = static_cast<const Bytef*>(data);
    while (n > 0) {
      const auto step = static_cast<uInt>(std::min(n, kChunk));
      z_.next_in = const_cast<Bytef*>(p);
      z_.avail_in = step;
      pump(Z_NO_FLUSH);
      p += step;
      n -= step;
    }
  }
  void finish() { pump(Z_FINISH); }

 private:
  void pump(int flush) {
    std::array<Bytef, 1 << 16> buf;
    int rc = Z_OK;
    do {
      z_.next_out = buf.data();
      z_.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&z_, flush);
      check(rc != Z_STREAM_ERROR, "write_idx: {}: gzip compression failed", out_.path());
      out_.write(buf.data(), buf.size() - z_.avail_out);
    } while (z_.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }

  AtomicFileWriter& out_;
  z_stream z_{};
};

}  // namespace

void write_idx(const std::string& path, const IdxArray& array) {
  const std::size_t rank = array.dims.size();
  check(rank >= 1 && rank <= 255, "write_idx: {}: expected 1 to 255 dimensions, got {}", path,
        rank);
  std::uint64_t numel = 1;
  for (std::int64_t s : array.dims) {
    check(s >= 0 && s <= std::numeric_limits<std::uint32_t>::max(),
          "write_idx: {}: expected sizes in [0, 2^32), got {}", path, array.dims);
    const auto u = static_cast<std::uint64_t>(s);
    check(u == 0 || numel <= std::numeric_limits<std::uint64_t>::max() / u,
          "write_idx: {}: sizes {} overflow 2^64 elements", path, array.dims);
    numel *= u;
  }
  check(numel == array.data.size(), "write_idx: {}: sizes {} need {} elements, got {}", path,
        array.dims, numel, array.data.size());

  std::vector<std::uint8_t> header = {0, 0, kUnsignedByte, static_cast<std::uint8_t>(rank)};
  for (std::int64_t s : array.dims) {
    const auto u = static_cast<std::uint32_t>(s);
    header.insert(header.end(),
                  {static_cast<std::uint8_t>(u >> 24), static_cast<std::uint8_t>(u >> 16),
                   static_cast<std::uint8_t>(u >> 8), static_cast<std::uint8_t>(u)});
  }

  AtomicFileWriter out(path, "write_idx");
  if (path.ends_with(".gz")) {
    GzipWriter gz(out);
    gz.write(header.data(), header.size());
    gz.write(array.data.data(), array.data.size());
    gz.finish();
  } else {
    out.write(header.data(), header.size());
    out.write(array.data.data(), array.data.size());
  }
  out.commit();
}

}  // namespace tapegrad
