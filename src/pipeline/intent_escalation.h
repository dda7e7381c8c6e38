// Small + large model intent understanding: when the local classifier is unsure, the large
// model classifies the request, constrained to the label set by a JSON schema; its answer is used
// and appended to a JSON Lines file of learned examples, so that retraining the small model on
// them (`tandem router train-intents --data defaults.jsonl --data learned.jsonl`) teaches it what
// the large one knew.
// Thread-safety: the free functions are pure; LearnedExamples may be appended from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "privacy/sealed_file.h"
#include "providers/provider.h"

namespace tandem::pipeline {

// A deterministic request whose answer must be {"label": <one of labels>}.
providers::ChatRequest classification_request(const std::string& text, const std::vector<std::string>& labels);

// The label of such an answer, if it names one of `labels` (servers that ignore the schema may
// wrap the JSON in prose: the first {...} is read).
std::optional<std::string> parse_classification(const std::string& answer, const std::vector<std::string>& labels);

// The learned examples file: JSON Lines, or with `key` (the keyring's "router" data key) a sealed
// record log (privacy/sealed_file.h) that `tandem router train-intents` reads with the same key.
class LearnedExamples {
 public:
  explicit LearnedExamples(std::string path, std::optional<privacy::Key> key = std::nullopt)
      : path_(std::move(path)), key_(std::move(key)) {}
  // Appends {"text", "label"} as one record (write + fdatasync); creates the file and its folder.
  Status append(const std::string& text, const std::string& label);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::optional<privacy::Key> key_;
  std::mutex mutex_;
  std::unique_ptr<privacy::RecordLog> log_;  // opened on the first append
};

}  // namespace tandem::pipeline
