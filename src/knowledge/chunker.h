// Cutting a parsed document into retrieval chunks that follow its structure: a heading or a new
// page starts a new chunk, paragraphs are packed whole while they fit, long paragraphs are cut at
// sentence ends (". ! ?" and Chinese "。！？；"), and a sentence longer than a chunk at a token
// bound. Consecutive chunks of one section overlap by whole sentences.
//
//   auto chunks = knowledge::chunk_document(doc, {.max_tokens = 200, .overlap_tokens = 32},
//                                           [&](std::string_view s) { return embedder.count_tokens(s); });
//   // chunks[i].text == document_text(doc).substr(chunks[i].char_start, chunks[i].char_end - ...)
//
// Offsets are bytes into document_text(doc): the blocks joined by blank lines, the text a
// citation points into. Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "knowledge/document.h"

namespace tandem::knowledge {

struct ChunkOptions {
  int32_t max_tokens = 200;     // per chunk, as the embedding model counts them
  int32_t overlap_tokens = 32;  // sentences repeated from the previous chunk of the same section
};

struct Chunk {
  std::string text;
  std::string heading;  // the nearest heading above the chunk, for context in answers
  int32_t page = 0;
  int64_t char_start = 0;  // byte offsets into document_text()
  int64_t char_end = 0;
  int32_t tokens = 0;
};

using TokenCounter = std::function<Result<int32_t>(std::string_view text)>;

std::string document_text(const ParsedDocument& doc);

Result<std::vector<Chunk>> chunk_document(const ParsedDocument& doc, const ChunkOptions& options,
                                          const TokenCounter& count_tokens);

}  // namespace tandem::knowledge
