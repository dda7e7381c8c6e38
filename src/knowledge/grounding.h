// Grounded answers: turning retrieved passages into a prompt that makes the model answer from
// them with numbered citations, and deciding honestly when the documents do not hold the answer.
//
//   auto found = kb.search(question, {.k = 5});
//   auto grounded = knowledge::ground(question, *found, {.min_similarity = 0.35});
//   if (!grounded.found) return grounded.not_found_answer;  // no guess
//   auto answer = model.generate(grounded.messages);           // "... ends on 31 March [1]."
//   show(grounded.citations);                                   // [1] lease.pdf p. 3, chars 120-480
//
// The decision is code, not an instruction to the model: text inside a passage cannot change it.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "knowledge/knowledge_base.h"

namespace tandem::knowledge {

struct Citation {
  int number = 0;  // the [n] the answer cites
  int64_t document_id = 0;
  std::string path;
  std::string title;
  int32_t page = 0;
  int64_t char_start = 0;
  int64_t char_end = 0;
  std::string snippet;  // the passage's opening, for display
  double score = 0;
};

struct GroundingOptions {
  // The best passage must be at least this similar to the question (cosine), or share at least
  // `min_word_overlap` of the question's distinct words, for the documents to count as holding
  // an answer.
  double min_similarity = 0.35;
  double min_word_overlap = 0.5;
  size_t snippet_bytes = 200;
};

struct Grounded {
  bool found = false;
  std::vector<engine::ChatMessage> messages;  // system: the passages and the rules; user: the question
  std::vector<Citation> citations;
  std::string not_found_answer;  // in the question's language, when !found
};

Grounded ground(std::string_view question, const SearchResult& result, const GroundingOptions& options);

// What ground() decides "found" from, apart (squad_eval.h calibrates min_similarity on it).
struct GroundingSignals {
  bool any_hit = false;
  double top_similarity = 0;  // SearchResult::top_similarity
  double best_overlap = 0;    // the highest word_overlap of a hit
};
GroundingSignals grounding_signals(std::string_view question, const SearchResult& result);
bool holds_answer(const GroundingSignals& signals, const GroundingOptions& options);

// Which passages an answer cites ("[1]", "[1, 3]", "[2][3]", "【1】"), and the numbers it cites
// that are none of them (a small model sometimes makes one up), each once, in order of appearance.
struct CitationCheck {
  std::vector<int> cited;
  std::vector<int> unknown;
};
CitationCheck check_citations(std::string_view answer, const std::vector<Citation>& citations);

// Share of the question's distinct content words (text_analysis.h; function words such as "what",
// "the", "的" and "什么" left out) that also occur in `passage`. 0 when the question has none.
double word_overlap(std::string_view question, std::string_view passage);

}  // namespace tandem::knowledge
