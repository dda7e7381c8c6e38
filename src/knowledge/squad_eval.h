// Retrieval (and grounded-answer) evaluation on SQuAD-format data: every paragraph is indexed as
// a document of a fresh knowledge base, every question is asked, and a paragraph counts as found
// when it contains one of the question's gold answers.
//
//   auto set = knowledge::read_squad("xquad.en.json");
//   auto questions = knowledge::read_squad("xquad.zh.json");       // optional: cross-lingual
//   knowledge::use_questions_from(*set, *questions);                 // matched by question id
//   auto report = knowledge::index_squad(*set, *kb);                 // kb: a fresh base
//   knowledge::evaluate_retrieval(*set, *kb, {}, *report);
//   // report->modes[2].name == "hybrid", report->modes[2].recall_at_1 ...
//
// Thread-safety: free functions without shared state.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "knowledge/knowledge_base.h"

namespace tandem::knowledge {

struct SquadQuestion {
  std::string id;
  std::string question;
  std::vector<std::string> answers;
  size_t paragraph = 0;  // the one it was asked about (index into SquadSet::paragraphs)
};

struct SquadSet {
  std::vector<std::string> paragraphs;
  std::vector<SquadQuestion> questions;
  std::vector<size_t> article_of;  // per paragraph: the index of its article in the file
};

Result<SquadSet> read_squad(const std::string& path);
// Replaces each question's text by the one with the same id in `other` (another language);
// kInvalidArgument when an id is missing there.
Status use_questions_from(SquadSet& set, const SquadSet& other);

// These sets come without a test split, so retrieval settings are chosen on one half of the
// questions (kTune) and reported on the other (kHoldout). A question's half follows from a hash of
// its id, so it is the same in every run and in both languages of XQuAD (shared ids). Every
// paragraph stays indexed whatever the half.
enum class SquadSplit { kAll, kTune, kHoldout };
Result<SquadSplit> parse_squad_split(std::string_view name);  // "all", "tune", "holdout"
void keep_questions_of(SquadSet& set, SquadSplit split);

struct RetrievalMetrics {
  std::string name;  // "bm25", "dense", "hybrid"
  size_t questions = 0;
  double recall_at_1 = 0;
  double recall_at_5 = 0;
  double recall_at_10 = 0;
  double mrr = 0;  // over the first 10 paragraphs
  double latency_ms_p50 = 0;
  double latency_ms_p95 = 0;
};

struct RetrievalReport {
  size_t n_questions = 0;
  size_t n_paragraphs = 0;
  size_t n_chunks = 0;
  double index_seconds = 0;
  std::vector<RetrievalMetrics> modes;  // over every question asked
  // The same over the questions of each half (keep_questions_of) among those asked.
  std::vector<RetrievalMetrics> tune_modes;
  std::vector<RetrievalMetrics> holdout_modes;
};

using EvalProgress = std::function<void(const std::string& stage, size_t done, size_t total)>;

// Indexes every paragraph (or those `keep` accepts) as document "p<i>.txt" of collection
// "squad" in the base `kb` (fresh).
Result<RetrievalReport> index_squad(const SquadSet& set, KnowledgeBase& kb, const EvalProgress& on_progress = {},
                                    const std::function<bool(size_t paragraph)>& keep = {});

// Asks every question in each mode; fills report.modes (bm25, dense, hybrid) and the halves.
Status evaluate_retrieval(const SquadSet& set, KnowledgeBase& kb, const SearchOptions& search,
                          RetrievalReport& report, const EvalProgress& on_progress = {});

struct AnswerMetrics {
  size_t n = 0;
  double contains_gold = 0;   // share of answers that contain a gold answer
  double not_found_rate = 0;  // share answered "not found in your documents"
  double latency_ms_p50 = 0;  // retrieval + generation
};

// Answers the first `count` questions end to end: retrieve (hybrid), ground, then `generate`.
using GroundedGenerator = std::function<Result<std::string>(const std::vector<engine::ChatMessage>& messages)>;
Result<AnswerMetrics> evaluate_answers(const SquadSet& set, KnowledgeBase& kb, size_t count, const SearchOptions& search,
                                       double min_similarity, const GroundedGenerator& generate,
                                       const EvalProgress& on_progress = {});

// Calibrating "not found" (GroundingOptions::min_similarity): the base holds the paragraphs of
// every other article (in_not_found_base), so a question about the others has no answer there
// and should get "not found", while one about an indexed paragraph should not. Each question is
// searched as a grounded answer searches (hybrid, the configured top_k); ground()'s two signals,
// the best cosine and the best word overlap, give the outcome at every threshold.
bool in_not_found_base(const SquadSet& set, size_t paragraph);

struct NotFoundPoint {
  double min_similarity = 0;
  double answerable_found = 0;      // share of answerable questions grounded (not refused)
  double unanswerable_refused = 0;  // share of unanswerable ones answered "not found"
};

struct NotFoundReport {
  size_t answerable = 0;
  size_t unanswerable = 0;
  // Unanswerable questions whose passages share min_word_overlap of their words: grounded at
  // any threshold.
  double unanswerable_by_overlap = 0;
  std::vector<NotFoundPoint> curve;  // min_similarity 0.00, 0.01, ... 1.00
  // Of the thresholds that still ground `keep_answerable` of the answerable questions, the one
  // that refuses the most unanswerable ones; the lowest of equals, since above the word-overlap
  // ceiling a higher threshold only loses answerable questions.
  NotFoundPoint chosen;
};

// `kb`: a base holding what index_squad(set, kb, {}, in_not_found_base) put there.
Result<NotFoundReport> evaluate_not_found(const SquadSet& set, KnowledgeBase& kb, const SearchOptions& search,
                                          double min_word_overlap, double keep_answerable,
                                          const EvalProgress& on_progress = {});

// Whether `text` holds one of `answers` (case-insensitive for ASCII, whitespace-insensitive).
bool contains_answer(std::string_view text, const std::vector<std::string>& answers);

}  // namespace tandem::knowledge
