#include "tapegrad/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tapegrad/core/error.hpp"

namespace tapegrad {
namespace {

std::string directory_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// A name no other writer (thread or process) uses at the same time: pid plus a process counter.
std::string temporary_name(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter.fetch_add(1));
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string_view op)
    : path_(std::move(path)), temp_path_(temporary_name(path_)), op_(op) {
  check(!path_.empty(), "{}: expected a file path, got an empty string", op_);
  check(!std::filesystem::is_directory(path_), "{}: cannot write {}: it is a directory", op_,
        path_);
  // 0666 filtered by the umask, like any newly created file (mkstemp would force 0600).
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0)
    fail("{}: cannot write {}: cannot create a file in directory {}: {}", op_, path_,
         directory_of(path_), std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::fail_errno(std::string_view what) {
  const int err = errno;
  discard();
  fail("{}: cannot write {}: {}: {}", op_, path_, what, std::strerror(err));
}

void AtomicFileWriter::write(const void* data, std::size_t nbytes) {
  check(fd_ >= 0, "{}: write to {} after commit", op_, path_);
  const auto* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    const ::ssize_t n = ::write(fd_, p, nbytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write failed");
    }
    p += n;
    nbytes -= static_cast<std::size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  check(fd_ >= 0, "{}: {} committed twice", op_, path_);
  if (::fsync(fd_) != 0) fail_errno("fsync failed");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno("close failed");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail_errno("rename failed");
  committed_ = true;
  // Make the rename itself durable. Best effort: some file systems refuse fsync on directories,
  // and the new contents are already complete under the target name.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace tapegrad
