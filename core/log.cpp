#include "tapegrad/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "tapegrad/core/error.hpp"

namespace tapegrad {
namespace {

spdlog::level::level_enum parse_level(std::string_view name) {
  const std::string s(name);
  const auto level = spdlog::level::from_str(s);
  // from_str maps unknown names to "off": accept "off" only when asked for.
  check(level != spdlog::level::off || s == "off",
        "log level: expected trace, debug, info, warn, error, critical or off, got '{}'", s);
  return level;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    if (auto existing = spdlog::get("tapegrad")) return existing;
    auto l = std::make_shared<spdlog::logger>(
        "tapegrad", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_level(spdlog::level::off);
    if (const char* env = std::getenv("TAPEGRAD_LOG_LEVEL")) {
      try {
        l->set_level(parse_level(env));
      } catch (const Error&) {
        l->set_level(spdlog::level::warn);
        l->warn("TAPEGRAD_LOG_LEVEL='{}' is not a level; using warn", env);
      }
    }
    try {
      spdlog::register_logger(l);
    } catch (const spdlog::spdlog_ex&) {
      // a logger of that name appeared meanwhile; keep ours unregistered
    }
    return l;
  }();
  return instance;
}

void set_log_level(spdlog::level::level_enum level) {
  logger()->set_level(level);
}
void set_log_level(std::string_view level) {
  set_log_level(parse_level(level));
}

void set_log_sink(spdlog::sink_ptr sink) {
  check(sink != nullptr, "set_log_sink: expected a sink, got null");
  auto l = logger();
  l->sinks().clear();
  l->sinks().push_back(std::move(sink));
}

}  // namespace tapegrad
