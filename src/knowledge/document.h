// Turning a file into text that keeps its structure: one parser per format (plain text, Markdown,
// HTML, PDF, DOCX, CSV) behind one call. A parsed document is a list of blocks (headings,
// paragraphs, table rows) with the page each came from; the chunker (chunker.h) cuts blocks into
// retrieval chunks and keeps the page and character offsets for citations.
//
//   auto doc = knowledge::parse_file("contracts/lease.pdf", {});
//   if (!doc) { report(doc.error()); }            // corrupt, encrypted, binary, too big: kDataLoss
//   for (const auto& block : doc->blocks) use(block.text, block.page);
//
// Untrusted input: every parser refuses files it cannot read with a clear error instead of
// returning garbage, never reads more than the limits allow (zip bombs, giant logs) and never
// throws. Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem::knowledge {

enum class DocumentFormat { kText, kMarkdown, kHtml, kPdf, kDocx, kCsv };

std::string_view format_name(DocumentFormat format);  // "text", "markdown", "html", "pdf", "docx", "csv"

enum class BlockKind { kHeading, kParagraph, kTableRow };

struct Block {
  BlockKind kind = BlockKind::kParagraph;
  std::string text;   // valid UTF-8, whitespace collapsed inside a line, no markup
  int32_t page = 0;   // 1-based page for PDF; 0 where the format has no pages
  int32_t level = 0;  // heading level (1 = top) for kHeading; 0 otherwise
};

struct ParsedDocument {
  DocumentFormat format = DocumentFormat::kText;
  std::string title;  // <title>, the first heading, or empty
  std::vector<Block> blocks;
  int32_t pages = 0;  // PDF page count; 0 for formats without pages
};

struct ParseLimits {
  int64_t max_file_bytes = int64_t{1} << 30;        // larger files are refused before reading
  int64_t max_extracted_bytes = int64_t{256} << 20; // text produced; DOCX members inflated at most this
};

// Chooses the format from the extension (.txt .text .log .md .markdown .html .htm .pdf .docx .csv)
// and refuses unknown ones with kInvalidArgument.
Result<DocumentFormat> format_for_path(std::string_view path);

// Reads and parses one file. Errors: kNotFound (missing), kInvalidArgument (unsupported type),
// kDataLoss (corrupt, encrypted PDF, binary data in a text file, invalid structure),
// kResourceExhausted (over the limits), kUnavailable (unreadable: permissions, I/O error).
Result<ParsedDocument> parse_file(const std::string& path, const ParseLimits& limits = {});

// Parses bytes already in memory (an HTTP upload); `name` only chooses the format.
Result<ParsedDocument> parse_bytes(std::string_view bytes, std::string_view name, const ParseLimits& limits = {});

}  // namespace tandem::knowledge
