// libFuzzer target for the pattern-based PII detector: any bytes in, and the spans that come out
// must be in bounds, non-empty, sorted and non-overlapping; on valid UTF-8 they must also start
// and end on character boundaries, so redaction never splits a character.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/privacy/checksums.cpp \
//     src/privacy/pattern_detector.cpp tests/fuzz/pii_detector_fuzz.cpp -lre2 -o pii_detector_fuzz
//   ./pii_detector_fuzz -max_total_time=60 tests/fuzz/corpus/pii_detector
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "privacy/pattern_detector.h"

namespace {

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

bool is_valid_utf8(std::string_view t) {
  for (size_t i = 0; i < t.size();) {
    const auto lead = static_cast<unsigned char>(t[i]);
    const size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > t.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if (!is_continuation_byte(t[i + k])) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tandem::privacy::PatternDetector detector;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto entities = detector.detect(text);
  const bool utf8 = is_valid_utf8(text);
  size_t previous_end = 0;
  for (const auto& e : entities) {
    if (e.begin >= e.end || e.end > text.size() || e.begin < previous_end) __builtin_trap();
    if (!(e.score > 0.0 && e.score <= 1.0)) __builtin_trap();
    if (static_cast<int>(e.type) < 0 || static_cast<int>(e.type) >= tandem::privacy::kEntityTypeCount) __builtin_trap();
    if (utf8 && (is_continuation_byte(text[e.begin]) || (e.end < text.size() && is_continuation_byte(text[e.end])))) {
      __builtin_trap();
    }
    previous_end = e.end;
  }
  return 0;
}
