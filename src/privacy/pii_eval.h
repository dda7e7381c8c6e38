// Scores PII detectors on a labelled set in Presidio's format: a JSON list of
// {full_text, spans: [{entity_type, start_position, end_position}]}, positions in code points.
//
//   auto data = privacy::load_presidio_dataset(path, privacy::EvalSplit::kTest);
//   if (!data) return data.error();
//   auto scores = privacy::evaluate_pii(*data, [&](std::string_view t) { return scanner.scan(t); });
//   print(scores.overall.f2());   // MatchRule::kIou unless told
//
// Presidio's type names map to ours (presidio_entity_type; a type Presidio has no name for goes
// by ours upper-cased, e.g. CN_RESIDENT_ID); the labels we have no detector for
// (TITLE, PREFIX, DOMAIN_NAME, US_DRIVER_LICENSE, ...) are left out of the score, and a detection
// that overlaps such a label counts neither way. Three ways to match:
//   kIou    a detection is correct when its type matches a label's and the spans overlap by at
//           least half of their union (IoU >= 0.5, after trimming spaces and punctuation);
//   kExact  only identical spans (after the same trimming);
//   kToken  every word (a run of letters and digits) is one decision: its label's type or none
//           against the type of the detection covering it, as presidio-research's evaluator
//           counts; a whole address found as one span then scores its words even where the
//           labels split it into pieces.
// Splits: the labelled set's items with index % 4 == 0 are the held-out test split; the rest are
// for tuning (dev).
// Thread-safety: free functions over values; `detect` is called on the calling thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "privacy/pii.h"

namespace tandem::privacy {

enum class EvalSplit { kAll, kDev, kTest };

struct LabelledText {
  std::string text;
  std::vector<Entity> labels;   // mapped to our types, byte offsets
  std::vector<Entity> ignored;  // labels of types we do not detect (their type field is unused)
  int64_t template_id = -1;     // the generator's template, where the set records one
};

struct LabelledSet {
  std::vector<LabelledText> texts;
  std::map<std::string, int64_t> unmapped_labels;  // Presidio type -> labels left out of the score
};

std::optional<EntityType> presidio_entity_type(std::string_view presidio_name);
Result<LabelledSet> load_presidio_dataset(const std::string& path, EvalSplit split);

struct SpanCounts {
  int64_t true_positives = 0;
  int64_t false_positives = 0;
  int64_t false_negatives = 0;
  double precision() const;
  double recall() const;
  double f2() const;  // recall weighted: (1 + 4) P R / (4 P + R)
};

struct PiiScores {
  std::map<EntityType, SpanCounts> by_type;  // types with a label or a detection
  SpanCounts overall;
  int64_t texts = 0;
};

enum class MatchRule { kIou, kExact, kToken };
std::string_view match_rule_name(MatchRule rule);  // "iou>=0.5", "exact", "token"

PiiScores evaluate_pii(const LabelledSet& data, const std::function<std::vector<Entity>(std::string_view)>& detect,
                       MatchRule rule = MatchRule::kIou);

}  // namespace tandem::privacy
