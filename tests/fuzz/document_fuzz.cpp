// libFuzzer target for the document parsers: the first input byte picks the format, the rest is
// the file. Small limits keep each run fast and make the limit paths reachable.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/knowledge/*.cpp \
//     src/core/status.cpp tests/fuzz/document_fuzz.cpp $(pkg-config --cflags --libs poppler-cpp \
//     gumbo libzip libxml-2.0 icu-uc) -lfmt -o document_fuzz
//   ./document_fuzz -max_total_time=60 tests/fuzz/corpus/document
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "knowledge/document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view kNames[] = {"x.txt", "x.md", "x.html", "x.csv", "x.docx", "x.pdf"};
  const std::string_view name = kNames[data[0] % std::size(kNames)];
  tandem::knowledge::ParseLimits limits;
  limits.max_file_bytes = 1 << 20;
  limits.max_extracted_bytes = 1 << 18;
  auto doc =
      tandem::knowledge::parse_bytes(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), name, limits);
  if (!doc.ok()) return 0;
  // Invariants of every parse: no empty blocks, and text that is valid UTF-8.
  for (const auto& block : doc->blocks) {
    if (block.text.empty()) __builtin_trap();
    const std::string_view t = block.text;
    for (size_t i = 0; i < t.size();) {
      const auto lead = static_cast<unsigned char>(t[i]);
      const size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
      if (n == 0 || i + n > t.size()) __builtin_trap();
      for (size_t k = 1; k < n; ++k) {
        if ((static_cast<unsigned char>(t[i + k]) & 0xC0) != 0x80) __builtin_trap();
      }
      i += n;
    }
  }
  return 0;
}
