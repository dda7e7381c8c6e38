// Incremental parser for server-sent events (text/event-stream): bytes go in as the network
// delivers them, split anywhere (even inside a line or a CRLF), and each complete event's `data`
// comes out once its terminating blank line has arrived.
//
//   SseParser parser;
//   parser.feed(bytes, [](std::string_view data) { handle(data); return true; });
//
// Only `data:` fields matter for chat streams; comments (":") and other fields are skipped.
// Several `data:` lines in one event are joined with "\n", as the SSE specification says.
// Thread-safety: one parser per stream, used by one thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tandem::providers {

class SseParser {
 public:
  // Receives one event's data; return false to stop parsing (feed returns false too).
  using EventCallback = std::function<bool(std::string_view data)>;

  bool feed(std::string_view bytes, const EventCallback& on_event);
  // Bytes of an event that has not been terminated yet (a stream cut short leaves some).
  bool has_partial_event() const { return !pending_line_.empty() || has_data_; }

 private:
  bool take_line(std::string_view line, const EventCallback& on_event);

  std::string pending_line_;  // bytes after the last line break
  std::string data_;          // the current event's data so far
  bool has_data_ = false;
  bool skip_leading_lf_ = false;  // the last chunk ended in CR, which may be half of a CRLF
};

}  // namespace tandem::providers
