#include "tapegrad/core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
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

// "<path>.tmp-<pid>-<n>": no other live writer (thread or process) uses that name.
std::string temporary_name(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter.fetch_add(1));
}

// Deletes temporary `file` ("<target>.tmp-<pid>-<n>", `suffix` is the part after ".tmp-") if the
// process that wrote it is gone.
void remove_if_stale(const std::filesystem::path& file, std::string_view suffix) {
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), pid);
  if (ec != std::errc() || pid <= 0 || end == suffix.data() + suffix.size() || *end != '-')
    return;                                           // not a name we make
  if (::kill(pid, 0) == 0 || errno != ESRCH) return;  // its writer (or that pid) is alive
  // The pid may belong to another pid namespace sharing this directory: a live writer holds
  // flock(LOCK_EX) on its temporary until after the rename, and the kernel drops that lock when
  // its process dies. Only the locked file itself is removed: the name must still point to it.
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  struct stat locked {};
  struct stat named {};
  const bool stale = ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &locked) == 0 &&
                     S_ISREG(locked.st_mode) && ::lstat(file.c_str(), &named) == 0 &&
                     named.st_dev == locked.st_dev && named.st_ino == locked.st_ino;
  if (stale) ::unlink(file.c_str());  // while the lock is held
  ::close(fd);
}

// Removes the temporaries of `path` whose writer died before commit (a crash, SIGKILL, the OOM
// killer): a multi-megabyte checkpoint would otherwise leave one behind per crash. Best effort:
// an error only means that a stale file stays.
void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = std::filesystem::path(path).filename().string() + ".tmp-";
  std::error_code ec;
  std::filesystem::directory_iterator it(directory_of(path), ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix))
      remove_if_stale(it->path(), std::string_view(name).substr(prefix.size()));
  }
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string_view op)
    : path_(std::move(path)), op_(op) {
  check(!path_.empty(), "{}: expected a file path, got an empty string", op_);
  check(!std::filesystem::is_directory(path_), "{}: cannot write {}: it is a directory", op_,
        path_);
  remove_stale_temporaries(path_);
  // 0666 filtered by the umask, like any newly created file (mkstemp would force 0600). A name
  // may be taken by a file that an earlier process with our pid left behind: try the next one.
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path_ = temporary_name(path_);
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0 || errno != EEXIST) break;
  }
  if (fd_ < 0)
    fail("{}: cannot write {}: cannot create a file in directory {}: {}", op_, path_,
         directory_of(path_), std::strerror(errno));
  // Marks the temporary as in use (see remove_if_stale); released when fd_ is closed. NOTE: on a
  // file system without flock this fails, and so does every attempt to lock another writer's
  // temporary: nothing is removed there, and saving still works.
  ::flock(fd_, LOCK_EX | LOCK_NB);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() noexcept {
  ::unlink(temp_path_.c_str());  // before close: the lock guards the name until it is gone
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
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
  // Renamed while still open and locked, so that no other writer takes the temporary for a stale
  // one; fsync has already reported any write error, so close cannot lose data after this.
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail_errno("rename failed");
  committed_ = true;
  ::close(fd_);
  fd_ = -1;
  // Make the rename itself durable. Best effort: some file systems refuse fsync on directories,
  // and the new contents are already complete under the target name.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace tapegrad
