#include "knowledge/squad_eval.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <unordered_map>

#include "core/sha256.h"
#include "core/statistics.h"
#include "knowledge/grounding.h"

namespace tandem::knowledge {
namespace {

constexpr const char* kCollection = "squad";

// Lower-cases ASCII and drops whitespace, so "31  March" matches "31 march".
std::string squeeze(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

bool is_blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// "p17.txt" -> 17
size_t paragraph_of(const std::string& path) {
  return static_cast<size_t>(std::stoul(path.substr(1)));
}

bool in_tuning_half(std::string_view id) {
  const char last = sha256_hex(id).back();  // any bit of a cryptographic hash halves evenly
  return ((last <= '9' ? last - '0' : last - 'a' + 10) & 1) == 0;
}

}  // namespace

bool contains_answer(std::string_view text, const std::vector<std::string>& answers) {
  const std::string haystack = squeeze(text);
  return std::any_of(answers.begin(), answers.end(), [&](const std::string& answer) {
    const std::string needle = squeeze(answer);
    return !needle.empty() && haystack.find(needle) != std::string::npos;
  });
}

Result<SquadSet> read_squad(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + path);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(in);
    SquadSet set;
    size_t article_index = 0;
    for (const auto& article : root.at("data")) {
      for (const auto& paragraph : article.at("paragraphs")) {
        set.paragraphs.push_back(paragraph.at("context").get<std::string>());
        set.article_of.push_back(article_index);
        for (const auto& qa : paragraph.at("qas")) {
          SquadQuestion question{
              qa.at("id").get<std::string>(), qa.at("question").get<std::string>(), {}, set.paragraphs.size() - 1};
          for (const auto& answer : qa.at("answers")) question.answers.push_back(answer.at("text").get<std::string>());
          set.questions.push_back(std::move(question));
        }
      }
      ++article_index;
    }
    return set;
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, path + " is not SQuAD-format JSON: " + e.what());
  }
}

Status use_questions_from(SquadSet& set, const SquadSet& other) {
  std::unordered_map<std::string, const SquadQuestion*> by_id;
  for (const auto& q : other.questions) by_id[q.id] = &q;
  for (auto& q : set.questions) {
    auto it = by_id.find(q.id);
    if (it == by_id.end())
      return make_error(ErrorCode::kInvalidArgument, "question id " + q.id + " is missing from the questions file");
    q.question = it->second->question;
  }
  return {};
}

Result<SquadSplit> parse_squad_split(std::string_view name) {
  if (name == "all") return SquadSplit::kAll;
  if (name == "tune") return SquadSplit::kTune;
  if (name == "holdout") return SquadSplit::kHoldout;
  return make_error(ErrorCode::kInvalidArgument, "the split must be all, tune or holdout, not '" + std::string(name) + "'");
}

void keep_questions_of(SquadSet& set, SquadSplit split) {
  if (split == SquadSplit::kAll) return;
  std::erase_if(set.questions, [&](const SquadQuestion& q) { return in_tuning_half(q.id) != (split == SquadSplit::kTune); });
}

Result<RetrievalReport> index_squad(const SquadSet& set, KnowledgeBase& kb, const EvalProgress& on_progress,
                                    const std::function<bool(size_t paragraph)>& keep) {
  RetrievalReport report;
  report.n_questions = set.questions.size();
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < set.paragraphs.size(); ++i) {
    if (on_progress) on_progress("indexing", i, set.paragraphs.size());
    if (keep && !keep(i)) continue;
    ++report.n_paragraphs;
    auto outcome = kb.add_bytes(set.paragraphs[i], "p" + std::to_string(i) + ".txt", kCollection);
    if (!outcome) return outcome.error();
    if (outcome->status == FileStatus::kFailed)
      return make_error(ErrorCode::kInternal, "paragraph " + std::to_string(i) + ": " + outcome->message);
    report.n_chunks += static_cast<size_t>(outcome->chunks);
  }
  if (on_progress) on_progress("indexing", set.paragraphs.size(), set.paragraphs.size());
  report.index_seconds = ms_since(start) / 1000.0;
  return report;
}

namespace {

// Metrics of one mode over the questions that `keep` selects; found_at[q] is the 1-based rank of
// the first paragraph holding question q's answer, 0 when none of the first 10 does.
RetrievalMetrics summarize(const std::string& name, const SquadSet& set, const std::vector<size_t>& found_at,
                           const std::vector<double>& latency_ms, const std::function<bool(const SquadQuestion&)>& keep) {
  RetrievalMetrics metrics;
  metrics.name = name;
  std::vector<double> latencies;
  for (size_t q = 0; q < set.questions.size(); ++q) {
    if (!keep(set.questions[q])) continue;
    ++metrics.questions;
    if (latency_ms[q] >= 0) latencies.push_back(latency_ms[q]);
    const size_t rank = found_at[q];
    if (rank == 0) continue;
    metrics.recall_at_1 += rank <= 1;
    metrics.recall_at_5 += rank <= 5;
    metrics.recall_at_10 += 1;
    metrics.mrr += 1.0 / static_cast<double>(rank);
  }
  const double n = std::max<double>(1, static_cast<double>(metrics.questions));
  metrics.recall_at_1 /= n;
  metrics.recall_at_5 /= n;
  metrics.recall_at_10 /= n;
  metrics.mrr /= n;
  metrics.latency_ms_p50 = percentile(latencies, 0.50);
  metrics.latency_ms_p95 = percentile(latencies, 0.95);
  return metrics;
}

}  // namespace

Status evaluate_retrieval(const SquadSet& set, KnowledgeBase& kb, const SearchOptions& search, RetrievalReport& report,
                          const EvalProgress& on_progress) {
  constexpr size_t kDepth = 10;
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    const std::string name = mode == SearchMode::kBm25 ? "bm25" : mode == SearchMode::kDense ? "dense" : "hybrid";
    SearchOptions options = search;
    options.mode = mode;
    options.k = std::max(search.candidates, static_cast<int>(kDepth));  // chunks; paragraphs may hold several
    std::vector<size_t> found_at(set.questions.size(), 0);
    std::vector<double> latency_ms(set.questions.size(), -1);
    for (size_t q = 0; q < set.questions.size(); ++q) {
      if (on_progress) on_progress(name, q, set.questions.size());
      const SquadQuestion& question = set.questions[q];
      if (is_blank(question.question)) continue;  // counted as a miss: nothing to search for
      const auto start = std::chrono::steady_clock::now();
      auto found = kb.search(question.question, options);
      latency_ms[q] = ms_since(start);
      if (!found) return found.error();
      // Paragraph ranks: the first chunk of each paragraph counts.
      std::vector<size_t> paragraphs;
      for (const auto& hit : found->hits) {
        const size_t p = paragraph_of(hit.chunk.path);
        if (std::find(paragraphs.begin(), paragraphs.end(), p) == paragraphs.end()) paragraphs.push_back(p);
        if (paragraphs.size() == kDepth) break;
      }
      for (size_t rank = 0; rank < paragraphs.size(); ++rank) {
        if (!contains_answer(set.paragraphs[paragraphs[rank]], question.answers)) continue;
        found_at[q] = rank + 1;
        break;
      }
    }
    if (on_progress) on_progress(name, set.questions.size(), set.questions.size());
    report.modes.push_back(summarize(name, set, found_at, latency_ms, [](const SquadQuestion&) { return true; }));
    report.tune_modes.push_back(summarize(name, set, found_at, latency_ms,
                                          [](const SquadQuestion& q) { return in_tuning_half(q.id); }));
    report.holdout_modes.push_back(summarize(name, set, found_at, latency_ms,
                                             [](const SquadQuestion& q) { return !in_tuning_half(q.id); }));
  }
  return {};
}

Result<AnswerMetrics> evaluate_answers(const SquadSet& set, KnowledgeBase& kb, size_t count,
                                       const SearchOptions& search, double min_similarity,
                                       const GroundedGenerator& generate, const EvalProgress& on_progress) {
  AnswerMetrics metrics;
  metrics.n = std::min(count, set.questions.size());
  std::vector<double> latencies;
  for (size_t q = 0; q < metrics.n; ++q) {
    if (on_progress) on_progress("answering", q, metrics.n);
    const SquadQuestion& question = set.questions[q];
    if (is_blank(question.question)) continue;
    const auto start = std::chrono::steady_clock::now();
    auto found = kb.search(question.question, search);
    if (!found) return found.error();
    const Grounded grounded = ground(question.question, *found, {.min_similarity = min_similarity});
    std::string answer = grounded.not_found_answer;
    if (grounded.found) {
      auto generated = generate(grounded.messages);
      if (!generated) return generated.error();
      answer = std::move(*generated);
    }
    latencies.push_back(ms_since(start));
    metrics.contains_gold += contains_answer(answer, question.answers);
    metrics.not_found_rate += !grounded.found;
  }
  if (on_progress) on_progress("answering", metrics.n, metrics.n);
  const double n = std::max<double>(1, static_cast<double>(metrics.n));
  metrics.contains_gold /= n;
  metrics.not_found_rate /= n;
  metrics.latency_ms_p50 = percentile(latencies, 0.50);
  return metrics;
}

bool in_not_found_base(const SquadSet& set, size_t paragraph) {
  return set.article_of.at(paragraph) % 2 == 0;
}

Result<NotFoundReport> evaluate_not_found(const SquadSet& set, KnowledgeBase& kb, const SearchOptions& search,
                                          double min_word_overlap, double keep_answerable,
                                          const EvalProgress& on_progress) {
  SearchOptions options = search;
  options.mode = SearchMode::kHybrid;
  std::vector<GroundingSignals> answerable;
  std::vector<GroundingSignals> unanswerable;
  for (size_t q = 0; q < set.questions.size(); ++q) {
    if (on_progress) on_progress("not found", q, set.questions.size());
    const SquadQuestion& question = set.questions[q];
    if (is_blank(question.question)) continue;
    auto found = kb.search(question.question, options);
    if (!found) return found.error();
    (in_not_found_base(set, question.paragraph) ? answerable : unanswerable)
        .push_back(grounding_signals(question.question, *found));
  }
  if (on_progress) on_progress("not found", set.questions.size(), set.questions.size());

  NotFoundReport report{.answerable = answerable.size(), .unanswerable = unanswerable.size()};
  const auto share = [](const std::vector<GroundingSignals>& signals, const GroundingOptions& grounding) {
    const auto n =
        std::count_if(signals.begin(), signals.end(), [&](const auto& s) { return holds_answer(s, grounding); });
    return signals.empty() ? 0.0 : static_cast<double>(n) / static_cast<double>(signals.size());
  };
  // No cosine reaches 2: grounded by the shared words alone.
  report.unanswerable_by_overlap = share(unanswerable, {.min_similarity = 2, .min_word_overlap = min_word_overlap});
  for (int step = 0; step <= 100; ++step) {
    const GroundingOptions grounding{.min_similarity = step / 100.0, .min_word_overlap = min_word_overlap};
    const NotFoundPoint point{grounding.min_similarity, share(answerable, grounding),
                              1 - share(unanswerable, grounding)};
    report.curve.push_back(point);
    const bool refuses_more =
        report.curve.size() == 1 || point.unanswerable_refused > report.chosen.unanswerable_refused;
    if (point.answerable_found >= keep_answerable && refuses_more) report.chosen = point;
  }
  return report;
}

}  // namespace tandem::knowledge
