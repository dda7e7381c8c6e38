// Private helpers shared by the document parsers (document.cpp, parse_*.cpp): text cleaning,
// streaming line reading with the binary-data check, and the block list that enforces the
// extracted-text limit. Not part of the module's API.
//
//   LineReader lines(bytes, limits);                  // or LineReader(file, limits): streamed
//   DocumentBuilder doc(DocumentFormat::kText, limits);
//   std::string line;
//   while (true) {
//     auto more = lines.next(line);                     // valid UTF-8; binary data is an error
//     if (!more) return more.error();
//     if (!*more) break;
//     if (auto s = doc.add(BlockKind::kParagraph, line); !s) return s.error();  // text limit
//   }
//   return std::move(doc).finish();
//
// Thread-safety: every object belongs to one parse call; the free functions are pure.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "knowledge/document.h"

namespace tandem::knowledge::detail {

// Valid UTF-8 for any input: invalid sequences become U+FFFD, control characters (other than
// '\n') become spaces, runs of spaces/tabs/NBSP shrink to one space and every line is trimmed.
// Empty lines are dropped, so the result has no blank lines. CJK text passes unchanged.
std::string normalize_block(std::string_view text);

// True for a line of only ASCII spaces, tabs, '\r', '\f' or '\v': a paragraph break.
bool is_blank_line(std::string_view line);

// Splits on '\n' after normalize_block-style repair; lines with only whitespace separate
// paragraphs. Returns the paragraphs' raw text (not yet normalized).
std::vector<std::string_view> split_paragraphs(std::string_view text);

// Counts what in a byte stream is not text and decides whether the stream is binary.
class TextCheck {
 public:
  // Appends `raw` to `out` as valid UTF-8 (bad sequences -> U+FFFD); fails on a NUL byte.
  Status repair(std::string_view raw, std::string& out);
  // kDataLoss "binary data, not text" when more than 1 byte in 10 (and at least 16 bytes) was
  // not text: invalid UTF-8 or control characters other than white space and ESC.
  Status verdict() const;

 private:
  int64_t bytes_ = 0;
  int64_t not_text_ = 0;
};

// The whole buffer as valid UTF-8 after the binary-data check (for HTML).
Result<std::string> repair_text(std::string_view bytes);

// Reads lines from memory or from a file in fixed-size chunks, never holding more than one line
// plus one chunk. Strips a UTF-8 BOM and "\r\n", repairs invalid UTF-8 and refuses binary data
// (after the first 64 KiB and again at the end). A file never yields more than
// limits.max_file_bytes, a line never more than limits.max_extracted_bytes.
class LineReader {
 public:
  LineReader(std::string_view bytes, const ParseLimits& limits);
  LineReader(std::FILE* file, const ParseLimits& limits);  // does not take ownership

  // The next line into `line` (true), or false at the end; errors are final.
  Result<bool> next(std::string& line);
  int64_t line_number() const { return line_number_; }

 private:
  Result<bool> next_raw(std::string_view& raw);
  Status refill();

  std::FILE* file_ = nullptr;
  ParseLimits limits_;
  std::string buffer_;     // file mode: the chunk(s) holding rest_
  std::string_view rest_;  // bytes not yet returned
  bool eof_ = false;
  int64_t file_bytes_ = 0;
  int64_t line_number_ = 0;
  int64_t bytes_seen_ = 0;
  bool head_checked_ = false;
  TextCheck check_;
};

// The growing ParsedDocument: normalizes block text, drops empty blocks, takes the first heading
// as title unless one was set, and enforces limits.max_extracted_bytes.
class DocumentBuilder {
 public:
  DocumentBuilder(DocumentFormat format, const ParseLimits& limits);

  Status add(BlockKind kind, std::string_view text, int32_t page = 0, int32_t level = 0);
  // One kParagraph per blank-line separated part of `text`.
  Status add_paragraphs(std::string_view text, int32_t page = 0);
  // kResourceExhausted if `pending` more bytes would pass the limit (for text still being gathered).
  Status check_pending(size_t pending) const;

  void set_title(std::string_view title);
  void set_pages(int32_t pages) { doc_.pages = pages; }
  ParsedDocument finish() && { return std::move(doc_); }

 private:
  ParsedDocument doc_;
  int64_t max_extracted_;
  int64_t extracted_ = 0;
  bool title_set_ = false;
};

Error too_much_text(int64_t limit);

// Per-format parsers of an in-memory buffer.
Result<ParsedDocument> parse_html(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> parse_pdf(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> parse_docx(std::string_view bytes, const ParseLimits& limits);
// Per-format parsers of a line stream (memory or file).
Result<ParsedDocument> parse_text(LineReader& lines, const ParseLimits& limits);
Result<ParsedDocument> parse_markdown(LineReader& lines, const ParseLimits& limits);
Result<ParsedDocument> parse_csv(LineReader& lines, const ParseLimits& limits);

}  // namespace tandem::knowledge::detail
