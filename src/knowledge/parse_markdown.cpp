// Markdown: ATX and setext headings, fenced code kept as one paragraph, pipe tables as rows,
// inline markup (emphasis, code spans, links, images, tags) reduced to its text. A line-by-line
// subset of CommonMark, enough to keep a document's structure for retrieval.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge::detail {
namespace {

size_t indent_of(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

size_t run_length(std::string_view s, size_t pos, char c) {
  size_t end = pos;
  while (end < s.size() && s[end] == c) ++end;
  return end - pos;
}

// "## Title ##" -> level 2, "Title"; 0 when the line is not an ATX heading.
int atx_heading(std::string_view line, std::string_view& text) {
  const size_t indent = indent_of(line);
  if (indent > 3) return 0;
  const size_t hashes = run_length(line, indent, '#');
  if (hashes == 0 || hashes > 6) return 0;
  std::string_view rest = line.substr(indent + hashes);
  if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t') return 0;
  rest = trim(rest);
  size_t closing = rest.size();
  while (closing > 0 && rest[closing - 1] == '#') --closing;
  if (closing == 0 || rest[closing - 1] == ' ' || rest[closing - 1] == '\t') rest = trim(rest.substr(0, closing));
  text = rest;
  return static_cast<int>(hashes);
}

// A line of only `c` (and trailing blanks) after at most 3 spaces: a setext underline.
bool is_setext_underline(std::string_view line, char c) {
  const size_t indent = indent_of(line);
  if (indent > 3) return false;
  const size_t n = run_length(line, indent, c);
  return n > 0 && trim(line.substr(indent + n)).empty();
}

// "---", "* * *", "___": a thematic break.
bool is_thematic_break(std::string_view line) {
  if (indent_of(line) > 3) return false;
  const std::string_view body = trim(line);
  if (body.empty() || (body[0] != '-' && body[0] != '*' && body[0] != '_')) return false;
  size_t marks = 0;
  for (char c : body) {
    if (c == body[0]) {
      ++marks;
    } else if (c != ' ' && c != '\t') {
      return false;
    }
  }
  return marks >= 3;
}

// The opening fence's character and length, or 0.
size_t fence_open(std::string_view line, char& fence_char) {
  const size_t indent = indent_of(line);
  if (indent > 3 || indent >= line.size()) return 0;
  const char c = line[indent];
  if (c != '`' && c != '~') return 0;
  const size_t n = run_length(line, indent, c);
  if (n < 3) return 0;
  if (c == '`' && line.find('`', indent + n) != std::string_view::npos) return 0;
  fence_char = c;
  return n;
}

bool is_fence_close(std::string_view line, char fence_char, size_t fence_len) {
  const size_t indent = indent_of(line);
  if (indent > 3) return false;
  const size_t n = run_length(line, indent, fence_char);
  return n >= fence_len && trim(line.substr(indent + n)).empty();
}

bool is_table_delimiter(std::string_view line) {
  const std::string_view body = trim(line);
  bool dash = false;
  for (char c : body) {
    if (c == '-') {
      dash = true;
    } else if (c != '|' && c != ':' && c != ' ' && c != '\t') {
      return false;
    }
  }
  return dash && body.find('|') != std::string_view::npos;
}

constexpr size_t kEmphasisLookback = 16;

bool is_word_byte(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80) != 0;
}
bool is_space_byte(char c) {
  return c == ' ' || c == '\t';
}

// Removes paired emphasis runs ("**bold**", "_it_") but keeps lone or intraword markers
// ("2 * 3", "snake_case"). One pass with a stack of open runs.
std::string strip_emphasis(std::string_view s) {
  struct Run {
    size_t pos;
    size_t len;
  };
  std::vector<Run> open;
  std::vector<bool> drop(s.size(), false);
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c != '*' && c != '_') {
      ++i;
      continue;
    }
    const size_t len = run_length(s, i, c);
    const char prev = i == 0 ? ' ' : s[i - 1];
    const char next = i + len >= s.size() ? ' ' : s[i + len];
    const bool can_open = !is_space_byte(next) && (c == '*' || !is_word_byte(prev));
    const bool can_close = !is_space_byte(prev) && (c == '*' || !is_word_byte(next));
    bool closed = false;
    if (can_close) {
      // Look back a bounded number of runs so that a line of unmatched markers stays linear.
      const size_t lowest = open.size() > kEmphasisLookback ? open.size() - kEmphasisLookback : 0;
      for (size_t k = open.size(); k-- > lowest;) {
        if (s[open[k].pos] == c && open[k].len == len) {
          for (size_t j = 0; j < len; ++j) drop[open[k].pos + j] = drop[i + j] = true;
          open.resize(k);
          closed = true;
          break;
        }
      }
    }
    if (!closed && can_open) open.push_back({i, len});
    i += len;
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (!drop[i]) out += s[i];
  }
  return out;
}

// std::string_view::find that remembers its last answer per character: a line full of unmatched
// openers ("[[[[", "<a<a<a") stays linear instead of rescanning the rest of the line each time.
class Finder {
 public:
  explicit Finder(std::string_view s) : s_(s) {}

  size_t find(char c, size_t from) {
    Memo& memo = memo_[static_cast<unsigned char>(c)];
    // No `c` lies in [memo.from, memo.result), so the answer for any `from` in that range is known.
    if (!memo.valid || from < memo.from || from > memo.result) memo = {true, from, s_.find(c, from)};
    return memo.result;
  }

 private:
  struct Memo {
    bool valid = false;
    size_t from = 0;
    size_t result = 0;
  };
  std::string_view s_;
  std::array<Memo, 256> memo_{};
};

// Code spans, images, links, autolinks and inline tags to their text, then emphasis.
std::string strip_inline(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  Finder finder(s);
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && std::ispunct(static_cast<unsigned char>(s[i + 1]))) {
      out += s[i + 1];
      i += 2;
    } else if (c == '`') {
      // A code span ends at the next backtick run (CommonMark wants one of the same length).
      const size_t n = run_length(s, i, '`');
      const size_t close = finder.find('`', i + n);
      if (close == std::string_view::npos) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out.append(trim(s.substr(i + n, close - i - n)));
        i = close + run_length(s, close, '`');
      }
    } else if (c == '[' || (c == '!' && i + 1 < s.size() && s[i + 1] == '[')) {
      const size_t open = c == '[' ? i : i + 1;
      const size_t close = finder.find(']', open);
      if (close == std::string_view::npos) {
        out += c;
        ++i;
        continue;
      }
      out.append(s.substr(open + 1, close - open - 1));
      i = close + 1;
      // Skip the "(url)" or "[ref]" that follows the link text.
      if (i < s.size() && (s[i] == '(' || s[i] == '[')) {
        const size_t end = finder.find(s[i] == '(' ? ')' : ']', i);
        if (end != std::string_view::npos) i = end + 1;
      }
    } else if (c == '<' && i + 1 < s.size() &&
               (std::isalpha(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '/')) {
      const size_t close = finder.find('>', i);
      const size_t next_open = finder.find('<', i + 1);
      if (close == std::string_view::npos || next_open < close) {
        out += c;
        ++i;
        continue;
      }
      const std::string_view inner = s.substr(i + 1, close - i - 1);
      if (inner.find("://") != std::string_view::npos || inner.find('@') != std::string_view::npos) out.append(inner);
      i = close + 1;
    } else {
      out += c;
      ++i;
    }
  }
  return strip_emphasis(out);
}

std::string table_row(std::string_view line) {
  std::string_view body = trim(line);
  if (!body.empty() && body.front() == '|') body.remove_prefix(1);
  if (!body.empty() && body.back() == '|' && (body.size() < 2 || body[body.size() - 2] != '\\')) body.remove_suffix(1);
  std::string row;
  size_t start = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i < body.size() && (body[i] != '|' || (i > 0 && body[i - 1] == '\\'))) continue;
    if (!row.empty()) row += " | ";
    row += strip_inline(trim(body.substr(start, i - start)));
    start = i + 1;
  }
  return row;
}

// "> > text" -> "text": quoted text is kept as ordinary text.
std::string_view strip_quote_markers(std::string_view line) {
  const size_t indent = indent_of(line);
  if (indent > 3 || indent >= line.size() || line[indent] != '>') return line;
  std::string_view rest = line.substr(indent);
  while (!rest.empty() && rest.front() == '>') {
    rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  }
  return rest;
}

class MarkdownParser {
 public:
  explicit MarkdownParser(const ParseLimits& limits) : doc_(DocumentFormat::kMarkdown, limits) {}

  Status line(std::string_view raw) {
    if (fence_len_ > 0) return code_line(raw);
    const std::string_view line = strip_quote_markers(raw);
    if (is_blank_line(line)) {
      in_table_ = false;
      return flush();
    }
    if (char c = 0; size_t n = fence_open(line, c)) {
      fence_char_ = c;
      fence_len_ = n;
      return flush();
    }
    std::string_view heading;
    if (int level = atx_heading(line, heading)) {
      in_table_ = false;
      if (auto status = flush(); !status) return status;
      return doc_.add(BlockKind::kHeading, strip_inline(heading), 0, level);
    }
    if (paragraph_lines_ > 0 && !in_table_ && (is_setext_underline(line, '=') || is_setext_underline(line, '-'))) {
      const int level = is_setext_underline(line, '=') ? 1 : 2;
      auto status = doc_.add(BlockKind::kHeading, paragraph_, 0, level);
      paragraph_.clear();
      paragraph_lines_ = 0;
      return status;
    }
    if (is_thematic_break(line)) {
      in_table_ = false;
      return flush();
    }
    if (in_table_) {
      if (line.find('|') != std::string_view::npos) return doc_.add(BlockKind::kTableRow, table_row(line));
      in_table_ = false;
    } else if (paragraph_lines_ == 1 && header_.find('|') != std::string::npos && is_table_delimiter(line)) {
      in_table_ = true;
      paragraph_.clear();
      paragraph_lines_ = 0;
      return doc_.add(BlockKind::kTableRow, table_row(header_));
    }
    if (paragraph_lines_++ > 0) paragraph_ += '\n';
    if (paragraph_lines_ == 1) header_.assign(line);
    paragraph_ += strip_inline(line);
    return doc_.check_pending(paragraph_.size());
  }

  Result<ParsedDocument> finish() && {
    if (fence_len_ > 0) {
      if (auto status = doc_.add(BlockKind::kParagraph, code_); !status) return status.error();
    }
    if (auto status = flush(); !status) return status.error();
    return std::move(doc_).finish();
  }

 private:
  Status code_line(std::string_view line) {
    if (is_fence_close(line, fence_char_, fence_len_)) {
      fence_len_ = 0;
      auto status = doc_.add(BlockKind::kParagraph, code_);
      code_.clear();
      return status;
    }
    if (!code_.empty()) code_ += '\n';
    code_ += line;
    return doc_.check_pending(code_.size());
  }

  Status flush() {
    auto status = doc_.add(BlockKind::kParagraph, paragraph_);
    paragraph_.clear();
    paragraph_lines_ = 0;
    return status;
  }

  DocumentBuilder doc_;
  std::string paragraph_;
  size_t paragraph_lines_ = 0;
  std::string header_;  // the paragraph's first line, raw: a table header if a delimiter row follows
  bool in_table_ = false;
  char fence_char_ = 0;
  size_t fence_len_ = 0;  // > 0 inside a fenced code block
  std::string code_;
};

}  // namespace

Result<ParsedDocument> parse_markdown(LineReader& lines, const ParseLimits& limits) {
  MarkdownParser parser(limits);
  std::string line;
  while (true) {
    auto more = lines.next(line);
    if (!more) return more.error();
    if (!*more) break;
    if (auto status = parser.line(line); !status) return status.error();
  }
  return std::move(parser).finish();
}

}  // namespace tandem::knowledge::detail
