#include "privacy/pii_eval.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tandem::privacy {
namespace {

// Byte offset of each code point index (one past the end included), for Presidio's positions.
std::vector<size_t> code_point_offsets(const std::string& text) {
  std::vector<size_t> offsets;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(text.size());
  return offsets;
}

bool is_trimmed(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '.' || c == ';' || c == ':' || c == '"' ||
         c == '\'' || c == '(' || c == ')';
}

// The span without spaces and punctuation at its ends, so "Smith." matches "Smith".
std::pair<size_t, size_t> trimmed(std::string_view text, const Entity& e) {
  size_t begin = e.begin;
  size_t end = std::min(e.end, text.size());
  while (begin < end && is_trimmed(text[begin])) ++begin;
  while (end > begin && is_trimmed(text[end - 1])) --end;
  return {begin, end};
}

bool matches(std::string_view text, const Entity& a, const Entity& b, bool exact) {
  auto [a0, a1] = trimmed(text, a);
  auto [b0, b1] = trimmed(text, b);
  if (exact) return a0 == b0 && a1 == b1;
  const size_t overlap = std::min(a1, b1) > std::max(a0, b0) ? std::min(a1, b1) - std::max(a0, b0) : 0;
  const size_t united = std::max(a1, b1) - std::min(a0, b0);
  return united > 0 && 2 * overlap >= united;
}

bool overlaps(const Entity& a, const Entity& b) {
  return a.begin < b.end && b.begin < a.end;
}

bool is_word_byte(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         static_cast<unsigned char>(c) >= 0x80;
}

// The entity of `entities` covering byte `at`, or null.
const Entity* covering(const std::vector<Entity>& entities, size_t at) {
  for (const Entity& e : entities) {
    if (e.begin <= at && at < e.end) return &e;
  }
  return nullptr;
}

void count_tokens(const LabelledText& item, const std::vector<Entity>& detected, PiiScores& scores) {
  const std::string& text = item.text;
  for (size_t i = 0; i < text.size();) {
    if (!is_word_byte(text[i])) {
      ++i;
      continue;
    }
    const size_t word = i;
    while (i < text.size() && is_word_byte(text[i])) ++i;
    if (covering(item.ignored, word)) continue;
    const Entity* label = covering(item.labels, word);
    const Entity* found = covering(detected, word);
    if (label && found && label->type == found->type) {
      ++scores.by_type[label->type].true_positives;
      continue;
    }
    if (label) ++scores.by_type[label->type].false_negatives;
    if (found) ++scores.by_type[found->type].false_positives;
  }
}

void count_spans(const LabelledText& item, const std::vector<Entity>& detected, bool exact, PiiScores& scores) {
  std::vector<bool> label_found(item.labels.size(), false);
  for (const Entity& d : detected) {
    bool correct = false;
    for (size_t i = 0; i < item.labels.size() && !correct; ++i) {
      if (!label_found[i] && item.labels[i].type == d.type && matches(item.text, d, item.labels[i], exact)) {
        label_found[i] = correct = true;
      }
    }
    if (correct) {
      ++scores.by_type[d.type].true_positives;
      continue;
    }
    const bool on_ignored = std::any_of(item.ignored.begin(), item.ignored.end(),
                                        [&](const Entity& ignored) { return overlaps(ignored, d); });
    if (!on_ignored) ++scores.by_type[d.type].false_positives;
  }
  for (size_t i = 0; i < item.labels.size(); ++i) {
    if (!label_found[i]) ++scores.by_type[item.labels[i].type].false_negatives;
  }
}

}  // namespace

std::optional<EntityType> presidio_entity_type(std::string_view name) {
  static const std::map<std::string_view, EntityType> kMap = {
      {"PERSON", EntityType::kPerson},        {"ORGANIZATION", EntityType::kOrganization},
      {"LOCATION", EntityType::kLocation},    {"ADDRESS", EntityType::kAddress},
      {"CREDIT_CARD", EntityType::kBankCard}, {"PHONE_NUMBER", EntityType::kPhone},
      {"DATE_TIME", EntityType::kDateTime},   {"EMAIL_ADDRESS", EntityType::kEmail},
      {"US_SSN", EntityType::kUsSsn},         {"IBAN_CODE", EntityType::kIban},
      {"IP_ADDRESS", EntityType::kIpAddress},
  };
  if (auto it = kMap.find(name); it != kMap.end()) return it->second;
  // Types Presidio has no name for go by ours, upper-cased: CN_RESIDENT_ID, CN_CREDIT_CODE, ...
  std::string lower(name);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return lower == name ? std::nullopt : entity_type_from_name(lower);
}

Result<LabelledSet> load_presidio_dataset(const std::string& path, EvalSplit split) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + path);
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    return make_error(ErrorCode::kInvalidArgument, path + ": not a JSON list in Presidio's format");
  }
  LabelledSet set;
  for (size_t index = 0; index < doc.size(); ++index) {
    const bool test = index % 4 == 0;
    if ((split == EvalSplit::kDev && test) || (split == EvalSplit::kTest && !test)) continue;
    const auto& item = doc[index];
    if (!item.is_object() || !item.contains("full_text") || !item["full_text"].is_string()) {
      return make_error(ErrorCode::kInvalidArgument, path + ": item " + std::to_string(index) + " has no full_text");
    }
    LabelledText labelled;
    labelled.text = item["full_text"].get<std::string>();
    if (item.contains("template_id") && item["template_id"].is_number_integer())
      labelled.template_id = item["template_id"].get<int64_t>();
    const auto offsets = code_point_offsets(labelled.text);
    for (const auto& span : item.value("spans", nlohmann::json::array())) {
      const auto start = span.value("start_position", int64_t{-1});
      const auto end = span.value("end_position", int64_t{-1});
      if (start < 0 || end <= start || static_cast<size_t>(end) >= offsets.size()) {
        return make_error(ErrorCode::kInvalidArgument,
                          path + ": item " + std::to_string(index) + " has a span outside its text");
      }
      Entity entity;
      entity.begin = offsets[static_cast<size_t>(start)];
      entity.end = offsets[static_cast<size_t>(end)];
      const std::string type = span.value("entity_type", "");
      if (auto ours = presidio_entity_type(type)) {
        entity.type = *ours;
        labelled.labels.push_back(entity);
      } else {
        labelled.ignored.push_back(entity);
        ++set.unmapped_labels[type];
      }
    }
    set.texts.push_back(std::move(labelled));
  }
  return set;
}

double SpanCounts::precision() const {
  const auto found = true_positives + false_positives;
  return found == 0 ? 0.0 : static_cast<double>(true_positives) / static_cast<double>(found);
}

double SpanCounts::recall() const {
  const auto labelled = true_positives + false_negatives;
  return labelled == 0 ? 0.0 : static_cast<double>(true_positives) / static_cast<double>(labelled);
}

double SpanCounts::f2() const {
  const double p = precision();
  const double r = recall();
  return p + r == 0 ? 0.0 : 5 * p * r / (4 * p + r);
}

std::string_view match_rule_name(MatchRule rule) {
  switch (rule) {
    case MatchRule::kIou:
      return "iou>=0.5";
    case MatchRule::kExact:
      return "exact";
    case MatchRule::kToken:
      return "token";
  }
  return "?";
}

PiiScores evaluate_pii(const LabelledSet& data, const std::function<std::vector<Entity>(std::string_view)>& detect,
                       MatchRule rule) {
  PiiScores scores;
  for (const auto& item : data.texts) {
    ++scores.texts;
    const std::vector<Entity> detected = detect(item.text);
    if (rule == MatchRule::kToken) {
      count_tokens(item, detected, scores);
    } else {
      count_spans(item, detected, rule == MatchRule::kExact, scores);
    }
  }
  for (const auto& [type, counts] : scores.by_type) {
    scores.overall.true_positives += counts.true_positives;
    scores.overall.false_positives += counts.false_positives;
    scores.overall.false_negatives += counts.false_negatives;
  }
  return scores;
}

}  // namespace tandem::privacy
