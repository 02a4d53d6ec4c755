#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "support/test_support.hpp"

namespace tg = tapegrad;

TEST(Log, SilentByDefaultAndRoutedToTheHostSink) {
  auto logger = tg::logger();
  EXPECT_EQ(logger->name(), "tapegrad");
  EXPECT_EQ(spdlog::get("tapegrad"), logger);  // the host can find it by name
  if (std::getenv("TAPEGRAD_LOG_LEVEL") == nullptr) {
    EXPECT_EQ(logger->level(), spdlog::level::off);
  }

  std::ostringstream out;
  const auto previous_sinks = logger->sinks();
  const auto previous_level = logger->level();
  tg::set_log_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->info("hidden while off");
  tg::set_log_level("off");
  logger->info("still hidden");
  tg::set_log_level("info");
  logger->info("shown {}", 42);
  logger->debug("below the level");
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("shown 42"), std::string::npos);
  EXPECT_EQ(out.str().find("below the level"), std::string::npos);

  EXPECT_THROW(tg::set_log_level("loud"), tg::Error);
  EXPECT_THROW(tg::set_log_sink(nullptr), tg::Error);
  logger->sinks() = previous_sinks;
  logger->set_level(previous_level);
}
