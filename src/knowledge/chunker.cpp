#include "knowledge/chunker.h"

#include <algorithm>

namespace tandem::knowledge {
namespace {

constexpr std::string_view kBlockSeparator = "\n\n";

// A sentence (or a piece of one) with its place in document_text().
struct Unit {
  int64_t start = 0;
  int64_t end = 0;
  int32_t tokens = 0;
  int32_t page = 0;
  int32_t section = 0;
};

bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Length in bytes of a sentence-ending mark at `text[i]`, or 0: ASCII . ! ? before a space or the
// end, Chinese/full-width 。！？； anywhere, and a line break.
size_t sentence_end_at(std::string_view text, size_t i) {
  const char c = text[i];
  if (c == '\n') return 1;
  if (c == '.' || c == '!' || c == '?') {
    return (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n') ? 1 : 0;
  }
  for (std::string_view mark : {"。", "！", "？", "；"}) {
    if (text.substr(i, mark.size()) == mark) return mark.size();
  }
  return 0;
}

// Closing quotes and brackets stay with the sentence they close.
size_t closing_marks_at(std::string_view text, size_t i) {
  size_t n = 0;
  for (bool again = true; again;) {
    again = false;
    for (std::string_view mark : {"”", "’", "」", "』", "）", "\"", "'", ")"}) {
      if (text.substr(i + n, mark.size()) == mark) {
        n += mark.size();
        again = true;
      }
    }
  }
  return n;
}

// [start, end) byte spans of the sentences of `text`, leading spaces dropped.
std::vector<std::pair<size_t, size_t>> split_sentences(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t start = 0;
  auto close = [&](size_t end) {
    while (start < end && (text[start] == ' ' || text[start] == '\n')) ++start;
    size_t trimmed = end;
    while (trimmed > start && (text[trimmed - 1] == ' ' || text[trimmed - 1] == '\n')) --trimmed;
    if (trimmed > start) spans.emplace_back(start, trimmed);
    start = end;
  };
  for (size_t i = 0; i < text.size();) {
    if (const size_t mark = sentence_end_at(text, i); mark > 0) {
      i += mark;
      i += closing_marks_at(text, i);
      close(i);
    } else {
      ++i;
    }
  }
  close(text.size());
  return spans;
}

class Chunker {
 public:
  Chunker(const ParsedDocument& doc, const ChunkOptions& options, const TokenCounter& count_tokens)
      : doc_(doc), options_(options), count_tokens_(count_tokens), text_(document_text(doc)) {}

  Result<std::vector<Chunk>> run() {
    auto special = count_tokens_("");
    if (!special) return special.error();
    special_tokens_ = *special;
    budget_ = options_.max_tokens - special_tokens_;
    if (budget_ < 4) return make_error(ErrorCode::kInvalidArgument, "chunk size is too small for the embedding model");
    if (auto st = split_into_units(); !st) return st.error();
    return pack();
  }

 private:
  Result<int32_t> content_tokens(std::string_view piece) {
    auto n = count_tokens_(piece);
    if (!n) return n.error();
    return std::max(0, *n - special_tokens_);
  }

  Status split_into_units() {
    int64_t offset = 0;
    int32_t section = 0;
    headings_.push_back("");
    for (size_t b = 0; b < doc_.blocks.size(); ++b) {
      const Block& block = doc_.blocks[b];
      if (b > 0) offset += static_cast<int64_t>(kBlockSeparator.size());
      if (block.kind == BlockKind::kHeading) {
        ++section;
        headings_.push_back(block.text);
      }
      for (auto [start, end] : split_sentences(block.text)) {
        if (auto st = add_sentence(offset + static_cast<int64_t>(start), offset + static_cast<int64_t>(end), block.page,
                                   section);
            !st) {
          return st;
        }
      }
      offset += static_cast<int64_t>(block.text.size());
    }
    return {};
  }

  // A sentence over the budget is cut into pieces that fit, at spaces where there are any.
  Status add_sentence(int64_t start, int64_t end, int32_t page, int32_t section) {
    while (start < end) {
      const std::string_view rest(text_.data() + start, static_cast<size_t>(end - start));
      auto tokens = content_tokens(rest);
      if (!tokens) return tokens.error();
      if (*tokens <= budget_) {
        units_.push_back({start, end, *tokens, page, section});
        return {};
      }
      size_t cut = rest.size() * static_cast<size_t>(budget_) / static_cast<size_t>(*tokens);
      for (;;) {
        cut = std::max<size_t>(cut, 1);
        while (cut < rest.size() && is_utf8_continuation(rest[cut])) ++cut;
        if (const size_t space = rest.rfind(' ', cut); space != std::string_view::npos && space > cut / 2) cut = space;
        auto piece_tokens = content_tokens(rest.substr(0, cut));
        if (!piece_tokens) return piece_tokens.error();
        if (*piece_tokens <= budget_ || cut <= 1) {
          units_.push_back({start, start + static_cast<int64_t>(cut), *piece_tokens, page, section});
          break;
        }
        cut = cut * 4 / 5;
      }
      start += static_cast<int64_t>(units_.back().end - units_.back().start);
      while (start < end && text_[static_cast<size_t>(start)] == ' ') ++start;
    }
    return {};
  }

  Result<std::vector<Chunk>> pack() {
    std::vector<Chunk> chunks;
    size_t first = 0;  // units [first, next) form the chunk being filled
    int32_t tokens = 0;
    for (size_t next = 0; next < units_.size(); ++next) {
      const Unit& unit = units_[next];
      const bool new_section =
          next > first && (unit.section != units_[first].section || unit.page != units_[first].page);
      const bool full = next > first && tokens + unit.tokens > budget_;
      if (new_section || full) {
        chunks.push_back(make_chunk(first, next));
        size_t carried = next;
        if (!new_section) {  // overlap: whole sentences from the end of the chunk just closed
          int32_t overlap = 0;
          while (carried - 1 > first && overlap + units_[carried - 1].tokens <= options_.overlap_tokens &&
                 overlap + units_[carried - 1].tokens + unit.tokens <= budget_) {
            overlap += units_[--carried].tokens;
          }
        }
        first = carried;
        tokens = 0;
        for (size_t i = first; i < next; ++i) tokens += units_[i].tokens;
      }
      tokens += unit.tokens;
    }
    if (first < units_.size()) chunks.push_back(make_chunk(first, units_.size()));
    return chunks;
  }

  Chunk make_chunk(size_t first, size_t end) const {
    Chunk chunk;
    chunk.char_start = units_[first].start;
    chunk.char_end = units_[end - 1].end;
    chunk.text =
        text_.substr(static_cast<size_t>(chunk.char_start), static_cast<size_t>(chunk.char_end - chunk.char_start));
    chunk.heading = headings_[static_cast<size_t>(units_[first].section)];
    chunk.page = units_[first].page;
    for (size_t i = first; i < end; ++i) chunk.tokens += units_[i].tokens;
    chunk.tokens += special_tokens_;
    return chunk;
  }

  const ParsedDocument& doc_;
  const ChunkOptions& options_;
  const TokenCounter& count_tokens_;
  const std::string text_;
  int32_t special_tokens_ = 0;
  int32_t budget_ = 0;
  std::vector<std::string> headings_;
  std::vector<Unit> units_;
};

}  // namespace

std::string document_text(const ParsedDocument& doc) {
  std::string text;
  for (size_t i = 0; i < doc.blocks.size(); ++i) {
    if (i > 0) text += kBlockSeparator;
    text += doc.blocks[i].text;
  }
  return text;
}

Result<std::vector<Chunk>> chunk_document(const ParsedDocument& doc, const ChunkOptions& options,
                                          const TokenCounter& count_tokens) {
  if (options.overlap_tokens < 0 || options.overlap_tokens >= options.max_tokens) {
    return make_error(ErrorCode::kInvalidArgument, "chunk overlap must be >= 0 and smaller than the chunk size");
  }
  return Chunker(doc, options, count_tokens).run();
}

}  // namespace tandem::knowledge
