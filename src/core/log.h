// Logging through one injectable sink, with the level checked before any formatting.
//
//   TANDEM_LOG(kInfo, "engine", "loaded {} ({} layers)", path, n_layers);
//   tandem::log::set_sink([](auto level, auto component, auto message) { ... });
//
// Library code never prints to stdout; the default sink writes to stderr via spdlog.
// Never pass secrets or raw user text. Thread-safety: all functions are thread-safe;
// set_sink/set_level are meant for start-up.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace tandem::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

using Sink = std::function<void(Level, std::string_view component, std::string_view message)>;

void set_sink(Sink sink);
void set_level(Level level);
Level level();
bool parse_level(std::string_view name, Level* out);
void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void logf(Level lvl, std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  if (lvl < level()) return;
  write(lvl, component, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tandem::log

#define TANDEM_LOG(lvl, component, ...) ::tandem::log::logf(::tandem::log::Level::lvl, component, __VA_ARGS__)
