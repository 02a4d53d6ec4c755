// The parsers read files, so each fuzz target writes its input to one temporary file per process
// (created on the first call, rewritten on every call) and hands the parser that path.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tapegrad::fuzz {

/// Writes data[0, size) to this process's input file and returns its path. Aborts (a finding
/// for libFuzzer) if the file cannot be written: a broken harness must not look like a pass.
inline const std::string& write_input_file(const std::uint8_t* data, std::size_t size,
                                           const char* suffix) {
  static const std::string path = [&] {
    const auto dir = std::filesystem::temp_directory_path();
    return (dir / ("tapegrad_fuzz_" + std::to_string(::getpid()) + suffix)).string();
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace tapegrad::fuzz
