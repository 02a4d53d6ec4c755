// A checkpoint writer killed with SIGKILL at random moments, mid-write included, never leaves a
// torn checkpoint: after every kill, the file loads and is bitwise one complete checkpoint that was
// written. The writer is this test program itself, re-executed (/proc/self/exe) with a filter that
// runs only CheckpointKill.DISABLED_WriterProcess (disabled, so ctest and plain runs skip it): a
// fork of a process running oneTBB threads could not safely go on running library code.
//
// What happens to the temporary a killed writer leaves behind: the next save of the same path
// removes it (AtomicFileWriter deletes "<path>.tmp-*" files whose writer is dead), so at most one
// exists at any time, and later saves are not disturbed by it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "data/temp_dir.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
using tg::testing::read_bytes;
using tg::testing::TempDir;

namespace {

constexpr const char* kPathVar = "TAPEGRAD_TEST_CHECKPOINT_WRITER_PATH";
constexpr const char* kFirstVar = "TAPEGRAD_TEST_CHECKPOINT_WRITER_FIRST";
constexpr int kReportFd = 3;         // the writer reports on this pipe:
constexpr std::int64_t kReady = -1;  // about to save, then k after each committed checkpoint k

// Checkpoint k: a 512 -> 2048 Linear layer (4 MiB of float32 weights) with fixed random weights
// plus k, its SGD state, and epoch = step = k.
struct Checkpoints {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<tg::optim::SGD> optimizer;
  std::vector<tg::Tensor> base;

  Checkpoints() {
    tg::Generator gen(7);
    model = std::make_shared<nn::Sequential>(
        nn::Sequential{nn::Linear(nn::LinearOptions(512, 2048), gen)});
    optimizer = std::make_unique<tg::optim::SGD>(model->parameters(),
                                                 tg::optim::SGDOptions(0.1).momentum(0.9));
    for (const tg::Tensor& p : model->parameters()) base.push_back(tg::copy_data(p, p.dtype()));
  }

  void save(const std::string& path, std::int64_t k) {
    {
      tg::NoGradGuard no_grad;
      std::vector<tg::Tensor> params = model->parameters();
      for (std::size_t i = 0; i < params.size(); ++i)
        params[i].copy_(base[i]).add_(static_cast<double>(k));
    }
    tg::optim::save_training_checkpoint(path, *model, *optimizer, nullptr,
                                        {k, k, {{"test", "checkpoint-kill"}}});
  }
};

struct Writer {
  pid_t pid = -1;
  int reports = -1;  // read end of the report pipe
};

// Starts this program as a writer of checkpoints first, first + 1, ... to `path`.
Writer spawn_writer(const std::string& path, std::int64_t first) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, fds[1], kReportFd);  // clears close-on-exec
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);

  std::vector<std::string> env_strings{std::string(kPathVar) + "=" + path,
                                       std::string(kFirstVar) + "=" + std::to_string(first)};
  for (char** e = environ; *e != nullptr; ++e)
    if (!std::string_view(*e).starts_with("TAPEGRAD_TEST_CHECKPOINT_WRITER_"))
      env_strings.emplace_back(*e);
  std::vector<char*> env;
  for (std::string& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string exe = "/proc/self/exe",
              filter = "--gtest_filter=CheckpointKill.DISABLED_WriterProcess",
              disabled = "--gtest_also_run_disabled_tests";
  char* argv[] = {exe.data(), filter.data(), disabled.data(), nullptr};

  Writer w;
  const int rc = ::posix_spawn(&w.pid, exe.c_str(), &actions, nullptr, argv, env.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("posix_spawn failed: " + std::string(std::strerror(rc)));
  }
  w.reports = fds[0];
  return w;
}

// Reads one report, waiting at most `timeout`; false at end of file or on timeout.
bool read_report(int fd, std::int64_t& value, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  return ::read(fd, &value, sizeof value) == sizeof value;  // pipe writes of 8 bytes are atomic
}

std::vector<std::string> temporaries_in(const std::filesystem::path& dir, const std::string& of) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().starts_with(of + ".tmp-"))
      names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

// The writer side: runs only when CheckpointKill.KilledWriterNeverLeavesATornCheckpoint starts
// this program with the environment variables set.
TEST(CheckpointKill, DISABLED_WriterProcess) {
  const char* path = std::getenv(kPathVar);
  const char* first = std::getenv(kFirstVar);
  if (path == nullptr || first == nullptr)
    GTEST_SKIP() << "the writer process of CheckpointKill.KilledWriterNeverLeavesATornCheckpoint";
  Checkpoints checkpoints;
  auto report = [](std::int64_t v) { ASSERT_EQ(::write(kReportFd, &v, sizeof v), 8); };
  report(kReady);
  // Bounded, in case nobody kills it; the test counts an exit as a failure.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (std::int64_t k = std::stoll(first); std::chrono::steady_clock::now() < deadline; ++k) {
    checkpoints.save(path, k);
    report(k);
  }
}

TEST(CheckpointKill, KilledWriterNeverLeavesATornCheckpoint) {
  TempDir dir, refs;
  const std::string path = dir.file("run.ckpt");
  const std::string ref_path = refs.file("ref.ckpt");
  Checkpoints checkpoints, loaded;

  // The time one save takes here (page cache and fsync), to spread the kills over a few saves.
  std::vector<double> times;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    checkpoints.save(ref_path, 0);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double save_seconds = times[1];

  std::map<std::int64_t, std::vector<std::uint8_t>> reference;  // k -> bytes of checkpoint k
  auto expected = [&](std::int64_t k) -> const std::vector<std::uint8_t>& {
    auto it = reference.find(k);
    if (it == reference.end()) {
      checkpoints.save(ref_path, k);
      it = reference.emplace(k, read_bytes(ref_path)).first;
    }
    return it->second;
  };

  checkpoints.save(path, 0);  // checkpoint A
  std::int64_t current = 0;   // the checkpoint the file holds
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> delay(0.0, 3.0 * save_seconds);
  constexpr int kRounds = 20;
  int mid_write = 0;
  for (int round = 1; round <= kRounds; ++round) {
    const std::int64_t first = 1000 * round;  // writers never repeat a checkpoint
    const Writer w = spawn_writer(path, first);
    std::int64_t report = 0;
    ASSERT_TRUE(read_report(w.reports, report, std::chrono::seconds(60)) && report == kReady)
        << "the writer did not start";
    // Every fourth kill lands at once (before or during the first save), the rest anywhere in
    // the next three saves.
    if (round % 4 != 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    ASSERT_EQ(::kill(w.pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(w.pid, &status, 0), w.pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended before it was killed (status " << status << ")";
    std::vector<std::int64_t> committed;
    while (read_report(w.reports, report, std::chrono::seconds(0))) committed.push_back(report);
    ::close(w.reports);

    // At most one temporary: each save removes those its dead predecessors left.
    const std::vector<std::string> temps = temporaries_in(dir.path(), "run.ckpt");
    EXPECT_LE(temps.size(), 1u) << round;
    const std::string own = fmt::format("run.ckpt.tmp-{}-", w.pid);
    const bool killed_mid_write =
        std::any_of(temps.begin(), temps.end(), [&](const auto& t) { return t.starts_with(own); });
    mid_write += killed_mid_write;

    // The file is the last checkpoint the writer reported, or the next one if the kill fell
    // between its rename and its report; with no report, the previous one or the first.
    tg::optim::TrainingState state;
    ASSERT_NO_THROW(state = tg::optim::load_training_checkpoint(path, *loaded.model,
                                                                *loaded.optimizer, nullptr))
        << "round " << round;
    const std::int64_t k = state.step;
    const std::int64_t a = committed.empty() ? current : committed.back();
    const std::int64_t b = committed.empty() ? first : committed.back() + 1;
    EXPECT_TRUE(k == a || k == b) << "round " << round << ": checkpoint " << k << ", expected " << a
                                  << " or " << b;
    EXPECT_EQ(state.epoch, k);
    EXPECT_TRUE(read_bytes(path) == expected(k)) << "round " << round << ": the file is not "
                                                 << "checkpoint " << k << " byte for byte";
    current = k;
  }
  ::testing::Test::RecordProperty("kills_mid_write", mid_write);
  ::testing::Test::RecordProperty("kills_between_saves", kRounds - mid_write);
  ::testing::Test::RecordProperty("save_ms", static_cast<int>(save_seconds * 1000));
  EXPECT_GE(mid_write, 1) << "no kill landed while a temporary existed";

  // A later save works and removes whatever the killed writers left.
  checkpoints.save(path, 7);
  EXPECT_TRUE(temporaries_in(dir.path(), "run.ckpt").empty());
  EXPECT_TRUE(read_bytes(path) == expected(7));
}
