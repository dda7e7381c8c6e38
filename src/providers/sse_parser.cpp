#include "providers/sse_parser.h"

namespace tandem::providers {

bool SseParser::feed(std::string_view bytes, const EventCallback& on_event) {
  size_t pos = 0;
  if (skip_leading_lf_ && !bytes.empty()) {
    if (bytes.front() == '\n') pos = 1;
    skip_leading_lf_ = false;
  }
  while (pos < bytes.size()) {
    const size_t end = bytes.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      pending_line_.append(bytes.substr(pos));
      return true;
    }
    pending_line_.append(bytes.substr(pos, end - pos));
    const std::string line = std::move(pending_line_);
    pending_line_.clear();
    pos = end + 1;
    if (bytes[end] == '\r') {
      if (pos == bytes.size()) {
        skip_leading_lf_ = true;
      } else if (bytes[pos] == '\n') {
        ++pos;
      }
    }
    if (!take_line(line, on_event)) return false;
  }
  return true;
}

bool SseParser::take_line(std::string_view line, const EventCallback& on_event) {
  if (line.empty()) {  // end of the event
    if (!has_data_) return true;
    has_data_ = false;
    const std::string data = std::move(data_);
    data_.clear();
    return on_event(data);
  }
  const size_t colon = line.find(':');
  if (colon == 0) return true;  // comment, e.g. a keep-alive
  const std::string_view field = line.substr(0, colon);
  if (field != "data") return true;
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (has_data_) data_.push_back('\n');
  data_.append(value);
  has_data_ = true;
  return true;
}

}  // namespace tandem::providers
