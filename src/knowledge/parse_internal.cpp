#include "knowledge/parse_internal.h"

#include <unicode/utf8.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tandem::knowledge::detail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr size_t kChunkBytes = 64 * 1024;
constexpr int64_t kHeadBytes = 64 * 1024;  // the early binary check looks at this much
constexpr int64_t kMinNotText = 16;

bool is_blank_byte(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

// Calls fn(code_point, bytes) for each character; code_point < 0 for an invalid sequence.
template <typename Fn>
void for_each_code_point(std::string_view text, Fn&& fn) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int64_t length = static_cast<int64_t>(text.size());
  int64_t i = 0;
  while (i < length) {
    const int64_t start = i;
    UChar32 c;
    U8_NEXT(s, i, length, c);
    fn(c, text.substr(static_cast<size_t>(start), static_cast<size_t>(i - start)));
  }
}

// One line: repaired, controls to spaces, whitespace runs collapsed, trimmed.
void append_normalized_line(std::string_view line, std::string& out) {
  const size_t line_start = out.size();
  bool pending_space = false;
  for_each_code_point(line, [&](UChar32 c, std::string_view bytes) {
    if (c == ' ' || c == '\t' || c == 0xA0 || (c >= 0 && c < 0x20) || c == 0x7F) {
      pending_space = out.size() > line_start;
      return;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    if (c < 0) {
      out += kReplacement;
    } else {
      out += bytes;
    }
  });
}

}  // namespace

bool is_blank_line(std::string_view line) {
  return std::all_of(line.begin(), line.end(), is_blank_byte);
}

std::string normalize_block(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const size_t before = out.size();
    if (before > 0) out += '\n';
    const size_t line_start = out.size();
    append_normalized_line(text.substr(start, end - start), out);
    if (out.size() == line_start) out.resize(before);  // drop empty lines
    start = end + 1;
  }
  return out;
}

std::vector<std::string_view> split_paragraphs(std::string_view text) {
  std::vector<std::string_view> paragraphs;
  size_t start = 0;
  size_t para_start = std::string_view::npos;
  size_t para_end = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (is_blank_line(text.substr(start, end - start))) {
      if (para_start != std::string_view::npos) paragraphs.push_back(text.substr(para_start, para_end - para_start));
      para_start = std::string_view::npos;
    } else {
      if (para_start == std::string_view::npos) para_start = start;
      para_end = end;
    }
    start = end + 1;
  }
  if (para_start != std::string_view::npos) paragraphs.push_back(text.substr(para_start, para_end - para_start));
  return paragraphs;
}

Status TextCheck::repair(std::string_view raw, std::string& out) {
  if (raw.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kDataLoss, "binary data, not text (NUL byte)");
  }
  bytes_ += static_cast<int64_t>(raw.size());
  for_each_code_point(raw, [&](UChar32 c, std::string_view bytes) {
    if (c < 0) {
      not_text_ += static_cast<int64_t>(bytes.size());
      out += kReplacement;
      return;
    }
    // Controls other than whitespace and ESC (coloured logs) are a sign of binary data.
    if ((c < 0x20 && !is_blank_byte(static_cast<char>(c)) && c != 0x1B) || c == 0x7F) ++not_text_;
    out += bytes;
  });
  return {};
}

Status TextCheck::verdict() const {
  // A few bad bytes are a stray Latin-1 "é" in a short note, not a binary file.
  if (not_text_ * 10 > bytes_ && not_text_ >= kMinNotText) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("binary data, not text ({} of {} bytes are not UTF-8 text)", not_text_, bytes_));
  }
  return {};
}

Result<std::string> repair_text(std::string_view bytes) {
  if (bytes.substr(0, kBom.size()) == kBom) bytes.remove_prefix(kBom.size());
  TextCheck check;
  std::string out;
  out.reserve(bytes.size());
  if (auto status = check.repair(bytes, out); !status) return status.error();
  if (auto status = check.verdict(); !status) return status.error();
  return out;
}

LineReader::LineReader(std::string_view bytes, const ParseLimits& limits) : limits_(limits), rest_(bytes), eof_(true) {}

LineReader::LineReader(std::FILE* file, const ParseLimits& limits) : file_(file), limits_(limits) {}

Status LineReader::refill() {
  buffer_.erase(0, buffer_.size() - rest_.size());
  const size_t kept = buffer_.size();
  buffer_.resize(kept + kChunkBytes);
  const size_t n = std::fread(buffer_.data() + kept, 1, kChunkBytes, file_);
  buffer_.resize(kept + n);
  rest_ = buffer_;
  if (n < kChunkBytes) {
    if (std::ferror(file_)) {
      return make_error(ErrorCode::kUnavailable, fmt::format("read error: {}", std::strerror(errno)));
    }
    eof_ = true;
  }
  file_bytes_ += static_cast<int64_t>(n);
  if (file_bytes_ > limits_.max_file_bytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("file grew past the limit of {} bytes while reading", limits_.max_file_bytes));
  }
  return {};
}

Result<bool> LineReader::next_raw(std::string_view& raw) {
  size_t searched = 0;
  while (true) {
    const size_t newline = rest_.find('\n', searched);
    if (newline != std::string_view::npos) {
      raw = rest_.substr(0, newline);
      rest_.remove_prefix(newline + 1);
      return true;
    }
    if (static_cast<int64_t>(rest_.size()) > limits_.max_extracted_bytes)
      return too_much_text(limits_.max_extracted_bytes);
    if (eof_) {
      if (rest_.empty()) return false;
      raw = rest_;
      rest_ = {};
      return true;
    }
    searched = rest_.size();
    if (auto status = refill(); !status) return status.error();
  }
}

Result<bool> LineReader::next(std::string& line) {
  std::string_view raw;
  auto more = next_raw(raw);
  if (!more) return more.error();
  if (!*more) {
    if (auto status = check_.verdict(); !status) return status.error();
    return false;
  }
  if (line_number_++ == 0 && raw.substr(0, kBom.size()) == kBom) raw.remove_prefix(kBom.size());
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  bytes_seen_ += static_cast<int64_t>(raw.size()) + 1;
  line.clear();
  if (auto status = check_.repair(raw, line); !status) return status.error();
  if (!head_checked_ && bytes_seen_ >= kHeadBytes) {
    head_checked_ = true;
    if (auto status = check_.verdict(); !status) return status.error();
  }
  return true;
}

DocumentBuilder::DocumentBuilder(DocumentFormat format, const ParseLimits& limits)
    : max_extracted_(limits.max_extracted_bytes) {
  doc_.format = format;
}

Error too_much_text(int64_t limit) {
  return make_error(ErrorCode::kResourceExhausted, fmt::format("extracted text exceeds the limit of {} bytes", limit));
}

Status DocumentBuilder::check_pending(size_t pending) const {
  if (extracted_ + static_cast<int64_t>(pending) > max_extracted_) return too_much_text(max_extracted_);
  return {};
}

Status DocumentBuilder::add(BlockKind kind, std::string_view text, int32_t page, int32_t level) {
  std::string normalized = normalize_block(text);
  if (normalized.empty()) return {};
  if (auto status = check_pending(normalized.size()); !status) return status;
  if (kind == BlockKind::kHeading) std::replace(normalized.begin(), normalized.end(), '\n', ' ');
  extracted_ += static_cast<int64_t>(normalized.size());
  if (kind == BlockKind::kHeading && !title_set_) set_title(normalized);
  doc_.blocks.push_back(Block{kind, std::move(normalized), page, kind == BlockKind::kHeading ? level : 0});
  return {};
}

Status DocumentBuilder::add_paragraphs(std::string_view text, int32_t page) {
  for (std::string_view paragraph : split_paragraphs(text)) {
    if (auto status = add(BlockKind::kParagraph, paragraph, page); !status) return status;
  }
  return {};
}

void DocumentBuilder::set_title(std::string_view title) {
  std::string normalized = normalize_block(title);
  if (normalized.empty()) return;
  std::replace(normalized.begin(), normalized.end(), '\n', ' ');
  doc_.title = std::move(normalized);
  title_set_ = true;
}

}  // namespace tandem::knowledge::detail
