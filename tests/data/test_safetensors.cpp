#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;
using tg::testing::expect_error;
using tg::testing::read_bytes;
using tg::testing::TempDir;
using tg::testing::write_bytes;

namespace {

bool same_bits(const tg::Tensor& a, const tg::Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// A file with the given header text (length-prefixed) followed by `data_bytes` zero bytes.
void write_file(const std::string& path, const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + data_bytes, 0);
  write_bytes(path, bytes);
}

std::size_t files_in(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

}  // namespace

TEST(Safetensors, LoadsTheHandWrittenFixture) {
  const tg::SafetensorsFile f =
      tg::read_safetensors(tg::testing::fixture("safetensors/small.safetensors"));
  EXPECT_EQ(f.metadata, (tg::SafetensorsMetadata{{"format", "pt"}, {"note", "tapegrad fixture"}}));
  ASSERT_EQ(f.tensors.size(), 5u);
  // In data order, whatever the JSON key order.
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"labels", "conv.weight", "step", "empty", "bn.running_var"}));
  const tg::Tensor& labels = f.tensors[0].second;
  EXPECT_EQ(labels.dtype(), tg::kInt64);
  EXPECT_EQ(labels.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{0, -1, std::int64_t{1} << 62, 9}));
  const tg::Tensor& w = f.tensors[1].second;
  EXPECT_EQ(w.shape(), (tg::Shape{2, 1, 2, 2}));
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{-0.875f, -0.625f, -0.375f, -0.125f, 0.125f,
                                                      0.375f, 0.625f, 0.875f}));
  const tg::Tensor& step = f.tensors[2].second;
  EXPECT_EQ(step.dim(), 0);
  EXPECT_EQ(step.item<std::int64_t>(), -(std::int64_t{1} << 40) - 7);
  EXPECT_EQ(f.tensors[3].second.shape(), (tg::Shape{0, 3}));
  const tg::Tensor& var = f.tensors[4].second;
  EXPECT_EQ(var.dtype(), tg::kFloat64);
  EXPECT_EQ(var.to_vector<double>(), (std::vector<double>{0.1, 1.0 / 3.0, 1e300}));

  const auto by_name =
      tg::load_safetensors_map(tg::testing::fixture("safetensors/small.safetensors"));
  EXPECT_EQ(by_name.at("conv.weight").at<float>({1, 0, 1, 1}), 0.875f);
}

TEST(Safetensors, RoundTripKeepsOrderDtypesShapesAndBits) {
  TempDir dir;
  tg::Generator gen(7);
  const tg::NamedTensors tensors = {
      {"features.0.weight", tg::randn({4, 1, 3, 3}, gen)},
      {"features.1.running_mean", tg::randn({4}, gen, tg::kFloat64)},
      {"features.1.num_batches_tracked", tg::scalar_tensor(123456789, tg::kInt64)},
      {"scale", tg::scalar_tensor(-2.5)},
      {"nothing", tg::zeros({2, 0})},
      {"ids", tg::from_vector(std::vector<std::int64_t>{-5, 0, INT64_MAX}, {3})},
  };
  const std::string path = dir.file("model.safetensors");
  tg::save_safetensors(path, tensors, {{"epoch", "3"}, {"arch", "lenet"}});
  const tg::SafetensorsFile f = tg::read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, tensors[i].first);
    EXPECT_TRUE(same_bits(f.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(f.metadata, (tg::SafetensorsMetadata{{"arch", "lenet"}, {"epoch", "3"}}));
  EXPECT_EQ(tg::load_safetensors(path).size(), tensors.size());
}

TEST(Safetensors, WrittenFileFollowsTheFormat) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  tg::save_safetensors(path, {{"a", tg::from_vector(std::vector<float>{1, 2}, {2})},
                              {"b", tg::from_vector(std::vector<double>{3}, {1, 1})}});
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t{bytes[i]} << (8 * i);
  EXPECT_EQ(n % 8, 0u);  // padded so the data is 8-byte aligned
  ASSERT_EQ(bytes.size(), 8 + n + 8 + 8);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  EXPECT_EQ(header["a"],
            nlohmann::json::parse(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"));
  EXPECT_EQ(header["b"],
            nlohmann::json::parse(R"({"dtype":"F64","shape":[1,1],"data_offsets":[8,16]})"));
  EXPECT_FALSE(header.contains("__metadata__"));
  float a1 = 0;
  std::memcpy(&a1, bytes.data() + 8 + n + 4, 4);
  EXPECT_EQ(a1, 2.0f);
}

TEST(Safetensors, SaveReplacesAtomicallyAndFailedSavesLeaveThePreviousFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  tg::save_safetensors(path, {{"w", tg::full({2}, 1.0)}});
  tg::save_safetensors(path, {{"w", tg::full({3}, 2.0)}});
  EXPECT_EQ(tg::load_safetensors(path)[0].second.to_vector<float>(), (std::vector<float>{2, 2, 2}));
  const std::vector<std::uint8_t> before = read_bytes(path);
  expect_error(
      [&] {
        tg::save_safetensors(path, {{"w", tg::ones({1})}, {"w", tg::ones({1})}});
      },
      {"save_safetensors", path, "\"w\" appears twice"});
  expect_error([&] { tg::save_safetensors(path, {{"", tg::ones({1})}}); }, {"non-empty"});
  expect_error(
      [&] {
        tg::save_safetensors(path, {{"__metadata__", tg::ones({1})}});
      },
      {"reserved"});
  expect_error([&] { tg::save_safetensors(path, {{"u", tg::Tensor()}}); }, {"\"u\" is undefined"});
  expect_error([&] { tg::save_safetensors(path, {{"bad\xff", tg::ones({1})}}); }, {"UTF-8"});
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(files_in(dir.path()), 1u);  // no temporaries left behind
}

TEST(Safetensors, SaveIntoAMissingDirectoryOrOntoADirectory) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/m.safetensors");
  expect_error(
      [&] {
        tg::save_safetensors(path, {{"w", tg::ones({1})}});
      },
      {"save_safetensors", path, "No such file or directory"});
  expect_error(
      [&] {
        tg::save_safetensors(dir.path().string(), {{"w", tg::ones({1})}});
      },
      {"save_safetensors", "is a directory"});
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(Safetensors, MissingOrTruncatedFiles) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  expect_error([&] { tg::load_safetensors(path); }, {"load_safetensors", path, "no such file"});
  write_bytes(path, {1, 2, 3});
  expect_error([&] { tg::load_safetensors(path); }, {path, "truncated", "3 bytes"});

  tg::save_safetensors(path, {{"w", tg::ones({4, 4})}});
  std::vector<std::uint8_t> bytes = read_bytes(path);
  bytes.resize(bytes.size() - 5);
  write_bytes(path, bytes);
  expect_error(
      [&] { tg::load_safetensors(path); },
      {path, "\"w\"", "float32 of shape [4, 4] needs more bytes than the file's 59 bytes"});
}

TEST(Safetensors, BadHeaderLength) {
  TempDir dir;
  const std::string path = dir.file("h.safetensors");
  std::vector<std::uint8_t> bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
  write_bytes(path, bytes);
  expect_error([&] { tg::load_safetensors(path); },
               {path, "header length 9223372036854775807 exceeds the 2 bytes"});
  write_file(path, "{}", 0);
  bytes = read_bytes(path);
  bytes[0] = 1;  // claims a 1-byte header
  write_bytes(path, bytes);
  expect_error([&] { tg::load_safetensors(path); }, {path, "header length in [2,"});
}

TEST(Safetensors, BadJson) {
  TempDir dir;
  const std::string path = dir.file("j.safetensors");
  write_file(path, R"({"w": {"dtype": "F32", "shape": [1], )", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "invalid JSON header"});
  write_file(path, "[1, 2]", 0);
  expect_error([&] { tg::load_safetensors(path); }, {path, "start with '{'"});
  write_file(path, R"({"w": 3})", 0);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"w\"", "expected an object"});
  write_file(path, R"({"w": {"dtype": "F32", "shape": [1]}})", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"w\"", "data_offsets"});
  write_file(path, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}})", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"w\"", "unexpected field \"x\""});
  write_file(path, R"({"__metadata__": {"epoch": 3}})", 0);
  expect_error([&] { tg::load_safetensors(path); }, {path, "__metadata__", "\"epoch\""});
}

TEST(Safetensors, UnknownAndUnsupportedDtypes) {
  TempDir dir;
  const std::string path = dir.file("d.safetensors");
  write_file(path, R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"w\"", "unknown dtype \"F33\""});
  write_file(path, R"({"h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"h\"", "F16 is not supported"});
  write_file(path, R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4);
  expect_error([&] { tg::load_safetensors(path); }, {path, "\"w\"", "string dtype"});
}

TEST(Safetensors, BadShapesAndOffsets) {
  TempDir dir;
  const std::string path = dir.file("o.safetensors");
  auto expect = [&](const std::string& header, std::size_t data,
                    const std::vector<std::string>& parts) {
    write_file(path, header, data);
    std::vector<std::string> all = parts;
    all.push_back(path);
    expect_error([&] { tg::load_safetensors(path); }, all);
  };
  expect(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 80]}})", 8,
         {"\"w\"", "[0, 80] lie outside the file's 8 bytes"});
  expect(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8,
         {"\"w\"", "needs more bytes"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}})", 8,
         {"\"w\"", "span 8 bytes", "needs 4"});
  expect(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4,
         {"\"w\"", "integer sizes"});
  expect(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4,
         {"\"w\"", "integer sizes"});
  expect(
      R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 4]}})",
      4, {"\"w\"", "needs more bytes"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4,
         {"\"w\"", "[4, 0]"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})", 4,
         {"\"w\"", "non-negative"});
  expect(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
         12, {"\"b\"", "overlap", "\"a\""});
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
         12, {"\"b\"", "gap", "\"a\""});
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8,
         {"\"a\"", "starts at byte 4, expected 0"});
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8,
         {"ends at byte 4", "holds 8 bytes"});
}
