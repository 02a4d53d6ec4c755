#include "tapegrad/core/npy.hpp"

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>

#include "tapegrad/core/atomic_file.hpp"

namespace tapegrad {
namespace {

static_assert(std::endian::native == std::endian::little, "tapegrad assumes a little-endian host");

constexpr char kMagic[] = "\x93NUMPY";

std::string descr_of(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return "<f4";
    case Dtype::Float64:
      return "<f8";
    case Dtype::Int64:
      return "<i8";
  }
  return "";
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// The header is a Python dict literal, {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// (numpy writes exactly these keys). Parsed by one left-to-right scan: no recursion and no
// backtracking, so a 4 GiB header (format 2.0) costs linear time and constant stack.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!consume('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        h.descr = quoted();
        has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        has_shape = true;
      } else {
        fail("load_npy: '{}': unexpected header key '{}'", path_, key);
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    check(pos_ == text_.size(), "load_npy: '{}': unexpected text after the header dict", path_);
    check(has_descr, "load_npy: '{}': header has no 'descr'", path_);
    check(has_order, "load_npy: '{}': expected C order (fortran_order False)", path_);
    check(has_shape, "load_npy: '{}': header has no 'shape'", path_);
    return h;
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    check(consume(c), "load_npy: '{}': malformed header: expected '{}' at byte {}", path_, c, pos_);
  }
  std::string quoted() {
    skip_space();
    check(pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '"'),
          "load_npy: '{}': malformed header: expected a quoted string at byte {}", path_, pos_);
    const char quote = text_[pos_++];
    const std::size_t end = text_.find(quote, pos_);
    check(end != std::string_view::npos, "load_npy: '{}': malformed header: unterminated string",
          path_);
    std::string out(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] :
         {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail("load_npy: '{}': malformed header: expected True or False at byte {}", path_, pos_);
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (!consume(')')) {
      skip_space();
      std::int64_t d = 0;
      std::size_t digits = 0;
      for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_, ++digits) {
        check(digits < 18, "load_npy: '{}': a dimension of the shape is too large", path_);
        d = d * 10 + (text_[pos_] - '0');
      }
      check(digits > 0, "load_npy: '{}': malformed header: expected a dimension at byte {}", path_,
            pos_);
      shape.push_back(d);
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

NpyHeader parse_header(const std::string& path, std::string_view text) {
  return HeaderParser(path, text).parse();
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "load_npy: cannot open '{}'", path);
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  char magic[6] = {};
  unsigned char version[2] = {};
  in.read(magic, 6);
  in.read(reinterpret_cast<char*>(version), 2);
  check(in.good() && std::memcmp(magic, kMagic, 6) == 0,
        "load_npy: '{}' is not a .npy file (expected the magic \\x93NUMPY)", path);
  check(version[0] == 1 || version[0] == 2 || version[0] == 3,
        "load_npy: '{}': expected format version 1.0, 2.0 or 3.0, got {}.{}", path, version[0],
        version[1]);
  std::uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2] = {};
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4] = {};
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  const std::uint64_t prefix = version[0] == 1 ? 10 : 12;
  check(in.good() && prefix + header_len <= file_size,
        "load_npy: '{}': header of {} bytes runs past the end of the {}-byte file", path,
        header_len, file_size);
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);

  const NpyHeader h = parse_header(path, header);
  Dtype dtype;
  if (h.descr == "<f4")
    dtype = kFloat32;
  else if (h.descr == "<f8")
    dtype = kFloat64;
  else if (h.descr == "<i8")
    dtype = kInt64;
  else
    fail("load_npy: '{}': expected dtype <f4, <f8 or <i8 (float32, float64, int64), got '{}'", path,
         h.descr);
  check(!h.fortran_order, "load_npy: '{}': expected C order (fortran_order False)", path);
  const Shape& shape = h.shape;
  const std::int64_t numel = checked_numel(shape, "load_npy");
  const std::uint64_t payload = file_size - prefix - header_len;
  check(static_cast<std::uint64_t>(numel) <= payload / element_size(dtype) &&
            static_cast<std::uint64_t>(numel) * element_size(dtype) == payload,
        "load_npy: '{}': shape {} of {} needs {} bytes of data, the file has {}", path, shape,
        dtype, static_cast<double>(numel) * static_cast<double>(element_size(dtype)), payload);
  Tensor t = empty(shape, dtype);
  in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  check(in.good() || t.nbytes() == 0, "load_npy: '{}': could not read the data", path);
  return t;
}

void save_npy(const std::string& path, const Tensor& t) {
  std::string shape;  // "(2, 3)", "(3,)" or "()"
  for (std::int64_t d = 0; d < t.dim(); ++d)
    shape += (d > 0 ? ", " : "") + std::to_string(t.shape()[d]);
  if (t.dim() == 1) shape += ",";
  std::string header = "{'descr': '" + descr_of(t.dtype()) +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  const bool v2 = header.size() + 11 > 65535;
  const std::size_t prefix = v2 ? 12 : 10;
  const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  AtomicFileWriter out(path, "save_npy");
  out.write(kMagic, 6);
  const char version[2] = {static_cast<char>(v2 ? 2 : 1), 0};
  out.write(version, 2);
  const auto len = static_cast<std::uint32_t>(header.size());
  const char len_bytes[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                             static_cast<char>((len >> 16) & 0xff),
                             static_cast<char>((len >> 24) & 0xff)};
  out.write(len_bytes, v2 ? 4 : 2);
  out.write(header.data(), header.size());
  out.write(t.raw_data(), t.nbytes());
  out.commit();
}

}  // namespace tapegrad
