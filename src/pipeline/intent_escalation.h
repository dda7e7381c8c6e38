// Small + large model intent understanding: when the local classifier is unsure, the large
// model classifies the request, constrained to the label set by a JSON schema; its answer is used
// and appended to a JSON Lines file of learned examples, so that retraining the small model on
// them (`tandem router train-intents --data defaults.jsonl --data learned.jsonl`) teaches it what
// the large one knew.
// Thread-safety: the free functions are pure; LearnedExamples may be appended from any thread.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "providers/provider.h"

namespace tandem::pipeline {

// A deterministic request whose answer must be {"label": <one of labels>}.
providers::ChatRequest classification_request(const std::string& text, const std::vector<std::string>& labels);

// The label of such an answer, if it names one of `labels` (servers that ignore the schema may
// wrap the JSON in prose: the first {...} is read).
std::optional<std::string> parse_classification(const std::string& answer, const std::vector<std::string>& labels);

class LearnedExamples {
 public:
  explicit LearnedExamples(std::string path) : path_(std::move(path)) {}
  // Appends {"text", "label"} as one line; creates the file and its folder.
  Status append(const std::string& text, const std::string& label);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::mutex mutex_;
};

}  // namespace tandem::pipeline
