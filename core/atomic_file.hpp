// AtomicFileWriter: writes a file so that readers, and a crash, only ever see the old contents or
// the complete new ones. Bytes go to a temporary file in the target's directory; commit() flushes
// it to disk (fsync), renames it over the target and syncs the directory. If commit() is never
// reached (an error, an exception, a crash), the target is untouched and the temporary is removed:
// by the writer itself, or, when its process died (SIGKILL, power loss), by the next writer of the
// same path, which deletes the temporaries "<path>.tmp-*" that no live writer holds.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tapegrad {

/// Crash-safe file replacement; errors are tapegrad::Error naming `op` and the path.
///   tg::AtomicFileWriter out("model.safetensors", "save_safetensors");
///   out.write(header.data(), header.size());  out.commit();
class AtomicFileWriter {
 public:
  /// Creates the temporary file next to `path`. Fails if the directory is missing or unwritable.
  AtomicFileWriter(std::string path, std::string_view op);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t nbytes);
  /// Makes the new contents durable and visible under `path`. Call once, after the last write.
  void commit();

  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail_errno(std::string_view what);
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  std::string op_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace tapegrad
