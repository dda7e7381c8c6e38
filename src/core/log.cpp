#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

namespace tandem::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::mutex g_sink_mutex;

void default_sink(Level lvl, std::string_view component, std::string_view message) {
  static auto logger = spdlog::stderr_color_mt("tandem");
  static const spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                      spdlog::level::warn, spdlog::level::err, spdlog::level::off};
  logger->set_level(spdlog::level::debug);
  logger->log(kLevels[static_cast<int>(lvl)], "[{}] {}", component, message);
}

Sink& sink() {
  static Sink s = default_sink;
  return s;
}

}  // namespace

void set_sink(Sink s) {
  std::lock_guard lock(g_sink_mutex);
  sink() = s ? std::move(s) : Sink(default_sink);
}

void set_level(Level lvl) { g_level = lvl; }
Level level() { return g_level; }

bool parse_level(std::string_view name, Level* out) {
  static const std::pair<std::string_view, Level> kNames[] = {
      {"debug", Level::kDebug}, {"info", Level::kInfo}, {"warn", Level::kWarn}, {"error", Level::kError}, {"off", Level::kOff}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      *out = l;
      return true;
    }
  }
  return false;
}

void write(Level lvl, std::string_view component, std::string_view message) {
  if (lvl < level()) return;
  std::lock_guard lock(g_sink_mutex);
  sink()(lvl, component, message);
}

}  // namespace tandem::log
