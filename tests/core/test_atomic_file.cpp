// AtomicFileWriter's temporaries: those of writers that died are removed by the next writer of the
// same path; those of live writers, and files that are not its temporaries, are left alone.
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

namespace tg = tapegrad;
using tg::testing::read_bytes;
using tg::testing::TempDir;
using tg::testing::write_bytes;

extern char** environ;

namespace {

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t pid = 0;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  EXPECT_EQ(::posix_spawnp(&pid, "true", nullptr, nullptr, argv, environ), 0);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return pid;
}

void save(const std::string& path, const std::string& text) {
  tg::AtomicFileWriter out(path, "test");
  out.write(text.data(), text.size());
  out.commit();
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(AtomicFile, TemporaryOfADeadWriterIsRemovedByTheNextSave) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string stale = fmt::format("{}.tmp-{}-0", path, dead_pid());
  write_bytes(stale, {1, 2, 3});
  save(path, "new");
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(read_bytes(path), (std::vector<std::uint8_t>{'n', 'e', 'w'}));
}

TEST(AtomicFile, TemporaryOfALiveWriterIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  tg::AtomicFileWriter slow(path, "test");  // created, not committed yet
  slow.write("slow", 4);
  save(path, "fast");
  EXPECT_EQ(files_in(dir.path()).size(), 2u);  // ckpt and slow's temporary
  slow.commit();
  EXPECT_EQ(read_bytes(path), (std::vector<std::uint8_t>{'s', 'l', 'o', 'w'}));
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"ckpt"});
}

TEST(AtomicFile, LockedTemporaryOfAnUnknownPidIsLeftAlone) {
  // A writer in another pid namespace sharing the directory: its pid means nothing here, but it
  // holds the lock on its temporary.
  TempDir dir;
  const std::string path = dir.file("ckpt");
  const std::string other = fmt::format("{}.tmp-{}-3", path, dead_pid());
  write_bytes(other, {7});
  const int fd = ::open(other.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  save(path, "a");
  EXPECT_TRUE(std::filesystem::exists(other));
  ::close(fd);  // that writer dies
  save(path, "b");
  EXPECT_FALSE(std::filesystem::exists(other));
}

TEST(AtomicFile, FilesThatAreNotItsTemporariesAreLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  const pid_t pid = dead_pid();
  const std::vector<std::string> others{
      fmt::format("ckpt.tmp-{}", pid),        // no counter
      fmt::format("ckpt.tmp-x{}-0", pid),     // not a pid
      fmt::format("ckpt.tmpx-{}-0", pid),     // another suffix
      fmt::format("other.tmp-{}-0", pid),     // another target
      fmt::format("ckpt.old.tmp-{}-0", pid),  // another target
  };
  for (const std::string& name : others) write_bytes(dir.file(name), {1});
  save(path, "x");
  std::vector<std::string> expected = others;
  expected.push_back("ckpt");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(files_in(dir.path()), expected);
}

TEST(AtomicFile, NamesLeftByAnEarlierProcessWithTheSamePidAreSkipped) {
  // After a restart in a fresh container the writer often gets the same pid as the one that
  // crashed; its leftover names must not make saving fail.
  TempDir dir;
  const std::string path = dir.file("ckpt");
  for (int n = 0; n < 50; ++n) write_bytes(fmt::format("{}.tmp-{}-{}", path, ::getpid(), n), {1});
  for (int i = 0; i < 3; ++i) save(path, "ok");
  EXPECT_EQ(read_bytes(path), (std::vector<std::uint8_t>{'o', 'k'}));
}
