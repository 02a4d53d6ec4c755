#include "tapegrad/core/safetensors.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "tapegrad/core/atomic_file.hpp"
#include "tapegrad/core/error.hpp"

namespace tapegrad {
namespace {

// NOTE: tensors are written and read as raw bytes, which is the format's little-endian layout
// only on a little-endian machine (every platform tapegrad targets).
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::uint64_t kMaxDimSize = std::uint64_t{1} << 40;  // tapegrad's largest tensor

std::string_view safetensors_dtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return "F32";
    case Dtype::Float64:
      return "F64";
    case Dtype::Int64:
      return "I64";
  }
  return "?";
}

// ---- saving ----

std::string build_header(const std::string& path, const NamedTensors& tensors,
                         const SafetensorsMetadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[std::string(kMetadataKey)] = std::move(meta);
  }
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check(!name.empty(), "save_safetensors: {}: expected non-empty tensor names", path);
    check(name != kMetadataKey, "save_safetensors: {}: the name \"{}\" is reserved", path, name);
    check(seen.insert(name).second, "save_safetensors: {}: tensor name \"{}\" appears twice", path,
          name);
    check(tensor.defined(), "save_safetensors: {}: tensor \"{}\" is undefined", path, name);
    const std::uint64_t begin = offset;
    offset += tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {begin, offset}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(
        "save_safetensors: {}: cannot encode the header (names and metadata must be valid "
        "UTF-8): {}",
        path, e.what());
  }
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// ---- loading ----

struct Entry {
  std::string name;
  Dtype dtype = kFloat32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

Dtype parse_dtype(const std::string& path, const std::string& name, const nlohmann::json& v) {
  check(v.is_string(), "load_safetensors: {}: tensor \"{}\": expected a string dtype, got {}", path,
        name, v.dump());
  const std::string s = v.get<std::string>();
  if (s == "F32") return kFloat32;
  if (s == "F64") return kFloat64;
  if (s == "I64") return kInt64;
  static constexpr std::array<std::string_view, 12> kOther = {
      "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "I16", "I32", "U8", "U16", "U32", "U64", "BOOL"};
  check(std::find(kOther.begin(), kOther.end(), s) == kOther.end(),
        "load_safetensors: {}: tensor \"{}\": dtype {} is not supported (tapegrad holds F32, F64 "
        "and I64)",
        path, name, s);
  fail("load_safetensors: {}: tensor \"{}\": unknown dtype \"{}\"", path, name, s);
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v,
                  std::uint64_t data_size) {
  check(v.is_object(), "load_safetensors: {}: tensor \"{}\": expected an object, got {}", path,
        name, v.dump());
  for (const auto& [field, _] : v.items())
    check(field == "dtype" || field == "shape" || field == "data_offsets",
          "load_safetensors: {}: tensor \"{}\": unexpected field \"{}\"", path, name, field);
  check(
      v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
      "load_safetensors: {}: tensor \"{}\": expected fields dtype, shape and data_offsets, got {}",
      path, name, v.dump());
  Entry e;
  e.name = name;
  e.dtype = parse_dtype(path, name, v["dtype"]);

  const nlohmann::json& shape = v["shape"];
  check(shape.is_array(), "load_safetensors: {}: tensor \"{}\": expected a shape array, got {}",
        path, name, shape.dump());
  for (const auto& s : shape) {
    check(s.is_number_unsigned() && s.get<std::uint64_t>() <= kMaxDimSize,
          "load_safetensors: {}: tensor \"{}\": expected integer sizes in [0, 2^40], got shape {}",
          path, name, shape.dump());
    e.shape.push_back(s.get<std::int64_t>());
  }
  std::uint64_t nbytes = element_size(e.dtype);
  for (std::int64_t size : e.shape) {
    // Checked before multiplying, so the product never overflows.
    check(nbytes == 0 || static_cast<std::uint64_t>(size) <= data_size / nbytes,
          "load_safetensors: {}: tensor \"{}\": {} of shape {} needs more bytes than the file's {} "
          "bytes of data",
          path, name, dtype_name(e.dtype), e.shape, data_size);
    nbytes *= static_cast<std::uint64_t>(size);
  }

  const nlohmann::json& offsets = v["data_offsets"];
  check(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
            offsets[1].is_number_unsigned(),
        "load_safetensors: {}: tensor \"{}\": expected data_offsets [begin, end] of non-negative "
        "integers, got {}",
        path, name, offsets.dump());
  e.begin = offsets[0].get<std::uint64_t>();
  e.end = offsets[1].get<std::uint64_t>();
  check(
      e.begin <= e.end && e.end <= data_size,
      "load_safetensors: {}: tensor \"{}\": data_offsets [{}, {}] lie outside the file's {} bytes "
      "of data",
      path, name, e.begin, e.end, data_size);
  check(e.end - e.begin == nbytes,
        "load_safetensors: {}: tensor \"{}\": data_offsets [{}, {}] span {} bytes, but {} of shape "
        "{} needs {}",
        path, name, e.begin, e.end, e.end - e.begin, dtype_name(e.dtype), e.shape, nbytes);
  return e;
}

SafetensorsMetadata parse_metadata(const std::string& path, const nlohmann::json& v) {
  check(v.is_object(), "load_safetensors: {}: expected \"__metadata__\" to be an object, got {}",
        path, v.dump());
  SafetensorsMetadata out;
  for (const auto& [key, value] : v.items()) {
    check(value.is_string(),
          "load_safetensors: {}: \"__metadata__\": expected string values, got {} for key \"{}\"",
          path, value.dump(), key);
    out[key] = value.get<std::string>();
  }
  return out;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafetensorsMetadata& metadata) {
  const std::string header = build_header(path, tensors, metadata);
  std::array<unsigned char, 8> length{};
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  AtomicFileWriter out(path, "save_safetensors");
  out.write(length.data(), length.size());
  out.write(header.data(), header.size());
  for (const auto& [name, tensor] : tensors) out.write(tensor.raw_data(), tensor.nbytes());
  out.commit();
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::error_code ec;
  check(std::filesystem::is_regular_file(path, ec), "load_safetensors: {}: no such file", path);
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  check(!ec, "load_safetensors: {}: cannot read its size: {}", path, ec.message());
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  check(file != nullptr, "load_safetensors: {}: cannot open: {}", path, std::strerror(errno));
  auto read_exactly = [&](void* dst, std::uint64_t n, std::string_view what) {
    const std::size_t got = std::fread(dst, 1, static_cast<std::size_t>(n), file.get());
    check(got == n, "load_safetensors: {}: truncated: {} needs {} bytes, the file ends after {}",
          path, what, n, got);
  };

  check(file_size >= 8,
        "load_safetensors: {}: truncated: expected an 8-byte header length, the file has {} bytes",
        path, file_size);
  std::array<unsigned char, 8> length_bytes{};
  read_exactly(length_bytes.data(), 8, "the header length");
  std::uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= std::uint64_t{length_bytes[i]} << (8 * i);
  check(header_size <= file_size - 8,
        "load_safetensors: {}: header length {} exceeds the {} bytes that follow it", path,
        header_size, file_size - 8);
  check(header_size >= 2 && header_size <= kMaxHeaderBytes,
        "load_safetensors: {}: expected a header length in [2, {}], got {}", path, kMaxHeaderBytes,
        header_size);
  std::string text(static_cast<std::size_t>(header_size), '\0');
  read_exactly(text.data(), header_size, "the header");
  check(text.front() == '{', "load_safetensors: {}: expected the JSON header to start with '{{'",
        path);

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("load_safetensors: {}: invalid JSON header: {}", path, e.what());
  }
  check(header.is_object(), "load_safetensors: {}: expected a JSON object header", path);

  const std::uint64_t data_size = file_size - 8 - header_size;
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      out.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value, data_size));
  }

  // The tensors must tile the data buffer exactly: sorted by offset, each starts where the
  // previous one ends, and the last ends at the end of the file.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected_begin = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin != expected_begin) {
      if (previous == nullptr)
        fail(
            "load_safetensors: {}: tensor \"{}\": the first tensor's data starts at byte {}, "
            "expected 0",
            path, e.name, e.begin);
      fail(
          "load_safetensors: {}: tensor \"{}\": data_offsets [{}, {}] {} tensor \"{}\" at [{}, "
          "{}]",
          path, e.name, e.begin, e.end, e.begin < expected_begin ? "overlap" : "leave a gap after",
          previous->name, previous->begin, previous->end);
    }
    expected_begin = e.end;
    previous = &e;
  }
  check(expected_begin == data_size,
        "load_safetensors: {}: the tensors' data ends at byte {}, but the file holds {} bytes of "
        "data",
        path, expected_begin, data_size);

  // Sizes are now bounded by the file, so allocating cannot exceed what it holds.
  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    read_exactly(t.raw_data(), e.end - e.begin, fmt::format("tensor \"{}\"", e.name));
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

NamedTensors load_safetensors(const std::string& path) {
  return read_safetensors(path).tensors;
}

std::map<std::string, Tensor> load_safetensors_map(const std::string& path) {
  std::map<std::string, Tensor> out;
  for (auto& [name, tensor] : read_safetensors(path).tensors) out.emplace(name, std::move(tensor));
  return out;
}

}  // namespace tapegrad
