// Logging: one spdlog logger named "tapegrad". Silent by default; the level comes from
// set_log_level() or the TAPEGRAD_LOG_LEVEL environment variable (trace, debug, info, warn,
// error, critical, off). A host program can route it to its own sink with set_log_sink().
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace tapegrad {

/// The library's logger (created on first use; reuses a logger named "tapegrad" if the host
/// registered one).  tg::logger()->info("epoch {} done", e);
std::shared_ptr<spdlog::logger> logger();

/// Sets the level: tg::set_log_level(spdlog::level::info);
void set_log_level(spdlog::level::level_enum level);
/// Parses "info", "debug", ... and sets it; a tapegrad::Error for an unknown name.
void set_log_level(std::string_view level);
/// Sends tapegrad's log lines to `sink` only (replacing the default stderr sink).
void set_log_sink(spdlog::sink_ptr sink);

}  // namespace tapegrad
