#include "engine/text_stream.h"

#include <algorithm>

namespace tandem::engine {
namespace {

// Number of bytes a UTF-8 sequence with this lead byte has, or 0 for a continuation/invalid byte.
int utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

}  // namespace

size_t utf8_complete_prefix(std::string_view text) {
  // Look back at most 3 bytes for the lead byte of the last character.
  size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    auto byte = static_cast<unsigned char>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte
    int length = utf8_sequence_length(byte);
    return (length == 0 || static_cast<size_t>(length) <= back) ? n : n - back;
  }
  return n;
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    int length = utf8_sequence_length(lead);
    if (length == 0 || i + length > text.size()) return false;
    uint32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      auto byte = static_cast<unsigned char>(text[i + k]);
      if ((byte & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (byte & 0x3F);
    }
    static const uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinimum[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

bool TextStream::append(std::string_view piece) {
  if (stopped_) return true;
  const size_t search_from = text_.size();
  text_.append(piece);
  for (const auto& stop : stop_) {
    // A stop sequence may straddle the previous text and this piece.
    size_t from = search_from >= stop.size() ? search_from - stop.size() + 1 : 0;
    size_t at = text_.find(stop, from);
    if (at != std::string::npos) {
      text_.resize(at);
      stopped_ = true;
    }
  }
  return stopped_;
}

size_t TextStream::ready_end() const {
  size_t end = utf8_complete_prefix(text_);
  if (stopped_) return end;
  // Hold back a tail that is the beginning of some stop sequence.
  size_t hold = 0;
  for (const auto& stop : stop_) {
    for (size_t k = std::min(stop.size() - 1, text_.size()); k > hold; --k) {
      if (std::string_view(text_).substr(text_.size() - k) == std::string_view(stop).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  return std::min(end, text_.size() - hold);
}

std::string TextStream::take_ready() {
  size_t end = ready_end();
  std::string out = text_.substr(0, end);
  text_.erase(0, end);
  return out;
}

std::string TextStream::take_rest() {
  std::string out = text_.substr(0, utf8_complete_prefix(text_));
  text_.clear();
  return out;
}

}  // namespace tandem::engine
