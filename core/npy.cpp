#include "tapegrad/core/npy.hpp"

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

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

  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex order_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  check(std::regex_search(header, m, descr_re), "load_npy: '{}': header has no 'descr'", path);
  const std::string descr = m[1];
  Dtype dtype;
  if (descr == "<f4")
    dtype = kFloat32;
  else if (descr == "<f8")
    dtype = kFloat64;
  else if (descr == "<i8")
    dtype = kInt64;
  else
    fail("load_npy: '{}': expected dtype <f4, <f8 or <i8 (float32, float64, int64), got '{}'", path,
         descr);
  check(std::regex_search(header, m, order_re) && m[1] == "False",
        "load_npy: '{}': expected C order (fortran_order False)", path);
  check(std::regex_search(header, m, shape_re), "load_npy: '{}': header has no 'shape'", path);
  Shape shape;
  const std::string dims = m[1];
  static const std::regex int_re(R"(\s*(\d+)\s*,?)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), int_re);
       it != std::sregex_iterator(); ++it) {
    const std::string digits = (*it)[1];
    check(digits.size() <= 18, "load_npy: '{}': dimension {} is too large", path, digits);
    shape.push_back(std::stoll(digits));
  }
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

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    check(out.good(), "save_npy: cannot write '{}'", tmp);
    out.write(kMagic, 6);
    const char version[2] = {static_cast<char>(v2 ? 2 : 1), 0};
    out.write(version, 2);
    const auto len = static_cast<std::uint32_t>(header.size());
    const char len_bytes[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                               static_cast<char>((len >> 16) & 0xff),
                               static_cast<char>((len >> 24) & 0xff)};
    out.write(len_bytes, v2 ? 4 : 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    out.flush();
    check(out.good(), "save_npy: writing '{}' failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    fail("save_npy: cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
}

}  // namespace tapegrad
